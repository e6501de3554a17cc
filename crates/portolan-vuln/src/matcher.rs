//! Matching a detected product and version against stored CVE records, with a stated
//! confidence.
//!
//! Rules (each has a test on real NVD records in `tests/nvd_outcomes.rs`):
//! - no version detected → no match claimed;
//! - only `vulnerable: true` criteria can match the product; `vulnerable: false` criteria are
//!   platforms ("running on"), never the product: a configuration `product AND platform` is
//!   reported as *conditional* (the platform is not observed by a network scan), with lower
//!   confidence;
//! - `versionStart/End Including/Excluding` and exact versions with [`Version`] ordering; an
//!   exact criterion whose update is `*` matches every update of that version (`9.1` matches
//!   `9.1p1`); a range in another numbering scheme (`r27` for NGINX Plus) never matches;
//! - configurations and nodes combine with `AND`/`OR` and `negate`, in three-valued logic
//!   (true, false, unknown for unobserved platforms);
//! - vendor/product renames come from the alias table (`data/aliases.toml`);
//! - records without any CPE configuration (`Awaiting Analysis`) whose description names the
//!   product are reported with *unknown applicability*, not dropped.

use crate::cpe::{attr_matches, CpeName, ANY, NA};
use crate::db::{StoreError, VulnStore};
use crate::feeds::{EpssScore, KevEntry};
use crate::nvd::{Configuration, CpeMatch, CveRecord, Cvss, Node, Operator};
use crate::version::Version;
use portolan_model::{Service, ServiceMethod, Severity};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// The alias groups compiled in (`data/aliases.toml`).
const ALIASES_TOML: &str = include_str!("../data/aliases.toml");

/// Vendor:product names that NVD uses for one product.
#[derive(Clone, Debug, Default)]
pub struct Aliases {
    groups: Vec<Vec<(String, String)>>,
}

#[derive(Deserialize)]
struct AliasFile {
    group: Vec<AliasGroup>,
}

#[derive(Deserialize)]
struct AliasGroup {
    names: Vec<String>,
    #[allow(dead_code)]
    #[serde(default)]
    note: String,
    #[allow(dead_code)]
    sources: Vec<String>,
}

impl Aliases {
    /// The compiled-in table.
    pub fn builtin() -> Aliases {
        // The file is part of the source and checked by a test; an error here is a build defect,
        // and matching without aliases is still correct, only less complete.
        Aliases::parse(ALIASES_TOML).unwrap_or_default()
    }

    /// Parse an alias file (`[[group]] names = ["vendor:product", ...]`).
    pub fn parse(text: &str) -> Result<Aliases, String> {
        let f: AliasFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut groups = Vec::new();
        for g in f.group {
            let mut names = Vec::new();
            for n in g.names {
                let (v, p) = n
                    .split_once(':')
                    .ok_or_else(|| format!("{n:?} is not vendor:product"))?;
                names.push((v.to_lowercase(), p.to_lowercase()));
            }
            groups.push(names);
        }
        Ok(Aliases { groups })
    }

    /// Every name of the product (itself first).
    pub fn expand(&self, vendor: &str, product: &str) -> Vec<(String, String)> {
        let mut out = vec![(vendor.to_string(), product.to_string())];
        for g in &self.groups {
            if g.iter().any(|(v, p)| v == vendor && p == product) {
                for n in g {
                    if !out.contains(n) {
                        out.push(n.clone());
                    }
                }
            }
        }
        out
    }
}

/// Where the detected version came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum VersionSource {
    /// Given by the user (a CPE on the command line).
    Given,
    /// Announced by the service in its greeting (SSH, FTP, SMTP banners).
    Banner,
    /// Read from the reply to a probe (an HTTP `Server` header, ...).
    Probe { probe: String },
}

/// A product as detected, ready to match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Detected {
    /// CPE names (vendor and product are what is matched).
    pub cpes: Vec<CpeName>,
    /// The upstream version; `None` means nothing is claimed.
    pub version: Option<String>,
    pub source: VersionSource,
    /// A soft match (a generic rule) rather than a product-specific one.
    pub soft: bool,
    /// The product's name as detected (`OpenSSH`, `vsftpd`): matched through the names in the
    /// records' CPE criteria, with lower confidence, when the service has no CPE.
    pub product: Option<String>,
    /// Texts that may name a distribution build (extra info, SSH comments, banner, HTTP
    /// `Server`): `OpenSSH_9.2p1 Debian-2+deb12u3`, `nginx/1.22.1 (Ubuntu)`.
    pub hints: Vec<String>,
}

impl Detected {
    /// From one CPE given by the user: its version (with its update: `9.2` + `p1`).
    pub fn from_cpe(cpe: &CpeName) -> Detected {
        Detected {
            product: None,
            cpes: vec![cpe.clone()],
            version: cpe.full_version(),
            source: VersionSource::Given,
            soft: false,
            hints: Vec::new(),
        }
    }

    /// From a service found by `-sV` (the model's [`Service`]). A service named only from the
    /// port table has no version: nothing will match.
    pub fn from_service(s: &Service) -> Detected {
        let details = s.details.as_ref();
        let probe = details
            .and_then(|d| d.get("probe"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
        let source = match probe.as_deref() {
            None | Some("null") | Some("NULL") => VersionSource::Banner,
            Some(p) => VersionSource::Probe {
                probe: p.to_string(),
            },
        };
        let mut hints: Vec<String> = s.extrainfo.iter().cloned().collect();
        if let Some(d) = details {
            for ptr in ["/ssh/comments", "/ssh/software", "/http/server", "/banner"] {
                if let Some(t) = d.pointer(ptr).and_then(|v| v.as_str()) {
                    hints.push(t.chars().take(512).collect());
                }
            }
        }
        let cpes: Vec<CpeName> = s.cpe.iter().filter_map(CpeName::from_model).collect();
        // The version: the service's own, else the first CPE's.
        let version = s
            .version
            .clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| cpes.iter().find_map(CpeName::full_version));
        let version = if s.method == ServiceMethod::Table {
            None
        } else {
            version
        };
        Detected {
            product: s.product.clone().filter(|p| !p.trim().is_empty()),
            cpes,
            version,
            source,
            soft: s.conf < 10,
            hints,
        }
    }
}

/// How sure it is that the CVE applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Applicability {
    /// NVD has no CPE configuration for it yet: it may or may not apply.
    Unknown,
    /// The product and version match, but the configuration also needs a platform a network
    /// scan does not see.
    Conditional,
    /// The product and version match a configuration.
    Affected,
}

/// A distribution build recognised in the detected texts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    pub name: String,
    /// The text it was recognised in (`Debian-2+deb12u3`).
    pub evidence: String,
    /// Where that distribution says whether a CVE is fixed (`{cve}` replaced).
    pub tracker: String,
}

/// One CVE that applies (or may apply) to one detected product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub cve: String,
    pub applicability: Applicability,
    /// `vendor:product` of the criterion that matched.
    pub product: String,
    /// The detected version it was matched with.
    pub version: String,
    /// The criterion and its range: `openbsd:openssh >= 8.6, < 9.8`.
    pub range: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_v40: Option<Arc<Cvss>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_v31: Option<Arc<Cvss>>,
    /// Highest base score of any CVSS version NVD gives (v4.0, v3.1, v3.0, v2).
    pub score: Option<f64>,
    pub severity: Severity,
    pub kev: Option<Arc<KevEntry>>,
    pub epss: Option<Arc<EpssScore>>,
    /// 0-100, Greenbone-style quality of detection.
    pub confidence: u8,
    /// Why that confidence, in words.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// NVD status of the record.
    pub status: Arc<str>,
    /// The record's description, at most 300 characters.
    pub description: Arc<str>,
}

