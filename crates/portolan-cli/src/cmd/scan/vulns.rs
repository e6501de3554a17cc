//! `portolan scan -sV --vulns`: the known vulnerabilities of each detected version, from the
//! database `portolan vulns import` fills, attached to the service as a `portolan-vulns`
//! script result so that every output format shows them (table under the port, a `vulns`
//! array in JSON Lines, an NSE-style `<script>` with `<table>`/`<elem>` in XML, the CVE ids in
//! grep and CSV). The filters (`--min-cvss`, `--kev`, `--min-epss`, `--min-confidence`,
//! `--no-unknown`) apply before the script is made, so every format shows the same findings,
//! and `--fail-on` counts those ([`worst`]).

use std::path::Path;

use anyhow::{bail, Result};
use portolan_model::{Script, ScriptElem, Service, VULNS_SCRIPT};
use portolan_vuln::db::{self, SqliteStore, VulnStore};
use portolan_vuln::matcher::{Aliases, Applicability, Detected, Filter, Finding, Matcher};

use crate::term::escape;

/// The vulnerability database, opened and checked before the scan sends anything.
pub struct Vulns {
    store: SqliteStore,
    filter: Filter,
    quiet: bool,
}

/// The filters the flags ask for.
pub fn filter(args: &super::ScanArgs) -> Filter {
    Filter {
        min_cvss: args.min_cvss,
        kev_only: args.kev,
        min_epss: args.min_epss,
        min_confidence: args.min_confidence.unwrap_or(0),
        no_unknown: args.no_unknown,
    }
}

/// The highest severity the `portolan-vulns` findings of `s` count with for `--fail-on`
/// ([`Finding::gate_severity`]: CVSS severity, at least high in KEV, unknown applicability
/// never), read back from the script's records (so findings kept from a resumed scan count
/// too).
pub fn worst(s: &Service) -> Option<portolan_model::Severity> {
    s.scripts
        .iter()
        .filter(|sc| sc.id == VULNS_SCRIPT)
        .flat_map(|sc| &sc.records)
        .filter_map(|r| serde_json::from_value::<Finding>(r.clone()).ok())
        .filter_map(|f| f.gate_severity())
        .max()
}

impl Vulns {
    /// Open the database at `path` (default: vulns.sqlite3 in the data directory); an absent
    /// or empty database is an error that says how to import one.
    pub fn open(path: Option<&Path>, filter: Filter, quiet: bool) -> Result<Vulns> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => match db::default_path() {
                Some(p) => p,
                None => bail!(
                    "--vulns needs the vulnerability database, and there is no data directory: set PORTOLAN_DATA_DIR or HOME, or pass --vulns-db PATH"
                ),
            },
        };
        let how = "import the feeds first (offline files: NVD API 2.0 JSON, CISA KEV, FIRST EPSS): `portolan vulns import nvd/ kev.json epss.csv.gz`, or pass --vulns-db PATH";
        let shown = escape(&path.display().to_string());
        let Some(store) = SqliteStore::open_existing(&path)? else {
            bail!("--vulns needs a vulnerability database and there is none at {shown}: {how}");
        };
        if store.stats()?.cves == 0 {
            bail!("--vulns: the vulnerability database {shown} holds no CVE record: {how}");
        }
        Ok(Vulns {
            store,
            filter,
            quiet,
        })
    }

    /// Attach a `portolan-vulns` script to each service with a version that has findings.
    pub fn annotate(&self, services: &mut [(portolan_model::PortKey, Service)]) -> Result<()> {
        let matcher = Matcher::new(&self.store, Aliases::builtin());
        let mut hidden_total = 0;
        for (_, s) in services.iter_mut() {
            let d = Detected::from_service(s);
            if d.version.is_none() {
                continue;
            }
            let all = matcher.match_shared(&d)?;
            let shown: Vec<Finding> = all
                .iter()
                .filter(|f| self.filter.keep(f))
                .cloned()
                .collect();
            let hidden = all.len() - shown.len();
            hidden_total += hidden;
            if shown.is_empty() {
                continue;
            }
            s.scripts.push(script(s, &shown, hidden));
        }
        if hidden_total > 0 && !self.quiet {
            eprintln!(
                "portolan: --vulns: {hidden_total} finding(s) hidden by --min-cvss, --kev, --min-epss, --min-confidence or --no-unknown"
            );
        }
        Ok(())
    }
}

fn applicability(a: Applicability) -> &'static str {
    match a {
        Applicability::Affected => "affected",
        Applicability::Conditional => "conditional",
        Applicability::Unknown => "unknown applicability",
    }
}

/// The script result of one service's findings (most severe first, as the matcher orders).
fn script(s: &Service, findings: &[Finding], hidden: usize) -> Script {
    let key = s
        .cpe
        .first()
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|| {
            [s.product.as_deref(), s.version.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        });
    let mut output = match hidden {
        0 => format!("{key}: {} known vulnerabilities\n", findings.len()),
        n => format!(
            "{key}: {} known vulnerabilities ({n} more hidden by filters)\n",
            findings.len()
        ),
    };
    let mut rows = Vec::new();
    for f in findings {
        let score = f.score.map_or("-".to_string(), |s| format!("{s:.1}"));
        let mut line = format!(
            "{} {score} {} {}, confidence {}%",
            f.cve,
            f.severity.as_str(),
            applicability(f.applicability),
            f.confidence
        );
        if let Some(k) = &f.kev {
            line.push_str(&format!(
                "; KEV (exploited in the wild), due {}",
                k.due_date
            ));
        }
        if let Some(e) = &f.epss {
            line.push_str(&format!("; EPSS {:.3}", e.score));
        }
        output.push_str(&line);
        output.push('\n');
        let elem = |k: &str, v: String| ScriptElem::Elem {
            key: Some(k.to_string()),
            value: v,
        };
        let mut elems = vec![
            elem("id", f.cve.clone()),
            elem("cvss", score),
            elem("severity", f.severity.as_str().to_string()),
            elem("type", "cve".to_string()),
            elem("applicability", applicability(f.applicability).to_string()),
            elem("confidence", f.confidence.to_string()),
            elem("range", f.range.clone()),
            elem("is_exploit", f.kev.is_some().to_string()),
        ];
        if let Some(k) = &f.kev {
            elems.push(elem("kev_due_date", k.due_date.clone()));
        }
        if let Some(e) = &f.epss {
            elems.push(elem("epss", format!("{:.5}", e.score)));
            elems.push(elem("epss_percentile", format!("{:.5}", e.percentile)));
        }
        rows.push(ScriptElem::Table { key: None, elems });
    }
    // The reasons every finding shares (where the version came from, a distribution build)
    // once, after the list.
    let shared: Vec<&String> = findings[0]
        .reasons
        .iter()
        .filter(|r| findings.iter().all(|f| f.reasons.contains(r)))
        .collect();
    for r in &shared {
        output.push_str(&format!("why: {r}\n"));
    }
    if let Some(d) = &findings[0].distro {
        output.push_str(&format!(
            "{} build: fixes may be backported; check each CVE in {}\n",
            d.name,
            d.tracker.replace(&findings[0].cve, "CVE-ID")
        ));
    }
    Script {
        id: VULNS_SCRIPT.to_string(),
        output,
        elems: vec![ScriptElem::Table {
            key: Some(key),
            elems: rows,
        }],
        records: findings
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
    }
}
