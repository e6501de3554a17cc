//! Every expected (version, CVE) outcome of the real NVD records in `tests/data/` (see
//! `tests/data/SOURCES.md`, copied from the project's shared data): affected and not affected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portolan_vuln::cpe::CpeName;
use portolan_vuln::db::{SqliteStore, VulnStore};
use portolan_vuln::import::{import_paths, Kind, LIMITS};
use portolan_vuln::matcher::{Aliases, Applicability, Detected, Matcher, VersionSource};
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    let mut s = SqliteStore::open(&dir.path().join("v.sqlite3")).unwrap();
    let reports = import_paths(&mut s, &[data()], LIMITS, &mut |_| {}).unwrap();
    let kinds: Vec<Kind> = reports.iter().map(|r| r.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Nvd).count(), 17);
    assert!(kinds.contains(&Kind::KevCsv) && kinds.contains(&Kind::KevJson));
    assert!(kinds.contains(&Kind::Epss));
    s
}

fn given(cpe: &str) -> Detected {
    Detected::from_cpe(&CpeName::parse(cpe).unwrap())
}

/// The applicability of `cve` for `cpe` (None: not reported).
fn outcome(m: &Matcher, cpe: &str, cve: &str) -> Option<Applicability> {
    m.match_detected(&given(cpe))
        .unwrap()
        .into_iter()
        .find(|f| f.cve == cve)
        .map(|f| f.applicability)
}

const AFFECTED: Option<Applicability> = Some(Applicability::Affected);

