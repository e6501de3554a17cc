//! `--resume FILE` against edited, planted and oversized files (loopback connect scans only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ARGS: &[&str] = &[
    "scan",
    "127.0.0.1",
    "-p",
    "1-300",
    "--connect",
    "-q",
    "--seed",
    "3",
];

/// A resume file of a real scan: started at one probe a second, killed once its file exists.
fn resume_file(path: &Path) -> serde_json::Value {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("portolan"))
        .args(ARGS)
        .args(["--max-rate", "1", "--resume"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rerun(path: &Path) -> (i32, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("portolan"))
        .args(ARGS)
        .arg("--resume")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_edited_resume_file_is_refused_before_any_probe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.resume");
    let orig = resume_file(&path);
    for (field, value, says) in [
        ("next", serde_json::json!(1_000_000), "past the end"),
        ("total", serde_json::json!(3), "edited"),
        ("seed", serde_json::json!(4), "edited"),
        (
            "shard",
            serde_json::json!({"index": 1, "count": 2}),
            "edited",
        ),
    ] {
        let mut v = orig.clone();
        v[field] = value;
        std::fs::write(&path, v.to_string()).unwrap();
        let (code, err) = rerun(&path);
        assert_eq!(code, 2, "{field}: {err}");
        assert!(err.contains(says), "{field}: {err}");
        // The file is left as it was, for the user to look at.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), v.to_string());
    }
    // The file as written resumes and finishes (and is removed).
    std::fs::write(&path, orig.to_string()).unwrap();
    let (code, err) = rerun(&path);
    assert_eq!(code, 0, "{err}");
    assert!(!path.exists());
}

#[test]
fn an_oversized_resume_file_is_refused_saying_which_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.resume");
    std::fs::write(&path, vec![b' '; 17 << 20]).unwrap();
    let (code, err) = rerun(&path);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the limit for a resume file"), "{err}");
}

#[test]
fn saving_the_resume_file_does_not_follow_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.resume");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("scan.tmp-resume")).unwrap();
    let (code, err) = rerun(&path);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