impl Finding {
    /// The severity this finding counts with for `--fail-on` (`portolan vulns` and `portolan
    /// scan --vulns`): `None` for unknown applicability (NVD has not said that it applies);
    /// otherwise its CVSS severity, raised to at least high when the CVE is in CISA's Known
    /// Exploited Vulnerabilities catalogue — exploited in the wild, with a due date to fix it
    /// whatever its score.
    pub fn gate_severity(&self) -> Option<Severity> {
        match self.applicability {
            Applicability::Unknown => None,
            _ if self.kev.is_some() => Some(self.severity.max(Severity::High)),
            _ => Some(self.severity),
        }
    }
}

/// Which findings are shown: the filters of `portolan vulns` and of `portolan scan --vulns`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only findings whose highest CVSS base score is at least this (none without a score).
    pub min_cvss: Option<f64>,
    /// Only CVEs in CISA's KEV catalogue.
    pub kev_only: bool,
    /// Only findings whose EPSS score (probability of exploitation in 30 days, 0-1) is at least
    /// this (none without a score).
    pub min_epss: Option<f64>,
    /// Only findings with at least this confidence (0-100).
    pub min_confidence: u8,
    /// No findings of unknown applicability (records NVD has not analysed yet).
    pub no_unknown: bool,
}

impl Filter {
    /// Whether `f` passes every filter.
    pub fn keep(&self, f: &Finding) -> bool {
        (!self.no_unknown || f.applicability != Applicability::Unknown)
            && (!self.kev_only || f.kev.is_some())
            && self
                .min_cvss
                .is_none_or(|min| f.score.is_some_and(|s| s >= min))
            && self
                .min_epss
                .is_none_or(|min| f.epss.as_ref().is_some_and(|e| e.score >= min))
            && f.confidence >= self.min_confidence
    }

    /// Whether any filter is set.
    pub fn is_active(&self) -> bool {
        *self != Filter::default()
    }
}

/// Severity from a CVSS base score (the v3/v4 bands).
pub fn severity_of(score: Option<f64>) -> Severity {
    match score {
        Some(s) if s >= 9.0 => Severity::Critical,
        Some(s) if s >= 7.0 => Severity::High,
        Some(s) if s >= 4.0 => Severity::Medium,
        Some(s) if s > 0.0 => Severity::Low,
        _ => Severity::Info,
    }
}

/// Recognise a distribution build in `hints`.
pub fn detect_distro(hints: &[String]) -> Option<Distro> {
    const TRACKERS: &[(&str, &str)] = &[
        (
            "Debian",
            "https://security-tracker.debian.org/tracker/{cve}",
        ),
        ("Ubuntu", "https://ubuntu.com/security/{cve}"),
        ("Red Hat", "https://access.redhat.com/security/cve/{cve}"),
        (
            "Fedora",
            "https://bodhi.fedoraproject.org/updates/?search={cve}",
        ),
        ("SUSE", "https://www.suse.com/security/cve/{cve}/"),
        ("Alpine", "https://security.alpinelinux.org/vuln/{cve}"),
    ];
    for h in hints {
        let lower = h.to_lowercase();
        let tokens: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        let digits_after = |t: &str, p: &str| {
            t.strip_prefix(p)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        };
        let name = if tokens.iter().any(|t| {
            *t == "debian"
                || *t == "raspbian"
                || (t.starts_with("deb")
                    && t.contains('u')
                    && t[3..].starts_with(|c: char| c.is_ascii_digit()))
        }) {
            "Debian"
        } else if tokens
            .iter()
            .any(|t| *t == "ubuntu" || t.starts_with("ubuntu"))
        {
            "Ubuntu"
        } else if tokens.iter().any(|t| {
            matches!(*t, "rhel" | "centos" | "rocky" | "almalinux" | "redhat")
                || digits_after(t, "el")
        }) {
            "Red Hat"
        } else if tokens
            .iter()
            .any(|t| *t == "fedora" || digits_after(t, "fc"))
        {
            "Fedora"
        } else if tokens.iter().any(|t| t.starts_with("suse")) {
            "SUSE"
        } else if tokens.contains(&"alpine") {
            "Alpine"
        } else {
            continue;
        };
        let tracker = TRACKERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .unwrap_or_default();
        return Some(Distro {
            name: name.into(),
            evidence: h.chars().take(120).collect(),
            tracker,
        });
    }
    None
}

/// `9.2p1` → `9.2`; `2.3.19.1` → `2.3.19.1`; `9.16.1-S1` → `9.16.1`: the leading dotted
/// numbers.
fn base_version(v: &str) -> &str {
    let mut end = 0;
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            i += 1;
            end = i;
        } else if b[i] == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit() && end == i {
            i += 1;
        } else {
            break;
        }
    }
    &v[..end]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
    fn combine(op: Operator, xs: impl Iterator<Item = Tri>) -> Tri {
        let mut any_true = false;
        let mut any_false = false;
        let mut any_unknown = false;
        let mut empty = true;
        for x in xs {
            empty = false;
            match x {
                Tri::True => any_true = true,
                Tri::False => any_false = true,
                Tri::Unknown => any_unknown = true,
            }
        }
        if empty {
            return Tri::False;
        }
        match op {
            Operator::Or if any_true => Tri::True,
            Operator::Or if any_unknown => Tri::Unknown,
            Operator::Or => Tri::False,
            Operator::And if any_false => Tri::False,
            Operator::And if any_unknown => Tri::Unknown,
            Operator::And => Tri::True,
        }
    }
}

/// The range of a criterion in words: `>= 8.6, < 9.8`, `= 9.1`, `all versions`.
pub fn describe_range(m: &CpeMatch, c: &CpeName) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &m.start_including {
        parts.push(format!(">= {v}"));
    }
    if let Some(v) = &m.start_excluding {
        parts.push(format!("> {v}"));
    }
    if let Some(v) = &m.end_including {
        parts.push(format!("<= {v}"));
    }
    if let Some(v) = &m.end_excluding {
        parts.push(format!("< {v}"));
    }
    let mut s = if c.version != ANY {
        format!(
            "= {}",
            c.full_version().unwrap_or_else(|| c.version.clone())
        )
    } else if parts.is_empty() {
        "all versions".to_string()
    } else {
        parts.join(", ")
    };
    if c.sw_edition != ANY {
        s.push_str(&format!(" ({})", c.sw_edition));
    }
    format!("{}:{} {s}", c.vendor, c.product)
}

/// A criterion prepared for matching: its CPE and versions parsed once.
#[derive(Clone, Debug)]
struct CMatch {
    vulnerable: bool,
    /// Hash of `vendor:product`, checked before the strings (keeps the hot loop in cache).
    key: u64,
    criteria: String,
    cpe: Option<CpeName>,
    /// The exact version (with its update when that is not `*`), when the criterion has one.
    exact: Option<Version>,
    /// The exact criterion's update is `*`: any update of that version matches.
    any_update: bool,
    bounds: [Option<Version>; 4],
    /// Edition, language, sw_edition, target_sw, target_hw and other are all `*`.
    attrs_any: bool,
    /// The version is `-` (not applicable): never matches a detected version.
    version_na: bool,
    text: String,
}

