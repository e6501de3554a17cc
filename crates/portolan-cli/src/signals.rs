//! Signals are caught once, here, for the commands that do long work (`scan`, `service`).
//!
//! The first SIGINT or SIGTERM asks the work to stop gracefully (finish what is in hand, save
//! the state); the second to stop at once, saving what was found; a third exits immediately
//! with status 130.

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
                            eprintln!(
                                "portolan: stopping: finishing what is in hand and saving \
                                 (again to stop at once)"
                            );
                        }
                        2 => {
                            stop.request_now();
                            eprintln!("portolan: stopping now, saving what was found");
                        }
                        _ => std::process::exit(130),
                    }
                }
            })
        })
        .context("cannot start the signal watcher")?;
    Ok(())
}
