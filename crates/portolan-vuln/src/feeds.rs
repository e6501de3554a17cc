//! CISA Known Exploited Vulnerabilities (JSON and CSV) and FIRST EPSS (CSV) readers.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read};

/// One KEV catalogue entry (the fields a defender acts on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    pub cve: String,
    pub vendor: String,
    pub product: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_added: String,
    /// `YYYY-MM-DD`: the date US federal agencies must have remediated by.
    pub due_date: String,
    /// `Known` or `Unknown`.
    pub ransomware: String,
}

/// One EPSS score: probability of exploitation activity in the next 30 days, and its
/// percentile among all scored CVEs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    pub cve: String,
    pub score: f64,
    pub percentile: f64,
    /// The `score_date` of the file (may be empty).
    pub date: String,
}

/// Why a KEV or EPSS text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not the CISA KEV JSON catalogue: {0}")]
    KevJson(serde_json::Error),
    #[error("not the CISA KEV CSV: {0}")]
    KevCsv(String),
    #[error("not a FIRST EPSS CSV: line {line}: {why}")]
    Epss { line: u64, why: String },
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    #[serde(default)]
    date_added: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

impl From<RawKev> for KevEntry {
    fn from(r: RawKev) -> KevEntry {
        KevEntry {
            cve: r.cve_id.trim().to_ascii_uppercase(),
            vendor: r.vendor_project,
            product: r.product,
            name: r.vulnerability_name,
            date_added: r.date_added,
            due_date: r.due_date,
            ransomware: r.known_ransomware_campaign_use,
        }
    }
}

#[derive(Deserialize)]
struct RawCatalogue {
    vulnerabilities: Vec<RawKev>,
}

fn valid_cve_id(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parse the KEV JSON catalogue (`known_exploited_vulnerabilities.json`).
pub fn parse_kev_json(bytes: &[u8]) -> Result<Vec<KevEntry>, FeedError> {
    let c: RawCatalogue = serde_json::from_slice(bytes).map_err(FeedError::KevJson)?;
    let out: Vec<KevEntry> = c.vulnerabilities.into_iter().map(KevEntry::from).collect();
    if let Some(bad) = out.iter().find(|e| !valid_cve_id(&e.cve)) {
        return Err(FeedError::KevCsv(format!(
            "{:?} is not a CVE id",
            bad.cve.chars().take(40).collect::<String>()
        )));
    }
    Ok(out)
}

/// Parse the KEV CSV (`known_exploited_vulnerabilities.csv`), header required.
pub fn parse_kev_csv<R: Read>(r: R) -> Result<Vec<KevEntry>, FeedError> {
    let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(r);
    let headers = rd
        .headers()
        .map_err(|e| FeedError::KevCsv(e.to_string()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let id = col("cveID").ok_or_else(|| FeedError::KevCsv("no cveID column".into()))?;
    let (vendor, product, name, added, due, ransom) = (
        col("vendorProject"),
        col("product"),
        col("vulnerabilityName"),
        col("dateAdded"),
        col("dueDate"),
        col("knownRansomwareCampaignUse"),
    );
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| FeedError::KevCsv(e.to_string()))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        let cve = get(Some(id)).trim().to_ascii_uppercase();
        if !valid_cve_id(&cve) {
            return Err(FeedError::KevCsv(format!(
                "record {}: {:?} is not a CVE id",
                i + 1,
                cve.chars().take(40).collect::<String>()
            )));
        }
        out.push(KevEntry {
            cve,
            vendor: get(vendor),
            product: get(product),
            name: get(name),
            date_added: get(added),
            due_date: get(due),
            ransomware: get(ransom),
        });
    }
    Ok(out)
}

/// Read a FIRST EPSS CSV (`#model_version:…,score_date:…` line, then `cve,epss,percentile`),
/// calling `sink` per row: memory does not grow with the file. Returns the rows read.
pub fn read_epss<R: BufRead, E>(
    r: R,
    sink: &mut dyn FnMut(EpssScore) -> Result<(), E>,
) -> Result<Result<u64, E>, FeedError> {
    let mut date = String::new();
    let mut header = false;
    let mut n = 0u64;
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        let lineno = i as u64 + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(meta) = line.strip_prefix('#') {
            for kv in meta.split(',') {
                if let Some(d) = kv.trim().strip_prefix("score_date:") {
                    date = d.chars().take(40).collect();
                }
            }
            continue;
        }
        if !header {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            if cols.first() != Some(&"cve") || cols.get(1) != Some(&"epss") {
                return Err(FeedError::Epss {
                    line: lineno,
                    why: "expected the header cve,epss,percentile".into(),
                });
            }
            header = true;
            continue;
        }
        let mut cols = line.split(',');
        let (cve, score, pct) = (cols.next(), cols.next(), cols.next());
        let bad = |why: &str| FeedError::Epss {
            line: lineno,
            why: why.into(),
        };
        let cve = cve
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| valid_cve_id(c))
            .ok_or_else(|| bad("the first column is not a CVE id"))?;
        let num = |s: Option<&str>| {
            s.and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|x| (0.0..=1.0).contains(x))
        };
        let score = num(score).ok_or_else(|| bad("epss is not a number in [0, 1]"))?;
        let percentile = num(pct).ok_or_else(|| bad("percentile is not a number in [0, 1]"))?;
        n += 1;
        if let Err(e) = sink(EpssScore {
            cve,
            score,
            percentile,
            date: date.clone(),
        }) {
            return Ok(Err(e));
        }
    }
    if !header {
        return Err(FeedError::Epss {
            line: 0,
            why: "no cve,epss,percentile header".into(),
        });
    }
    Ok(Ok(n))
}

/// All rows of an in-memory EPSS CSV (tests, fuzzing).
pub fn parse_epss(bytes: &[u8]) -> Result<Vec<EpssScore>, FeedError> {
    let mut out = Vec::new();
    match read_epss::<_, std::convert::Infallible>(bytes, &mut |s| {
        out.push(s);
        Ok(())
    })? {
        Ok(_) => Ok(out),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epss_rows_and_errors() {
        let text = "#model_version:v2026.06.15,score_date:2026-09-29T12:00:22Z\ncve,epss,percentile\nCVE-2023-28531,0.02267,0.8236\n";
        let r = parse_epss(text.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].cve, "CVE-2023-28531");
        assert_eq!(r[0].percentile, 0.8236);
        assert_eq!(r[0].date, "2026-09-29T12:00:22Z");
        for bad in [
            "",
            "cve,epss,percentile\nCVE-1,0.1,0.2\n",
            "cve,epss,percentile\nCVE-2023-0001,2,0.2\n",
            "cve,epss,percentile\nCVE-2023-0001,NaN,0.2\n",
            "a,b,c\n",
        ] {
            assert!(parse_epss(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kev_rejects_what_is_not_kev() {
        assert!(parse_kev_json(b"{}").is_err());
        assert!(parse_kev_json(br#"{"vulnerabilities":[{"cveID":"x"}]}"#).is_err());
        assert!(parse_kev_csv("a,b\n1,2\n".as_bytes()).is_err());
        assert!(parse_kev_csv("cveID,dueDate\nnope,2020-01-01\n".as_bytes()).is_err());
    }
}
