//! Helpers shared by the CLI's integration tests: the `portolan` binary to run, whether this is
//! CI (where a test that cannot run fails instead of skipping) and whether we are root; the
//! namespace labs ([`lab`], [`scanlab`]) and nmap's XML tools ([`nmapxml`]).
#![allow(dead_code)] // each test binary uses some of these

pub mod lab;
pub mod nmapxml;
pub mod scanlab;

/// The `portolan` binary as a `std::process::Command` (to spawn, pipe or signal it), kept from
/// the developer's environment: no registry copy refreshed into the home directory
/// (`PORTOLAN_DATA_DIR` points nowhere) and no `NO_COLOR` (colour follows the terminal and
/// `--color`).
pub fn portolan_command() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("portolan"));
    c.env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .env_remove("NO_COLOR");
    c
}

/// [`portolan_command`] as an `assert_cmd::Command`, for `.assert()`.
pub fn portolan() -> assert_cmd::Command {
    assert_cmd::Command::from_std(portolan_command())
}

/// Whether this runs under CI (`CI=true` or `CI=1`): a test that cannot run fails there
/// instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
