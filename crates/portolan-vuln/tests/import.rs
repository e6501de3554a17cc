//! Importing: incremental updates, `.gz`, directories, caps, and configurations evaluated in
//! three-valued logic (AND with an unobserved platform).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portolan_vuln::cpe::CpeName;
use portolan_vuln::db::{SqliteStore, VulnStore};
use portolan_vuln::import::{import_file, import_paths, ImportError, Limits, LIMITS};
use portolan_vuln::matcher::{Aliases, Applicability, Detected, Matcher};
use std::io::Write;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("v.sqlite3")).unwrap()
}

fn record(id: &str, modified: &str, end_excluding: &str) -> String {
    format!(
        r#"{{"id":"{id}","lastModified":"{modified}","vulnStatus":"Analyzed","descriptions":[{{"lang":"en","value":"x"}}],"metrics":{{}},
        "configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"{end_excluding}"}}]}}]}}]}}"#
    )
}

fn affected(s: &SqliteStore, cpe: &str) -> Vec<String> {
    Matcher::new(s, Aliases::builtin())
        .match_detected(&Detected::from_cpe(&CpeName::parse(cpe).unwrap()))
        .unwrap()
        .into_iter()
        .map(|f| f.cve)
        .collect()
}

#[test]
fn a_newer_last_modified_replaces_an_older_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let f = dir.path().join("a.json");
    std::fs::write(
        &f,
        record("CVE-2099-0001", "2024-01-01T00:00:00.000", "2.0"),
    )
    .unwrap();
    let r = import_file(&mut s, &f, LIMITS).unwrap();
    assert_eq!(r.cves.added, 1);
    assert_eq!(affected(&s, "cpe:/a:acme:widget:1.5"), ["CVE-2099-0001"]);
    assert!(affected(&s, "cpe:/a:acme:widget:2.5").is_empty());

    // Newer: the range grows to < 3.0, and the old index rows go.
    std::fs::write(
        &f,
        record("CVE-2099-0001", "2024-06-01T00:00:00.000", "3.0"),
    )
    .unwrap();
    let r = import_file(&mut s, &f, LIMITS).unwrap();
    assert_eq!((r.cves.added, r.cves.updated), (0, 1));
    assert_eq!(affected(&s, "cpe:/a:acme:widget:2.5"), ["CVE-2099-0001"]);

    // Older (and equal): ignored.
    for m in ["2023-01-01T00:00:00.000", "2024-06-01T00:00:00.000"] {
        std::fs::write(&f, record("CVE-2099-0001", m, "1.0")).unwrap();
        let r = import_file(&mut s, &f, LIMITS).unwrap();
        assert_eq!(r.cves.unchanged, 1);
    }
    assert_eq!(affected(&s, "cpe:/a:acme:widget:2.5"), ["CVE-2099-0001"]);
    assert_eq!(s.stats().unwrap().cves, 1);
}

