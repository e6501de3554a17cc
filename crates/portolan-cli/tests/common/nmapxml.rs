//! nmap's own tools on our nmap XML: `xmllint --dtdvalid` with the nmap.dtd an nmap install ships,
//! and `xsltproc` with its nmap.xsl (the HTML report). Skipped with a note outside CI when they
//! are missing; required under CI (`.ci/apt/scan.txt` installs nmap, libxml2-utils, xsltproc).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const DTD: &str = "/usr/share/nmap/nmap.dtd";
const XSL: &str = "/usr/share/nmap/nmap.xsl";

fn have(tool: &str, file: &str) -> bool {
    let ok = Path::new(file).exists() && Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} and {file} are required under CI");
        }
        eprintln!("SKIP: {tool} or {file} missing: nmap XML not checked with it");
    }
    ok
}

/// `xml` is valid against nmap.dtd, and nmap.xsl renders it to HTML that names every port of
/// `must_show`.
pub fn check(xml: &Path, must_show: &[u16]) {
    if have("xmllint", DTD) {
        let o = Command::new("xmllint")
            .args(["--noout", "--dtdvalid", DTD])
            .arg(xml)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{} is not valid against {DTD}:\n{}",
            xml.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    if have("xsltproc", XSL) {
        let o = Command::new("xsltproc").arg(XSL).arg(xml).output().unwrap();
        assert!(
            o.status.success(),
            "nmap.xsl failed on {}:\n{}",
            xml.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let html = String::from_utf8_lossy(&o.stdout);
        assert!(html.contains("<html"), "no HTML from nmap.xsl");
        for p in must_show {
            assert!(
                html.contains(&format!(">{p}<")),
                "port {p} missing from nmap.xsl's report"
            );
        }
    }
}