impl CMatch {
    fn new(m: &CpeMatch) -> CMatch {
        let cpe = CpeName::parse(&m.criteria);
        let (exact, any_update, text) = match &cpe {
            Some(c) if c.version != ANY && c.version != NA => {
                let any_update = c.update == ANY;
                let v = if any_update {
                    Version::parse(&c.version)
                } else {
                    Version::parse(&crate::cpe::join_update(&c.version, &c.update))
                };
                (Some(v), any_update, describe_range(m, c))
            }
            Some(c) => (None, false, describe_range(m, c)),
            None => (None, false, m.criteria.clone()),
        };
        let p = |b: &Option<String>| b.as_deref().map(Version::parse);
        let attrs_any = cpe.as_ref().is_some_and(|c| {
            [
                &c.edition,
                &c.language,
                &c.sw_edition,
                &c.target_sw,
                &c.target_hw,
                &c.other,
            ]
            .iter()
            .all(|a| a.as_str() == ANY)
        });
        CMatch {
            key: cpe.as_ref().map_or(0, |c| name_key(&c.vendor, &c.product)),
            attrs_any,
            version_na: cpe.as_ref().is_some_and(|c| c.version == NA),
            vulnerable: m.vulnerable,
            criteria: m.criteria.clone(),
            cpe,
            exact,
            any_update,
            bounds: [
                p(&m.start_including),
                p(&m.start_excluding),
                p(&m.end_including),
                p(&m.end_excluding),
            ],
            text,
        }
    }

    /// Whether this `vulnerable: true` criterion matches `names` at `version`.
    fn matches(&self, t: &Target<'_>) -> bool {
        if !t.keys.contains(&self.key) {
            return false;
        }
        let Some(c) = &self.cpe else { return false };
        let detected = t.detected;
        if c.part != detected.part && detected.part != ANY {
            return false;
        }
        if !t
            .names
            .iter()
            .any(|(v, p)| *v == c.vendor && *p == c.product)
        {
            return false;
        }
        if !self.attrs_any {
            for (pat, val) in [
                (&c.edition, &detected.edition),
                (&c.language, &detected.language),
                (&c.sw_edition, &detected.sw_edition),
                (&c.target_sw, &detected.target_sw),
                (&c.target_hw, &detected.target_hw),
                (&c.other, &detected.other),
            ] {
                if !attr_matches(pat, val) {
                    return false;
                }
            }
        }
        if self.version_na {
            return false;
        }
        let version = t.version;
        if let Some(cv) = &self.exact {
            // An exact version; with update `*`, any update of it.
            return cv.same_scheme(version)
                && (*cv == *version || (self.any_update && *cv == t.base));
        }
        let [si, se, ei, ee] = &self.bounds;
        let ok = |b: &Option<Version>, f: fn(&Version, &Version) -> bool| match b {
            None => true,
            Some(b) => b.same_scheme(version) && f(version, b),
        };
        ok(si, |v, b| v >= b)
            && ok(se, |v, b| v > b)
            && ok(ei, |v, b| v <= b)
            && ok(ee, |v, b| v < b)
    }
}

/// Tokens a [`Packed`] version holds inline; longer versions skip the prefilter.
const PACKED: usize = 6;

/// A version packed inline (no pointer to follow) for the prefilter's hot loop: the same
/// tokens and order as [`Version`].
#[derive(Clone, Copy, Debug)]
struct Packed {
    toks: [u64; PACKED],
    len: u8,
    numeric: bool,
}

impl Packed {
    fn new(v: &Version) -> Option<Packed> {
        let t = v.tokens();
        if t.len() > PACKED {
            return None;
        }
        let mut toks = [0; PACKED];
        toks[..t.len()].copy_from_slice(t);
        Some(Packed {
            toks,
            len: t.len() as u8,
            numeric: v.is_numeric(),
        })
    }

    /// [`Version`]'s order: token by token, the shorter padded with the end token.
    fn cmp(&self, o: &Packed) -> std::cmp::Ordering {
        const END: u64 = 1 << 62;
        let n = usize::from(self.len.max(o.len));
        for i in 0..n {
            let a = if i < usize::from(self.len) {
                self.toks[i]
            } else {
                END
            };
            let b = if i < usize::from(o.len) {
                o.toks[i]
            } else {
                END
            };
            if a != b {
                return a.cmp(&b);
            }
        }
        std::cmp::Ordering::Equal
    }
}

/// What a criterion admits of a version, for the prefilter.
#[derive(Clone, Copy, Debug)]
enum Admits {
    /// Anything (the prefilter cannot tell: the full evaluation decides).
    Any,
    /// Exactly this version; with `any_update`, also any update of it.
    Exact { v: Packed, any_update: bool },
    /// A range: each bound with whether it is inclusive.
    Range {
        lo: Option<(Packed, bool)>,
        hi: Option<(Packed, bool)>,
    },
}

/// One `vulnerable: true` criterion of one record, in a product's compact index.
#[derive(Clone, Copy, Debug)]
struct PreCrit {
    /// Index of the record in the product's list.
    rec: u32,
    admits: Admits,
}

impl PreCrit {
    /// From a prepared criterion; `None` when it can never match a detected version.
    fn new(rec: u32, m: &CMatch) -> Option<PreCrit> {
        if m.version_na {
            return None;
        }
        let admits = if let Some(cv) = &m.exact {
            match Packed::new(cv) {
                Some(v) => Admits::Exact {
                    v,
                    any_update: m.any_update,
                },
                None => Admits::Any,
            }
        } else {
            let [si, se, ei, ee] = &m.bounds;
            let bound = |i: &Option<Version>, e: &Option<Version>| -> Result<_, ()> {
                match (i, e) {
                    (None, None) => Ok(None),
                    (Some(v), None) => Packed::new(v).map(|p| Some((p, true))).ok_or(()),
                    (None, Some(v)) => Packed::new(v).map(|p| Some((p, false))).ok_or(()),
                    // Both an including and an excluding bound on one side: let the full
                    // evaluation decide.
                    (Some(_), Some(_)) => Err(()),
                }
            };
            match (bound(si, se), bound(ei, ee)) {
                (Ok(lo), Ok(hi)) => Admits::Range { lo, hi },
                _ => Admits::Any,
            }
        };
        Some(PreCrit { rec, admits })
    }

    /// Whether the criterion may admit `v` (whose base version is `base`). Never false when
    /// [`CMatch::matches`] could be true for this product.
    fn admits(&self, v: &Packed, base: Option<&Packed>) -> bool {
        use std::cmp::Ordering::*;
        match &self.admits {
            Admits::Any => true,
            Admits::Exact { v: cv, any_update } => {
                cv.numeric == v.numeric
                    && (cv.cmp(v) == Equal
                        || (*any_update && base.is_none_or(|b| cv.cmp(b) == Equal)))
            }
            Admits::Range { lo, hi } => {
                lo.as_ref().is_none_or(|(b, incl)| {
                    b.numeric == v.numeric
                        && matches!((v.cmp(b), incl), (Greater, _) | (Equal, true))
                }) && hi.as_ref().is_none_or(|(b, incl)| {
                    b.numeric == v.numeric && matches!((v.cmp(b), incl), (Less, _) | (Equal, true))
                })
            }
        }
    }
}