#[test]
fn every_expected_outcome_holds() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let m = Matcher::new(&s, Aliases::builtin());
    let vsftpd = |v: &str| format!("cpe:/a:vsftpd_project:vsftpd:{v}");
    let nginx = |v: &str| format!("cpe:/a:f5:nginx:{v}");
    let openssh = |v: &str| format!("cpe:/a:openbsd:openssh:{v}");
    let redis = |v: &str| format!("cpe:/a:redis:redis:{v}");
    let dovecot = |v: &str| format!("cpe:/a:dovecot:dovecot:{v}");
    // (cpe, cve, expected): bookworm versions first, then the "would be" versions.
    let cases: Vec<(String, &str, Option<Applicability>)> = vec![
        (vsftpd("3.0.3"), "CVE-2015-1419", None),
        (vsftpd("3.0.2"), "CVE-2015-1419", AFFECTED),
        (vsftpd("3.0.3"), "CVE-2021-3618", AFFECTED),
        (vsftpd("3.0.4"), "CVE-2021-3618", None),
        (nginx("1.22.1"), "CVE-2021-3618", None),
        (nginx("1.20.2"), "CVE-2021-3618", AFFECTED),
        (nginx("1.22.1"), "CVE-2021-23017", None),
        (nginx("1.20.0"), "CVE-2021-23017", AFFECTED),
        (nginx("0.6.17"), "CVE-2021-23017", None),
        (
            vsftpd("3.0.3"),
            "CVE-2021-30047",
            Some(Applicability::Unknown),
        ),
        (redis("7.0.15"), "CVE-2022-24834", None),
        (redis("7.0.11"), "CVE-2022-24834", AFFECTED),
        (dovecot("2.3.19.1"), "CVE-2022-30550", AFFECTED),
        (dovecot("2.2"), "CVE-2022-30550", AFFECTED),
        (dovecot("2.4.0"), "CVE-2022-30550", None),
        (nginx("1.22.1"), "CVE-2022-41741", None),
        (nginx("1.22.0"), "CVE-2022-41741", AFFECTED),
        (nginx("1.23.1"), "CVE-2022-41741", AFFECTED),
        (nginx("1.23.2"), "CVE-2022-41741", None),
        (openssh("9.2p1"), "CVE-2023-25136", None),
        (openssh("9.1p1"), "CVE-2023-25136", AFFECTED),
        (openssh("9.2p1"), "CVE-2023-28531", AFFECTED),
        (openssh("9.3p1"), "CVE-2023-28531", None),
        (redis("7.0.15"), "CVE-2023-28856", None),
        (redis("7.0.10"), "CVE-2023-28856", AFFECTED),
        (openssh("9.2p1"), "CVE-2023-38408", AFFECTED),
        (openssh("9.3p1"), "CVE-2023-38408", AFFECTED),
        (openssh("9.3p2"), "CVE-2023-38408", None),
        (redis("7.0.15"), "CVE-2023-41053", None),
        (redis("7.0.11"), "CVE-2023-41053", AFFECTED),
        (redis("7.2.0-rc2"), "CVE-2023-41053", AFFECTED),
        (redis("7.0.15"), "CVE-2023-45145", None),
        (redis("7.0.11"), "CVE-2023-45145", AFFECTED),
        (openssh("9.2p1"), "CVE-2023-51384", AFFECTED),
        (openssh("9.6p1"), "CVE-2023-51384", None),
        (openssh("9.2p1"), "CVE-2023-51385", AFFECTED),
        (openssh("9.2p1"), "CVE-2024-6387", AFFECTED),
        (openssh("8.5p1"), "CVE-2024-6387", AFFECTED),
        (openssh("8.5p2"), "CVE-2024-6387", None),
        (openssh("4.4p1"), "CVE-2024-6387", None),
        (openssh("4.3p2"), "CVE-2024-6387", AFFECTED),
        (openssh("9.8p1"), "CVE-2024-6387", None),
        // The product rename: the probe's CPE is f5:nginx, the record's f5:nginx_open_source.
        (nginx("1.22.1"), "CVE-2024-7347", AFFECTED),
        (nginx("1.26.2"), "CVE-2024-7347", None),
        // The CPE 2.3 form with OpenSSH's update in its own attribute.
        (
            "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*".to_string(),
            "CVE-2024-6387",
            AFFECTED,
        ),
        (
            "cpe:2.3:a:openbsd:openssh:9.1:p1:*:*:*:*:*:*".to_string(),
            "CVE-2023-25136",
            AFFECTED,
        ),
    ];
    let mut wrong = Vec::new();
    for (cpe, cve, want) in &cases {
        let got = outcome(&m, cpe, cve);
        if got != *want {
            wrong.push(format!("{cpe} {cve}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "wrong outcomes:\n{}", wrong.join("\n"));
}

#[test]
fn platforms_and_products_never_confused() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let m = Matcher::new(&s, Aliases::builtin());
    // `vulnerable: false` hardware in CVE-2023-25136 is a platform, never the product.
    for cpe in [
        "cpe:2.3:h:netapp:a250:-:*:*:*:*:*:*:*",
        "cpe:2.3:h:netapp:a250:1.0:*:*:*:*:*:*:*",
    ] {
        assert!(m.match_detected(&given(cpe)).unwrap().is_empty(), "{cpe}");
    }
    // A product of another vendor with the same name does not match.
    assert!(m
        .match_detected(&given("cpe:/a:other:openssh:9.2p1"))
        .unwrap()
        .is_empty());
    // No version, no claim.
    assert!(m
        .match_detected(&given("cpe:/a:openbsd:openssh"))
        .unwrap()
        .is_empty());
    // NGINX Plus ranges (r22-r27) never match an open-source version number.
    let f = m.match_detected(&given("cpe:/a:f5:nginx:1.22.0")).unwrap();
    let f = f.iter().find(|f| f.cve == "CVE-2022-41741").unwrap();
    assert_eq!(
        f.range,
        "f5:nginx <= 1.22.0 (open_source)".replace("<= 1.22.0", ">= 1.1.3, <= 1.22.0")
    );
}

#[test]
fn findings_carry_scores_kev_epss_and_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let m = Matcher::new(&s, Aliases::builtin());
    let f = m
        .match_detected(&given("cpe:/a:openbsd:openssh:9.2p1"))
        .unwrap();
    let ids: Vec<&str> = f.iter().map(|f| f.cve.as_str()).collect();
    assert_eq!(
        ids.len(),
        5,
        "CVE-2023-28531, -38408, -51384, -51385, CVE-2024-6387: {ids:?}"
    );
    let c = f.iter().find(|f| f.cve == "CVE-2023-28531").unwrap();
    assert_eq!(c.range, "openbsd:openssh >= 8.9, < 9.3");
    assert_eq!(c.cvss_v31.as_ref().map(|c| c.score), Some(9.8));
    let e = c.epss.as_ref().unwrap();
    assert_eq!((e.score, e.percentile), (0.02267, 0.8236));
    assert_eq!(c.confidence, 100);
    assert!(c.kev.is_none());

    // The renamed nginx record has CVSS v4.0 too.
    let f = m.match_detected(&given("cpe:/a:f5:nginx:1.22.1")).unwrap();
    let n = f.iter().find(|f| f.cve == "CVE-2024-7347").unwrap();
    assert!(n.cvss_v40.is_some() && n.cvss_v31.is_some());
    assert_eq!(n.product, "f5:nginx_open_source");

    // The record awaiting analysis: unknown applicability, low confidence, says why.
    let f = m
        .match_detected(&given("cpe:/a:vsftpd_project:vsftpd:3.0.3"))
        .unwrap();
    let u = f.iter().find(|f| f.cve == "CVE-2021-30047").unwrap();
    assert_eq!(u.applicability, Applicability::Unknown);
    assert!(u.score.is_none());
    assert_eq!(u.confidence, 20);
    assert!(
        u.reasons
            .iter()
            .any(|r| r.contains("Awaiting Analysis") && r.contains("3.0.3")),
        "{:?}",
        u.reasons
    );
    // Affected findings sort before unknown ones.
    assert_eq!(f[0].applicability, Applicability::Affected);
}

#[test]
fn a_debian_build_lowers_confidence_and_points_to_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let m = Matcher::new(&s, Aliases::builtin());
    let mut d = given("cpe:/a:openbsd:openssh:9.2p1");
    d.source = VersionSource::Banner;
    let plain = m.match_detected(&d).unwrap();
    let p = plain.iter().find(|f| f.cve == "CVE-2024-6387").unwrap();
    assert_eq!(p.confidence, 80);
    assert!(p.distro.is_none());
    d.hints = vec!["Debian-2+deb12u3".into()];
    let deb = m.match_detected(&d).unwrap();
    let f = deb.iter().find(|f| f.cve == "CVE-2024-6387").unwrap();
    assert_eq!(f.applicability, Applicability::Affected);
    assert_eq!(f.confidence, 30);
    let distro = f.distro.as_ref().unwrap();
    assert_eq!(distro.name, "Debian");
    assert_eq!(
        distro.tracker,
        "https://security-tracker.debian.org/tracker/CVE-2024-6387"
    );
    assert!(f.reasons.iter().any(|r| r.contains("backport")));
}