#[test]
fn gzip_pages_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(feeds.join("sub")).unwrap();
    let page = format!(
        r#"{{"resultsPerPage":2,"startIndex":0,"totalResults":2,"format":"NVD_CVE","version":"2.0","timestamp":"2024-01-01T00:00:00.000","vulnerabilities":[{{"cve":{}}},{{"cve":{}}}]}}"#,
        record("CVE-2099-0001", "2024-01-01T00:00:00.000", "2.0"),
        record("CVE-2099-0002", "2024-01-01T00:00:00.000", "1.0")
    );
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(feeds.join("sub/page.json.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(page.as_bytes()).unwrap();
    gz.finish().unwrap();
    let epss = std::fs::read(data("epss_scores_excerpt.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(feeds.join("epss.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&epss).unwrap();
    gz.finish().unwrap();
    std::fs::write(feeds.join("notes.txt"), "ignored").unwrap();
    std::fs::write(feeds.join(".hidden.json"), "ignored").unwrap();
    let reports = import_paths(&mut s, &[feeds], LIMITS, &mut |_| {}).unwrap();
    assert_eq!(reports.len(), 2);
    let st = s.stats().unwrap();
    assert_eq!((st.cves, st.epss), (2, 2));
}

#[test]
fn inputs_are_capped_and_must_be_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let f = dir.path().join("big.json");
    std::fs::write(
        &f,
        record("CVE-2099-0001", "2024-01-01T00:00:00.000", "2.0"),
    )
    .unwrap();
    let tiny = Limits {
        nvd: 100,
        kev: 100,
        epss: 100,
    };
    let e = import_file(&mut s, &f, tiny).unwrap_err();
    assert!(matches!(e, ImportError::TooLarge { .. }), "{e}");
    let e = import_file(&mut s, Path::new("/dev/zero"), LIMITS).unwrap_err();
    assert!(matches!(e, ImportError::NotAFile { .. }), "{e}");
    // A gzip bomb stops at the cap of decompressed bytes.
    let bomb = dir.path().join("bomb.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&bomb).unwrap(),
        flate2::Compression::best(),
    );
    gz.write_all(b"[").unwrap();
    gz.write_all(&vec![b' '; 1 << 20]).unwrap();
    gz.finish().unwrap();
    let e = import_file(
        &mut s,
        &bomb,
        Limits {
            nvd: 1 << 16,
            ..LIMITS
        },
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::TooLarge { .. }), "{e}");
    assert_eq!(s.stats().unwrap().cves, 0);
}

#[test]
fn and_with_an_unobserved_platform_is_conditional_and_negate_inverts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let f = dir.path().join("and.json");
    let rec = r#"{"vulnerabilities":[
      {"cve":{"id":"CVE-2099-0010","lastModified":"2024-01-01T00:00:00.000","vulnStatus":"Analyzed","descriptions":[],"metrics":{},
        "configurations":[{"operator":"AND","nodes":[
          {"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:acme:agent:*:*:*:*:*:*:*:*","versionEndIncluding":"4.0"}]},
          {"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":false,"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"}]}]}]}},
      {"cve":{"id":"CVE-2099-0011","lastModified":"2024-01-01T00:00:00.000","vulnStatus":"Analyzed","descriptions":[],"metrics":{},
        "configurations":[{"operator":"AND","nodes":[
          {"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:acme:agent:*:*:*:*:*:*:*:*"}]},
          {"operator":"OR","negate":true,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:acme:agent:3.0:*:*:*:*:*:*:*"}]}]}]}}
    ]}"#;
    std::fs::write(&f, rec).unwrap();
    import_file(&mut s, &f, LIMITS).unwrap();
    let m = Matcher::new(&s, Aliases::builtin());
    let get = |v: &str| {
        m.match_detected(&Detected::from_cpe(
            &CpeName::parse(&format!("cpe:/a:acme:agent:{v}")).unwrap(),
        ))
        .unwrap()
    };
    let f = get("3.0");
    // 0010: the agent matches, Windows is not observed: conditional, and says so.
    let c = f.iter().find(|f| f.cve == "CVE-2099-0010").unwrap();
    assert_eq!(c.applicability, Applicability::Conditional);
    assert!(c.confidence < 100);
    assert!(c.reasons.iter().any(|r| r.contains("microsoft:windows")));
    // 0011: every version but 3.0.
    assert!(f.iter().all(|f| f.cve != "CVE-2099-0011"));
    let f = get("3.1");
    assert!(f
        .iter()
        .any(|f| f.cve == "CVE-2099-0011" && f.applicability == Applicability::Affected));
    // The platform itself is never the product.
    let w = m
        .match_detected(&Detected::from_cpe(
            &CpeName::parse("cpe:/o:microsoft:windows:10").unwrap(),
        ))
        .unwrap();
    assert!(w.is_empty());
    assert!(get("4.1").iter().all(|f| f.cve != "CVE-2099-0010"));
}