/// A range criterion in a product's index.
#[derive(Clone, Copy, Debug)]
struct PreRange {
    lo: Option<(Packed, bool)>,
    hi: Option<(Packed, bool)>,
    rec: u32,
}

/// Ranges per block of the index's range list, each block with its highest upper bound.
const BLOCK: usize = 16;

/// A version's first four tokens in 64 bits (each 16: its class, and its value saturated at
/// 2^14 - 1), an order key that never contradicts [`Packed::cmp`]: `key(a) < key(b)` implies
/// `a < b`. Equal keys say nothing; the full comparison decides. The index searches and skips
/// on these keys (8 bytes an entry, few cache lines) and reads the full entry only when they
/// cannot decide.
fn order_key(p: &Packed) -> u64 {
    const END: u64 = 1 << 62;
    let mut k = 0u64;
    for i in 0..4 {
        let t = if i < usize::from(p.len) {
            p.toks[i]
        } else {
            END
        };
        let class = t >> 62;
        let value = (t & ((1 << 62) - 1)).min((1 << 14) - 1);
        k = (k << 16) | (class << 14) | value;
    }
    k
}

/// The records that name one (vendor, product), and their criteria for that product in a
/// compact index (versions packed inline) that finds, without looking at the others, the
/// records one of whose criteria may admit a version:
/// - exact versions sorted, found by binary search (the version, and its base version for a
///   criterion whose update is `*`);
/// - ranges sorted by lower bound: a binary search cuts those that start above the version, and
///   the rest are walked in blocks of [`BLOCK`] that each know their highest upper bound, so a
///   block that ends below the version is skipped whole;
/// - criteria the index cannot order (versions of more than [`PACKED`] tokens, two bounds on
///   one side) are always candidates, and the full evaluation decides.
///
/// Searches and skips run on [`order_key`]s kept in arrays of their own; a full entry is read
/// only where the keys cannot decide.
struct ProductIndex {
    recs: Vec<Prepared>,
    any: Vec<u32>,
    exact: Vec<(Packed, bool, u32)>,
    exact_keys: Vec<u64>,
    ranges: Vec<PreRange>,
    /// Order keys of each range's lower bound (0 when none) and upper bound (`u64::MAX` when
    /// none), in the order of `ranges`.
    lo_keys: Vec<u64>,
    hi_keys: Vec<u64>,
    /// The highest upper-bound key of each block of `ranges`.
    block_hi: Vec<u64>,
}

/// `a`'s lower bound orders before `b`'s (no lower bound first).
fn lo_cmp(a: &Option<(Packed, bool)>, b: &Option<(Packed, bool)>) -> std::cmp::Ordering {
    match (a, b) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some((x, _)), Some((y, _))) => x.cmp(y),
    }
}

impl ProductIndex {
    fn new(vendor: &str, product: &str, recs: Vec<Prepared>) -> ProductIndex {
        let key = name_key(vendor, product);
        let mut pre = Vec::new();
        for (i, p) in recs.iter().enumerate() {
            for m in p
                .configs
                .iter()
                .flat_map(|c| &c.nodes)
                .flat_map(|n| &n.matches)
            {
                let names_it = m.key == key
                    && m.cpe
                        .as_ref()
                        .is_some_and(|c| c.vendor == vendor && c.product == product);
                if m.vulnerable && names_it {
                    pre.extend(PreCrit::new(i as u32, m));
                }
            }
        }
        ProductIndex::from_criteria(recs, &pre)
    }