#[test]
fn kev_entries_from_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let k = s.kev("CVE-2023-44487").unwrap().unwrap();
    assert_eq!(
        (k.date_added.as_str(), k.due_date.as_str()),
        ("2023-10-10", "2023-10-31")
    );
    assert_eq!(s.stats().unwrap().kev, 7);
    assert_eq!(s.stats().unwrap().epss, 2);
    assert_eq!(s.stats().unwrap().cves, 17);
    assert_eq!(s.stats().unwrap().unanalysed, 1);
}

/// A service with a product name and a version but no CPE.
fn named(product: &str, version: &str) -> Detected {
    Detected::from_service(&portolan_model::Service {
        name: "x".into(),
        product: Some(product.into()),
        version: Some(version.into()),
        method: portolan_model::ServiceMethod::Probed,
        conf: 10,
        ..Default::default()
    })
}

#[test]
fn a_product_name_without_a_cpe_maps_to_the_only_vendor_with_lower_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let m = Matcher::new(&s, Aliases::builtin());
    let f = m.match_detected(&named("OpenSSH", "9.2p1")).unwrap();
    let r = f.iter().find(|f| f.cve == "CVE-2024-6387").unwrap();
    assert_eq!(r.applicability, Applicability::Affected);
    assert_eq!(r.confidence, 60, "banner 80, less 20 for the name");
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("no CPE detected") && x.contains("openbsd:openssh")),
        "{:?}",
        r.reasons
    );
    assert!(!f.iter().any(|f| f.cve == "CVE-2023-25136"), "9.1 only");
    // nmap-style names with words after the product: the first word.
    let f = m
        .match_detected(&named("Redis key-value store", "7.0.11"))
        .unwrap();
    assert!(f.iter().any(|f| f.cve == "CVE-2022-24834"), "{f:?}");
    // A name no record uses, and a name without a version: nothing.
    assert!(m
        .match_detected(&named("Unheard-of daemon", "1.0"))
        .unwrap()
        .is_empty());
    let mut no_version = named("OpenSSH", "9.2p1");
    no_version.version = None;
    assert!(m.match_detected(&no_version).unwrap().is_empty());
}

#[test]
fn a_product_name_two_vendors_use_is_never_matched() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(&dir);
    // Another vendor's product also called "openssh" (a fork): the name alone cannot tell.
    let mut fork = s.cve("CVE-2024-6387").unwrap().unwrap();
    fork.id = "CVE-2099-0001".into();
    for c in &mut fork.configurations {
        for n in &mut c.nodes {
            for x in &mut n.cpe_match {
                x.criteria = x
                    .criteria
                    .replace(":openbsd:openssh:", ":forkvendor:openssh:");
            }
        }
    }
    s.write_cves(&[fork]).unwrap();
    let m = Matcher::new(&s, Aliases::builtin());
    assert!(m
        .match_detected(&named("OpenSSH", "9.2p1"))
        .unwrap()
        .is_empty());
    // With its CPE, the service still matches both records of its own vendor only.
    let f = m
        .match_detected(&given("cpe:/a:openbsd:openssh:9.2p1"))
        .unwrap();
    assert!(f.iter().any(|f| f.cve == "CVE-2024-6387"));
    assert!(!f.iter().any(|f| f.cve == "CVE-2099-0001"));
}
