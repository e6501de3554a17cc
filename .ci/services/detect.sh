# portolan detect: RustScan is one of the scanners the lab test records. It is not packaged in
# Debian; build it from crates.io (a few minutes) when missing. Failure only skips that one scan.
if ! command -v rustscan >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/rustscan" ]; then
  timeout 900 cargo install --locked rustscan >/dev/null 2>&1 || echo "ci: rustscan could not be built; the lab test will skip it"
fi
if [ -x "$HOME/.cargo/bin/rustscan" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
true
