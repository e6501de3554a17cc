//! Signals are caught once, here, for the commands that do long work (`scan`, `service`, a live
//! `detect`); no other code of the binary installs a signal handler (a test below checks).
//!
//! The first SIGINT or SIGTERM asks the work to stop gracefully (finish what is in hand, save
//! the state; a live capture stops and prints its summary); the second to stop at once, saving
//! what was found; a third exits immediately with status 130.

use anyhow::{Context, Result};
use portolan_model::Stop;

/// Start watching SIGINT and SIGTERM for `stop`.
pub fn catch(stop: Stop) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal watcher")?;
    // Register the handlers now, on this thread, so that no signal is missed once `catch`
    // returns.
    let (mut int, mut term) = {
        let _guard = rt.enter();
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
        )
    };
    std::thread::Builder::new()
        .name("portolan-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut count = 0u32;
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    count += 1;
                    match count {
                        1 => {
                            stop.request();
                            say("portolan: stopping: finishing what is in hand and saving \
                                 (again to stop at once)");
                        }
                        2 => {
                            stop.request_now();
                            say("portolan: stopping now, saving what was found");
                        }
                        _ => std::process::exit(130),
                    }
                }
            })
        })
        .context("cannot start the signal watcher")?;
    Ok(())
}

/// Tell the user on standard error; a closed standard error must not end the watcher (as
/// `eprintln!`'s panic would: later signals would then be swallowed).
fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[cfg(test)]
mod tests {
    /// Ways to install a signal handler; none may appear in the binary's code outside this file.
    const INSTALLERS: [&str; 6] = [
        "signal_hook",
        "tokio::signal",
        "libc::signal",
        "sigaction",
        "ctrlc::",
        "SignalKind::",
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn signal_handlers_are_installed_in_this_file_only() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(
            files.len() > 5,
            "the binary's sources were found: {files:?}"
        );
        let this = src.join("signals.rs");
        let mut found = Vec::new();
        for f in files.iter().filter(|f| **f != this) {
            let text = std::fs::read_to_string(f).unwrap();
            for (n, line) in text.lines().enumerate() {
                if INSTALLERS.iter().any(|i| line.contains(i)) {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "signal handlers installed outside signals.rs (use signals::catch and a Stop): {found:#?}"
        );
    }
}
