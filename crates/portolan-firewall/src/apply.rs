//! Applying an nftables script without locking the host out: snapshot the current ruleset,
//! prove the snapshot can be restored, apply the script (one `nft -f` transaction), and restore
//! the snapshot (one transaction: `flush ruleset` and the old ruleset) unless the change is
//! confirmed. The waiting and confirming belong to the caller (`portolan firewall apply`).

use std::path::Path;
use std::process::Command;

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot run nft ({0}): install nftables")]
    NoNft(String),
    #[error("`nft {args}` failed: {stderr}")]
    Nft { args: String, stderr: String },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: String },
}

fn nft(args: &[&str]) -> Result<String, ApplyError> {
    let out = Command::new("nft")
        .args(args)
        .output()
        .map_err(|e| ApplyError::NoNft(e.to_string()))?;
    if !out.status.success() {
        return Err(ApplyError::Nft {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `nft -c -f path`: would the script load?
pub fn check(path: &Path) -> Result<(), ApplyError> {
    nft(&["-c", "-f", &path.to_string_lossy()]).map(|_| ())
}

/// `nft -f path`: load the script (one transaction).
pub fn load(path: &Path) -> Result<(), ApplyError> {
    nft(&["-f", &path.to_string_lossy()]).map(|_| ())
}

/// Write the rollback script for the current ruleset to `path` (`flush ruleset` followed by
/// `nft list ruleset`) and check that it loads (`nft -c`); a ruleset that cannot be restored
/// (e.g. tables of iptables-nft using xtables matches) is an error before anything changes.
pub fn snapshot(path: &Path) -> Result<(), ApplyError> {
    let current = nft(&["list", "ruleset"])?;
    let script = format!(
        "# portolan firewall apply: the ruleset before the change; restore with nft -f\nflush ruleset\n{current}"
    );
    std::fs::write(path, script).map_err(|e| ApplyError::Write {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    check(path).map_err(|e| match e {
        ApplyError::Nft { stderr, .. } => ApplyError::Nft {
            args: format!("-c -f {} (the rollback snapshot)", path.display()),
            stderr: format!(
                "{stderr}: the current ruleset could not be restored after a failed change, so nothing was applied"
            ),
        },
        e => e,
    })
}
