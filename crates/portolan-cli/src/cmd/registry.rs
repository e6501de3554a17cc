//! `portolan registry`: show where the port registry comes from, and refresh it from IANA.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use portolan_registry::{user_data_dir, Protocol, Registry, Source, USER_FILE};

use super::outfile;
use crate::term::Style;

/// What `portolan registry show` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document: source, record counts per protocol, schema_version.
    Json,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// IANA's published CSV export of the registry.
pub const IANA_URL: &str =
    "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv";

/// Largest registry download accepted (the real one is about 1 MiB).
const MAX_BYTES: u64 = portolan_registry::CSV_LIMIT.max_bytes;

const EXAMPLES: &str = "\
Examples:
  portolan registry show
  portolan registry show --format json           source and counts, as JSON
  portolan registry update                       fetch IANA's current CSV
  portolan registry update --from ./service-names-port-numbers.csv
  portolan registry reset                        go back to the built-in copy";

#[derive(clap::Subcommand, Debug)]
#[command(after_help = EXAMPLES)]
pub enum RegistryCmd {
    /// Which registry is in use, and how many records it holds per protocol.
    Show {
        #[command(flatten)]
        out: outfile::OutputArgs<Format>,
    },
    /// Refresh the registry from IANA's CSV (or a file), validated before it replaces anything.
    #[command(after_help = EXAMPLES)]
    Update {
        /// A local file or an http(s) URL of the CSV export. Default: IANA's published copy.
        #[arg(long, value_name = "FILE|URL")]
        from: Option<String>,
        /// Directory to store the copy in (default: $PORTOLAN_DATA_DIR, $XDG_DATA_HOME/portolan
        /// or ~/.local/share/portolan).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Remove the refreshed copy and use the built-in registry again.
    Reset {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    explicit
        .or_else(user_data_dir)
        .context("no data directory: set PORTOLAN_DATA_DIR or HOME, or pass --data-dir")
}

fn counts(reg: &Registry) -> String {
    let mut parts = Vec::new();
    for p in Protocol::ALL {
        let n = reg.iter().filter(|e| e.protocol() == Some(p)).count();
        parts.push(format!("{n} {p}"));
    }
    let none = reg.iter().filter(|e| e.protocol().is_none()).count();
    parts.push(format!("{none} without protocol"));
    format!("{} records: {}", reg.len(), parts.join(", "))
}

fn fetch(from: &str) -> Result<String> {
    if from.starts_with("http://") || from.starts_with("https://") {
        let resp = ureq::get(from)
            .timeout(std::time::Duration::from_secs(60))
            .call()
            .with_context(|| format!("downloading {from} failed; check the address and your connection, or use --from FILE"))?;
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_BYTES + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading the download from {from}"))?;
        if body.len() as u64 > MAX_BYTES {
            bail!(
                "{from} is larger than {} MiB: not the IANA registry",
                MAX_BYTES >> 20
            );
        }
        String::from_utf8(body).with_context(|| format!("{from} is not UTF-8 text"))
    } else {
        Ok(portolan_registry::input::read_bounded_string(
            Path::new(from),
            portolan_registry::CSV_LIMIT,
        )?)
    }
}

pub fn run(cmd: RegistryCmd, style: Style) -> Result<ExitCode> {
    match cmd {
        RegistryCmd::Show { out } => {
            let outputs = out.prepare()?;
            let reg = super::port::load_registry()?;
            let render = |format: Format, style: Style| -> Result<String> {
                Ok(match format {
                    Format::Json => {
                        let mut by_protocol = serde_json::Map::new();
                        for p in Protocol::ALL {
                            let n = reg.iter().filter(|e| e.protocol() == Some(p)).count();
                            by_protocol.insert(p.to_string(), n.into());
                        }
                        let doc = serde_json::json!({
                            "schema_version": outfile::SCHEMA_VERSION,
                            "source": match reg.source() {
                                Source::Embedded => "built-in".to_string(),
                                Source::File(p) => p.display().to_string(),
                            },
                            "records": reg.len(),
                            "by_protocol": by_protocol,
                            "without_protocol":
                                reg.iter().filter(|e| e.protocol().is_none()).count(),
                        });
                        serde_json::to_string_pretty(&doc)? + "\n"
                    }
                    Format::Table => {
                        let src = match reg.source() {
                            Source::Embedded => {
                                "built-in copy (compiled into portolan)".to_string()
                            }
                            Source::File(p) => {
                                format!(
                                    "refreshed copy {}",
                                    crate::term::escape(&p.display().to_string())
                                )
                            }
                        };
                        format!(
                            "{} {src}\n{} {}\n",
                            style.bold("registry:"),
                            style.bold("contents:"),
                            counts(&reg)
                        )
                    }
                })
            };
            for o in outputs {
                let text = render(o.format, Style { enabled: false })?;
                o.commit(text.as_bytes())?;
            }
            crate::term::print_out(&render(out.stdout_format(), style)?)?;
            Ok(ExitCode::SUCCESS)
        }
        RegistryCmd::Update {
            from,
            data_dir: dir,
        } => {
            let from = from.unwrap_or_else(|| IANA_URL.to_string());
            let dir = data_dir(dir)?;
            let text = fetch(&from)?;
            // Validate before anything on disk changes.
            let target = dir.join(USER_FILE);
            let new = Registry::from_csv(&text, Path::new(&from)).with_context(|| {
                format!("{from} was rejected; the registry in use was not changed")
            })?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let tmp = dir.join(format!(".{USER_FILE}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, &text)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &target).with_context(|| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot replace {}", target.display())
            })?;
            let old = Registry::embedded();
            println!(
                "{} {} from {from}",
                style.green("updated:"),
                target.display()
            );
            println!("{} {}", style.bold("new:     "), counts(&new));
            println!("{} {}", style.bold("built-in:"), counts(old));
            Ok(ExitCode::SUCCESS)
        }
        RegistryCmd::Reset { data_dir: dir } => {
            let target = data_dir(dir)?.join(USER_FILE);
            match std::fs::remove_file(&target) {
                Ok(()) => println!("removed {}; using the built-in registry", target.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    println!(
                        "no refreshed copy at {}; already using the built-in registry",
                        target.display()
                    )
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", target.display()))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