    fn from_criteria(recs: Vec<Prepared>, pre: &[PreCrit]) -> ProductIndex {
        let (mut any, mut exact, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
        for c in pre {
            match c.admits {
                Admits::Any => any.push(c.rec),
                Admits::Exact { v, any_update } => exact.push((v, any_update, c.rec)),
                Admits::Range { lo, hi } => ranges.push(PreRange { lo, hi, rec: c.rec }),
            }
        }
        any.sort_unstable();
        any.dedup();
        exact.sort_by(|a, b| a.0.cmp(&b.0));
        ranges.sort_by(|a, b| lo_cmp(&a.lo, &b.lo));
        let exact_keys = exact.iter().map(|(v, _, _)| order_key(v)).collect();
        let lo_keys = ranges
            .iter()
            .map(|r| r.lo.map_or(0, |(v, _)| order_key(&v)))
            .collect();
        let hi_keys: Vec<u64> = ranges
            .iter()
            .map(|r| r.hi.map_or(u64::MAX, |(v, _)| order_key(&v)))
            .collect();
        let block_hi = hi_keys
            .chunks(BLOCK)
            .map(|b| b.iter().copied().max().unwrap_or(u64::MAX))
            .collect();
        ProductIndex {
            recs,
            any,
            exact,
            exact_keys,
            ranges,
            lo_keys,
            hi_keys,
            block_hi,
        }
    }

    /// The indices (ascending, each once) of the records one of whose criteria for this
    /// product may admit `v` (whose base version is `base`), into `out`.
    fn candidates(&self, v: &Version, base: &Version, out: &mut Vec<u32>) {
        use std::cmp::Ordering::*;
        out.clear();
        let Some(pv) = Packed::new(v) else {
            out.extend(0..self.recs.len() as u32);
            return;
        };
        let pb = Packed::new(base);
        let vkey = order_key(&pv);
        out.extend_from_slice(&self.any);
        // Exact versions: equal to the version, or (update `*`) to its base version.
        let mut exact_at = |x: &Packed, only_any_update: bool| {
            let k = order_key(x);
            let start = self.exact_keys.partition_point(|&e| e < k);
            for (i, e) in self.exact_keys[start..].iter().enumerate() {
                if *e != k {
                    break;
                }
                if let Some((e, any_update, rec)) = self.exact.get(start + i) {
                    if e.cmp(x) == Equal
                        && (!only_any_update || *any_update)
                        && e.numeric == pv.numeric
                    {
                        out.push(*rec);
                    }
                }
            }
        };
        exact_at(&pv, false);
        match &pb {
            Some(b) if b.cmp(&pv) != Equal => exact_at(b, true),
            Some(_) => {}
            None => out.extend(self.exact.iter().filter(|e| e.1).map(|e| e.2)),
        }
        // Ranges whose lower bound may be at or below the version, block by block; a block
        // (or an entry) whose upper bound is below the version is skipped on its key.
        let end = self.lo_keys.partition_point(|&k| k <= vkey);
        for (b, keys) in self.hi_keys[..end].chunks(BLOCK).enumerate() {
            if self.block_hi.get(b).is_some_and(|&top| top < vkey) {
                continue;
            }
            for (j, &hk) in keys.iter().enumerate() {
                if hk < vkey {
                    continue;
                }
                let Some(r) = self.ranges.get(b * BLOCK + j) else {
                    continue;
                };
                let c = PreCrit {
                    rec: r.rec,
                    admits: Admits::Range { lo: r.lo, hi: r.hi },
                };
                if c.admits(&pv, pb.as_ref()) {
                    out.push(r.rec);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// A node, configuration and record prepared for matching.
#[derive(Clone, Debug)]
struct CNode {
    operator: Operator,
    negate: bool,
    matches: Vec<CMatch>,
}

#[derive(Clone, Debug)]
struct CConfig {
    operator: Operator,
    negate: bool,
    nodes: Vec<CNode>,
}

/// A record with its configurations prepared for matching, its KEV and EPSS data, and what
/// every finding of it shares (built once, shared by reference count).
#[derive(Clone, Debug)]
pub struct Prepared {
    pub record: CveRecord,
    pub kev: Option<Arc<KevEntry>>,
    pub epss: Option<Arc<EpssScore>>,
    cvss_v40: Option<Arc<Cvss>>,
    cvss_v31: Option<Arc<Cvss>>,
    score: Option<f64>,
    status: Arc<str>,
    description: Arc<str>,
    configs: Vec<CConfig>,
}

impl Prepared {
    pub fn new(record: CveRecord, kev: Option<KevEntry>, epss: Option<EpssScore>) -> Prepared {
        let configs = record
            .configurations
            .iter()
            .map(|c: &Configuration| CConfig {
                operator: c.operator,
                negate: c.negate,
                nodes: c
                    .nodes
                    .iter()
                    .map(|n: &Node| CNode {
                        operator: n.operator,
                        negate: n.negate,
                        matches: n.cpe_match.iter().map(CMatch::new).collect(),
                    })
                    .collect(),
            })
            .collect();
        Prepared {
            kev: kev.map(Arc::new),
            epss: epss.map(Arc::new),
            cvss_v40: record.cvss_v40.clone().map(Arc::new),
            cvss_v31: record
                .cvss_v31
                .clone()
                .or_else(|| record.cvss_v30.clone())
                .map(Arc::new),
            score: record.max_score(),
            status: Arc::from(record.status.as_str()),
            description: Arc::from(truncate(&record.description, 300)),
            configs,
            record,
        }
    }
}

/// What is matched: the product's names, its CPE, its version and that version's base.
struct Target<'a> {
    names: &'a [(String, String)],
    /// [`name_key`] of each name.
    keys: Vec<u64>,
    detected: &'a CpeName,
    version: &'a Version,
    base: Version,
}

/// A hash of `vendor:product` (fixed keys: the same in every run).
fn name_key(vendor: &str, product: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    vendor.hash(&mut h);
    product.hash(&mut h);
    h.finish()
}

/// A finding matched through the product's name rather than a detected CPE: 20 points less,
/// and the reason says so.
fn by_name_confidence(f: &mut Finding, name: &str, cpe: &CpeName) {
    f.confidence = f.confidence.saturating_sub(20);
    f.reasons.push(format!(
        "no CPE detected: the product name {:?} was taken for NVD's {}:{} (the only vendor with a product of that name in the imported records)",
        truncate(name, 60),
        cpe.vendor,
        cpe.product
    ));
}

/// An outcome: (applicability, the matching ranges, the platforms it is conditional on).
pub type Outcome = (Applicability, Vec<String>, Vec<String>);

/// [`Outcome`] borrowing the prepared record's texts.
type OutcomeRef<'p> = (Applicability, Vec<&'p str>, Vec<&'p str>);

fn eval_node<'p>(
    n: &'p CNode,
    t: &Target<'_>,
    matched: &mut Vec<&'p str>,
    platforms: &mut Vec<&'p str>,
) -> Tri {
    let results = n.matches.iter().map(|m| {
        if !m.vulnerable {
            platforms.push(&m.criteria);
            Tri::Unknown
        } else if m.matches(t) {
            matched.push(&m.text);
            Tri::True
        } else {
            Tri::False
        }
    });
    let r = Tri::combine(n.operator, results);
    if n.negate {
        r.not()
    } else {
        r
    }
}

fn evaluate_prepared<'p>(p: &'p Prepared, t: &Target<'_>) -> Option<OutcomeRef<'p>> {
    let mut best: Option<OutcomeRef<'p>> = None;
    for c in &p.configs {
        let (mut matched, mut platforms) = (Vec::new(), Vec::new());
        let results = c
            .nodes
            .iter()
            .map(|n| eval_node(n, t, &mut matched, &mut platforms));
        let r = Tri::combine(c.operator, results);
        let r = if c.negate { r.not() } else { r };
        let a = match r {
            Tri::True if !matched.is_empty() => Applicability::Affected,
            Tri::Unknown if !matched.is_empty() => Applicability::Conditional,
            _ => continue,
        };
        if best.as_ref().is_none_or(|(b, _, _)| a > *b) {
            best = Some((a, matched, platforms));
        }
    }
    best
}

/// The outcome of one record for one product: `None` when it does not apply.
pub fn evaluate(
    rec: &CveRecord,
    names: &[(String, String)],
    detected: &CpeName,
    version: &Version,
) -> Option<Outcome> {
    let p = Prepared::new(rec.clone(), None, None);
    let t = Target {
        names,
        keys: names.iter().map(|(v, p)| name_key(v, p)).collect(),
        detected,
        version,
        base: Version::parse(base_version(version.as_str())),
    };
    evaluate_prepared(&p, &t).map(|(a, m, p)| {
        (
            a,
            m.into_iter().map(str::to_string).collect(),
            p.into_iter().map(str::to_string).collect(),
        )
    })
}

type Enriched = Rc<Vec<Prepared>>;

/// Matches detected products against a [`VulnStore`]. Each (vendor, product)'s records are
/// read from the store once, with a compact index of their criteria for that product; each
/// distinct detected product (names, version, source, hints) is evaluated once: a scan sees the
/// same OpenSSH build on many hosts.
pub struct Matcher<'s> {
    store: &'s dyn VulnStore,
    aliases: Aliases,
    /// vendor → product → index (looked up by `&str`, no key built per service).
    by_product: RefCell<HashMap<String, HashMap<String, Rc<ProductIndex>>>>,
    by_word: RefCell<HashMap<String, Enriched>>,
    /// Findings by [`memo_key`] of the detected product.
    memo: RefCell<HashMap<Box<str>, Rc<Vec<Finding>>>>,
    /// The key being looked up (one buffer, no allocation per lookup).
    key: RefCell<String>,
}

/// Everything of a [`Detected`] its findings depend on, in one string (each field prefixed
/// with its length, so no two products share a key): one allocation to memoize a product
/// instead of a copy of its fourteen-odd strings.
fn memo_key(d: &Detected, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    let mut field = |s: &str| {
        let _ = write!(out, "{}:{s}", s.len());
    };
    for c in &d.cpes {
        for a in [
            &c.part,
            &c.vendor,
            &c.product,
            &c.version,
            &c.update,
            &c.edition,
            &c.language,
            &c.sw_edition,
            &c.target_sw,
            &c.target_hw,
            &c.other,
        ] {
            field(a);
        }
    }
    field("|");
    field(d.version.as_deref().unwrap_or(""));
    match &d.source {
        VersionSource::Given => field("g"),
        VersionSource::Banner => field("b"),
        VersionSource::Probe { probe } => {
            field("p");
            field(probe);
        }
    }
    field(if d.soft { "s" } else { "h" });
    field(d.product.as_deref().unwrap_or(""));
    for h in &d.hints {
        field(h);
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        None => s.to_string(),
        Some((end, _)) => {
            let mut t = s[..end].to_string();
            t.push('…');
            t
        }
    }
}

/// What every finding of one detected service shares: the confidence its version source
/// gives, and the reasons for it.
struct Basis {
    confidence: i32,
    reasons: Vec<String>,
}

impl Basis {
    fn of(d: &Detected) -> Basis {
        let mut reasons = Vec::new();
        let mut confidence: i32 = match &d.source {
            VersionSource::Given => {
                reasons.push("version as given".to_string());
                100
            }
            VersionSource::Banner => {
                reasons.push("version announced in the service's own banner".to_string());
                80
            }
            VersionSource::Probe { probe } => {
                reasons.push(format!("version read from the reply to the {probe} probe"));
                70
            }
        };
        if d.soft {
            confidence -= 10;
            reasons.push("soft match: a generic detection rule, not a product-specific one".into());
        }
        Basis {
            confidence,
            reasons,
        }
    }
}

/// One detected CPE to match: its names (aliases included), their indexes, and the words
/// its unanalysed records are found by.
struct Plan<'d> {
    cpe: &'d CpeName,
    via_name: Option<&'d str>,
    names: Vec<(String, String)>,
    indexes: Vec<(Rc<ProductIndex>, usize)>,
    words: Vec<(Enriched, String)>,
}

impl<'s> Matcher<'s> {
    pub fn new(store: &'s dyn VulnStore, aliases: Aliases) -> Matcher<'s> {
        Matcher {
            store,
            aliases,
            by_product: RefCell::new(HashMap::new()),
            by_word: RefCell::new(HashMap::new()),
            memo: RefCell::new(HashMap::new()),
            key: RefCell::new(String::new()),
        }
    }

    /// Records prepared for matching, with the KEV and EPSS data read with them.
    fn enrich(recs: Vec<crate::db::EnrichedRecord>) -> Vec<Prepared> {
        recs.into_iter()
            .map(|(r, k, e)| Prepared::new(r, k, e))
            .collect()
    }

    fn product(&self, vendor: &str, product: &str) -> Result<Rc<ProductIndex>, StoreError> {
        if let Some(e) = self
            .by_product
            .borrow()
            .get(vendor)
            .and_then(|m| m.get(product))
        {
            return Ok(e.clone());
        }
        let recs = Matcher::enrich(self.store.enriched_for_product(vendor, product)?);
        let e = Rc::new(ProductIndex::new(vendor, product, recs));
        self.by_product
            .borrow_mut()
            .entry(vendor.to_string())
            .or_default()
            .insert(product.to_string(), e.clone());
        Ok(e)
    }

    fn word(&self, w: &str) -> Result<Enriched, StoreError> {
        if let Some(e) = self.by_word.borrow().get(w) {
            return Ok(e.clone());
        }
        let e = Rc::new(Matcher::enrich(self.store.enriched_naming(w)?));
        self.by_word.borrow_mut().insert(w.to_string(), e.clone());
        Ok(e)
    }

    /// Every CVE that applies or may apply to `d`, most severe first. Nothing when `d` has no
    /// version.
    pub fn match_detected(&self, d: &Detected) -> Result<Vec<Finding>, StoreError> {
        Ok(self.match_shared(d)?.as_ref().clone())
    }

    /// [`Matcher::match_detected`] without copying the findings (shared with every service
    /// detected the same way).
    pub fn match_shared(&self, d: &Detected) -> Result<Rc<Vec<Finding>>, StoreError> {
        if d.version.is_none() {
            return Ok(Rc::new(Vec::new()));
        }
        // The buffer is taken out (not borrowed) while matching, and put back after.
        let mut key = std::mem::take(&mut *self.key.borrow_mut());
        memo_key(d, &mut key);
        let known = self.memo.borrow().get(key.as_str()).cloned();
        let f = match known {
            Some(f) => f,
            None => {
                let f = Rc::new(self.match_uncached(d)?);
                self.memo
                    .borrow_mut()
                    .insert(key.as_str().into(), f.clone());
                f
            }
        };
        *self.key.borrow_mut() = key;
        Ok(f)
    }

    fn match_uncached(&self, d: &Detected) -> Result<Vec<Finding>, StoreError> {
        let Some(vtext) = d.version.as_deref() else {
            return Ok(Vec::new());
        };
        let version = Version::parse(vtext);
        let base = Version::parse(base_version(vtext));
        let distro = detect_distro(&d.hints);
        let basis = Basis::of(d);
        // Without a CPE, the product's name mapped to NVD's (vendor, product) (lower confidence).
        let mut by_name = None;
        if d.cpes.is_empty() {
            if let Some(name) = &d.product {
                by_name = self.cpe_of_name(name, vtext)?;
            }
        }
        let mut cpes: Vec<(&CpeName, Option<&str>)> = d.cpes.iter().map(|c| (c, None)).collect();
        if let (Some(c), Some(name)) = (&by_name, &d.product) {
            cpes.push((c, Some(name.as_str())));
        }
        // Every index and word list this service needs, read (or found in the cache) first.
        let mut plans = Vec::new();
        for (cpe, via_name) in cpes {
            if cpe.vendor == ANY || cpe.product == ANY {
                continue;
            }
            let names = self.aliases.expand(&cpe.vendor, &cpe.product);
            let mut indexes = Vec::with_capacity(names.len());
            for (i, (v, p)) in names.iter().enumerate() {
                indexes.push((self.product(v, p)?, i));
            }
            let mut words: Vec<&str> = names.iter().map(|(_, p)| p.as_str()).collect();
            words.sort_unstable();
            words.dedup();
            let words = words
                .into_iter()
                .map(|w| Ok((self.word(w)?, w.to_string())))
                .collect::<Result<Vec<_>, StoreError>>()?;
            plans.push(Plan {
                cpe,
                via_name,
                names,
                indexes,
                words,
            });
        }
        let mut out: Vec<Finding> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut cand = Vec::new();
        for plan in &plans {
            let target = Target {
                names: &plan.names,
                keys: plan.names.iter().map(|(v, p)| name_key(v, p)).collect(),
                detected: plan.cpe,
                version: &version,
                base: base.clone(),
            };
            for (index, i) in &plan.indexes {
                let p = plan.names.get(*i).map_or("", |(_, p)| p.as_str());
                index.candidates(&version, &base, &mut cand);
                for prep in cand.iter().filter_map(|&r| index.recs.get(r as usize)) {
                    if seen.contains(&prep.record.id.as_str()) {
                        continue;
                    }
                    let Some((app, ranges, platforms)) = evaluate_prepared(prep, &target) else {
                        continue;
                    };
                    seen.push(&prep.record.id);
                    let mut f = finding(&basis, prep, app, &ranges, &platforms, vtext, &distro, p);
                    if let Some(name) = plan.via_name {
                        by_name_confidence(&mut f, name, plan.cpe);
                    }
                    out.push(f);
                }
            }
            // Records NVD has not analysed yet, found by the product's name in their text.
            for (recs, w) in &plan.words {
                for prep in recs.iter() {
                    if seen.contains(&prep.record.id.as_str()) {
                        continue;
                    }
                    seen.push(&prep.record.id);
                    let mut f = finding(
                        &basis,
                        prep,
                        Applicability::Unknown,
                        &[],
                        &[],
                        vtext,
                        &distro,
                        w,
                    );
                    if let Some(name) = plan.via_name {
                        by_name_confidence(&mut f, name, plan.cpe);
                    }
                    out.push(f);
                }
            }
        }
        out.sort_by(|a, b| {
            b.applicability
                .cmp(&a.applicability)
                .then(b.kev.is_some().cmp(&a.kev.is_some()))
                .then(
                    b.score
                        .partial_cmp(&a.score)
                        .unwrap_or(std::cmp::Ordering::Equal),
                )
                .then(a.cve.cmp(&b.cve))
        });
        Ok(out)
    }

    /// The CPE name a product name stands for: its normalised forms (`OpenSSH` → `openssh`,
    /// `Redis key-value store` → `redis_key-value_store`, then its first word `redis`) looked
    /// up among the product names of the records' criteria; a name that more than one vendor
    /// uses is never matched (no match across vendors on a product name alone).
    fn cpe_of_name(&self, name: &str, version: &str) -> Result<Option<CpeName>, StoreError> {
        let lower = name.trim().to_lowercase();
        let full: String = lower.split_whitespace().collect::<Vec<_>>().join("_");
        let first = lower.split_whitespace().next().unwrap_or("").to_string();
        let mut keys = vec![full];
        if first.len() >= 3 && !keys.contains(&first) {
            keys.push(first);
        }
        for key in keys {
            if key.is_empty() || key.contains(':') || key == ANY {
                continue;
            }
            let vendors = self.store.vendors_of(&key)?;
            match vendors.as_slice() {
                [] => continue,
                [vendor] => {
                    return Ok(
                        CpeName::parse(&format!("cpe:2.3:a:{vendor}:{key}:*:*:*:*:*:*:*:*")).map(
                            |mut c| {
                                c.version = version.to_string();
                                c
                            },
                        ),
                    )
                }
                // Several vendors' products have this name: which one runs here is unknown.
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// One finding: the record's shared facts, this service's basis, and what this match adds.
#[allow(clippy::too_many_arguments)]
fn finding(
    basis: &Basis,
    prep: &Prepared,
    app: Applicability,
    ranges: &[&str],
    platforms: &[&str],
    version: &str,
    distro: &Option<Distro>,
    product: &str,
) -> Finding {
    let rec = &prep.record;
    let mut reasons = basis.reasons.clone();
    let mut conf = basis.confidence;
    match app {
        Applicability::Affected => {}
        Applicability::Conditional => {
            conf -= 20;
            reasons.push(format!(
                "applies only together with a platform a scan does not see: {}",
                platforms
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Applicability::Unknown => {
            let named = rec.description.contains(version);
            conf = if named { 20 } else { 10 };
            reasons.push(format!(
                "NVD has no CPE configuration for it yet (status {}): applicability unknown; its description names {product}{}",
                if rec.status.is_empty() { "unknown" } else { rec.status.as_str() },
                if named {
                    format!(" and version {version}")
                } else {
                    " but not this version".to_string()
                }
            ));
        }
    }
    let distro = distro.as_ref().map(|dd| Distro {
        tracker: dd.tracker.replace("{cve}", &rec.id),
        ..dd.clone()
    });
    if let Some(dd) = &distro {
        conf = conf.min(30);
        reasons.push(format!(
            "{} build ({}): fixes may be backported (distributions patch without changing the upstream version), so this may be fixed; check {}",
            dd.name,
            truncate(&dd.evidence, 60),
            dd.tracker
        ));
    }
    Finding {
        cve: rec.id.clone(),
        applicability: app,
        product: ranges
            .first()
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or(product)
            .to_string(),
        version: version.to_string(),
        range: if ranges.is_empty() {
            "no CPE configuration in NVD".into()
        } else {
            ranges.join("; ")
        },
        cvss_v40: prep.cvss_v40.clone(),
        cvss_v31: prep.cvss_v31.clone(),
        score: prep.score,
        severity: severity_of(prep.score),
        kev: prep.kev.clone(),
        epss: prep.epss.clone(),
        confidence: conf.clamp(0, 100) as u8,
        reasons,
        distro,
        status: prep.status.clone(),
        description: prep.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_aliases_parse_and_expand() {
        let a = Aliases::parse(ALIASES_TOML).unwrap();
        let names = a.expand("f5", "nginx");
        assert!(names.contains(&("f5".into(), "nginx_open_source".into())));
        assert_eq!(a.expand("x", "y"), vec![("x".into(), "y".into())]);
    }

    /// A criterion of `openbsd:openssh` with `exact` or bounds, prepared.
    fn crit(exact: Option<&str>, update: &str, bounds: [Option<String>; 4]) -> CMatch {
        let [si, se, ei, ee] = bounds;
        CMatch::new(&CpeMatch {
            vulnerable: true,
            criteria: format!(
                "cpe:2.3:a:openbsd:openssh:{}:{update}:*:*:*:*:*:*",
                exact.unwrap_or("*")
            ),
            start_including: si,
            start_excluding: se,
            end_including: ei,
            end_excluding: ee,
        })
    }

    fn version_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "(r?[0-9]{1,2})(\\.[0-9]{1,2}){0,3}(p[0-9]|a|rc1|-S1)?|[0-9](\\.[0-9]){6,8}",
        )
        .unwrap()
    }

    proptest::proptest! {
        /// The compact index never rules out a record the full evaluation would match: for
        /// any criterion and version, `PreCrit::admits` is true whenever `CMatch::matches` is.
        #[test]
        fn prefilter_never_rejects_a_match(
            v in version_text(),
            exact in proptest::option::of(version_text()),
            update in proptest::sample::select(vec!["*", "p1", "-"]),
            b in proptest::collection::vec(proptest::option::of(version_text()), 4),
        ) {
            let bounds = [b[0].clone(), b[1].clone(), b[2].clone(), b[3].clone()];
            let m = crit(exact.as_deref(), update, bounds);
            let names = vec![("openbsd".to_string(), "openssh".to_string())];
            let detected = CpeName::parse(&format!("cpe:/a:openbsd:openssh:{v}")).unwrap();
            let version = Version::parse(&v);
            let base = Version::parse(base_version(&v));
            let t = Target {
                names: &names,
                keys: vec![name_key("openbsd", "openssh")],
                detected: &detected,
                version: &version,
                base: base.clone(),
            };
            if m.matches(&t) {
                let pre = PreCrit::new(0, &m);
                proptest::prop_assert!(pre.is_some());
                let pv = Packed::new(&version);
                if let (Some(pre), Some(pv)) = (pre, pv) {
                    proptest::prop_assert!(pre.admits(&pv, Packed::new(&base).as_ref()), "{:?} {:?}", m.text, v);
                }
            }
        }
    }

    /// Versions from a small pool, so that bounds and versions often coincide.
    fn pooled_version() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[1-3](\\.[0-2]){0,2}(p1|rc1|a)?|r2|1(\\.[0-1]){6,7}")
            .unwrap()
    }

    proptest::proptest! {
        /// The sorted index (binary search on exact versions and lower bounds, blocks skipped
        /// by their highest upper bound) finds exactly the records a walk over every
        /// criterion's `admits` finds.
        #[test]
        fn index_finds_what_a_linear_walk_finds(
            v in pooled_version(),
            crits in proptest::collection::vec(
                (
                    proptest::option::of(pooled_version()),
                    proptest::sample::select(vec!["*", "p1", "-"]),
                    proptest::collection::vec(proptest::option::of(pooled_version()), 4),
                proptest::bool::weighted(0.2),
                ),
                0..120,
            ),
        ) {
            let pre: Vec<PreCrit> = crits
                .iter()
                .enumerate()
                .filter_map(|(i, (exact, update, b, shared))| {
                    let bounds = [b[0].clone(), b[1].clone(), b[2].clone(), b[3].clone()];
                    // Most criteria a record of their own (so a miss shows), some shared.
                    let rec = if *shared { i as u32 % 7 } else { i as u32 };
                    PreCrit::new(rec, &crit(exact.as_deref(), update, bounds))
                })
                .collect();
            let version = Version::parse(&v);
            let base = Version::parse(base_version(&v));
            let index = ProductIndex::from_criteria(Vec::new(), &pre);
            let mut found = Vec::new();
            index.candidates(&version, &base, &mut found);
            let mut want: Vec<u32> = match (Packed::new(&version), Packed::new(&base)) {
                (Some(pv), pb) => pre
                    .iter()
                    .filter(|c| c.admits(&pv, pb.as_ref()))
                    .map(|c| c.rec)
                    .collect(),
                (None, _) => Vec::new(),
            };
            want.sort_unstable();
            want.dedup();
            proptest::prop_assert_eq!(found, want);
        }
    }

    proptest::proptest! {
        /// The index's order keys never contradict the order of versions.
        #[test]
        fn order_keys_never_contradict_the_version_order(a in version_text(), b in version_text()) {
            let (va, vb) = (Version::parse(&a), Version::parse(&b));
            if let (Some(pa), Some(pb)) = (Packed::new(&va), Packed::new(&vb)) {
                if order_key(&pa) < order_key(&pb) {
                    proptest::prop_assert!(va < vb, "{a} {b}");
                }
                if va <= vb {
                    proptest::prop_assert!(order_key(&pa) <= order_key(&pb), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn the_index_keeps_inclusive_ends_and_skips_blocks_that_end_below() {
        let mut pre = Vec::new();
        // A block of ranges that all end below 5.0, then one that ends at 5.0 inclusive.
        for i in 0..BLOCK as u32 {
            let m = crit(
                None,
                "*",
                [Some("1.0".into()), None, None, Some("4.0".into())],
            );
            pre.extend(PreCrit::new(i, &m));
        }
        let end = crit(
            None,
            "*",
            [Some("2.0".into()), None, Some("5.0".into()), None],
        );
        pre.extend(PreCrit::new(100, &end));
        let index = ProductIndex::from_criteria(Vec::new(), &pre);
        let mut found = Vec::new();
        let find = |v: &str, out: &mut Vec<u32>| {
            index.candidates(&Version::parse(v), &Version::parse(base_version(v)), out)
        };
        find("5.0", &mut found);
        assert_eq!(found, vec![100]);
        find("4.0", &mut found);
        assert_eq!(found, vec![100]);
        find("3.9", &mut found);
        assert_eq!(found.len(), BLOCK + 1);
        find("5.0p1", &mut found);
        assert!(found.is_empty());
    }

    #[test]
    fn the_index_rules_out_records_outside_their_ranges() {
        let m = crit(
            None,
            "*",
            [Some("8.6".into()), None, None, Some("9.8".into())],
        );
        let pre = PreCrit::new(0, &m).unwrap();
        let p = |s: &str| Packed::new(&Version::parse(s)).unwrap();
        assert!(pre.admits(&p("9.2p1"), Some(&p("9.2"))));
        assert!(pre.admits(&p("8.6"), Some(&p("8.6"))));
        assert!(!pre.admits(&p("9.8"), Some(&p("9.8"))));
        assert!(!pre.admits(&p("8.5p1"), Some(&p("8.5"))));
        assert!(!pre.admits(&p("r27"), None));
        let exact = PreCrit::new(0, &crit(Some("9.1"), "*", Default::default())).unwrap();
        assert!(exact.admits(&p("9.1p1"), Some(&p("9.1"))));
        assert!(!exact.admits(&p("9.2p1"), Some(&p("9.2"))));
    }

    fn sample_finding() -> Finding {
        Finding {
            cve: "CVE-2099-0001".into(),
            applicability: Applicability::Affected,
            product: "a:b".into(),
            version: "1.0".into(),
            range: "a:b < 2.0".into(),
            cvss_v40: None,
            cvss_v31: None,
            score: Some(5.3),
            severity: Severity::Medium,
            kev: None,
            epss: Some(Arc::new(EpssScore {
                cve: "CVE-2099-0001".into(),
                score: 0.02,
                percentile: 0.8,
                date: "2026-01-01".into(),
            })),
            confidence: 80,
            reasons: Vec::new(),
            distro: None,
            status: Arc::from("Analyzed"),
            description: Arc::from(""),
        }
    }

    #[test]
    fn kev_counts_as_at_least_high_and_unknown_never_counts() {
        let mut f = sample_finding();
        assert_eq!(f.gate_severity(), Some(Severity::Medium));
        f.kev = Some(Arc::new(KevEntry {
            cve: f.cve.clone(),
            vendor: "V".into(),
            product: "P".into(),
            name: "N".into(),
            date_added: "2026-01-01".into(),
            due_date: "2026-01-22".into(),
            ransomware: "Unknown".into(),
        }));
        assert_eq!(f.gate_severity(), Some(Severity::High));
        f.severity = Severity::Critical;
        assert_eq!(f.gate_severity(), Some(Severity::Critical));
        f.applicability = Applicability::Unknown;
        assert_eq!(f.gate_severity(), None);
    }

    #[test]
    fn filters_keep_what_passes_every_one() {
        let f = sample_finding();
        let keep = |flt: Filter| flt.keep(&f);
        assert!(keep(Filter::default()));
        assert!(!Filter::default().is_active());
        assert!(keep(Filter {
            min_cvss: Some(5.3),
            ..Filter::default()
        }));
        assert!(!keep(Filter {
            min_cvss: Some(7.0),
            ..Filter::default()
        }));
        assert!(!keep(Filter {
            kev_only: true,
            ..Filter::default()
        }));
        assert!(keep(Filter {
            min_epss: Some(0.01),
            ..Filter::default()
        }));
        assert!(!keep(Filter {
            min_epss: Some(0.5),
            ..Filter::default()
        }));
        assert!(!keep(Filter {
            min_confidence: 81,
            ..Filter::default()
        }));
        let mut unknown = sample_finding();
        unknown.applicability = Applicability::Unknown;
        unknown.score = None;
        unknown.epss = None;
        let no_unknown = Filter {
            no_unknown: true,
            ..Filter::default()
        };
        assert!(!no_unknown.keep(&unknown) && no_unknown.keep(&f));
        // A filter on a score hides what has none.
        assert!(!Filter {
            min_epss: Some(0.0),
            ..Filter::default()
        }
        .keep(&unknown));
    }

    #[test]
    fn base_versions() {
        assert_eq!(base_version("9.2p1"), "9.2");
        assert_eq!(base_version("2.3.19.1"), "2.3.19.1");
        assert_eq!(base_version("9.16.1-S1"), "9.16.1");
        assert_eq!(base_version("1."), "1");
        assert_eq!(base_version("r27"), "");
    }

    #[test]
    fn distros_are_recognised() {
        let d = |s: &str| detect_distro(&[s.to_string()]).map(|d| d.name);
        assert_eq!(d("Debian-2+deb12u3").as_deref(), Some("Debian"));
        assert_eq!(
            d("OpenSSH_8.9p1 Ubuntu-3ubuntu0.6").as_deref(),
            Some("Ubuntu")
        );
        assert_eq!(d("OpenSSH_8.0p1 el8").as_deref(), Some("Red Hat"));
        assert_eq!(d("nginx/1.22.1").as_deref(), None);
        assert_eq!(d("protocol 2.0").as_deref(), None);
        assert_eq!(d("develop").as_deref(), None);
    }
}
