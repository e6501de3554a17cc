//! NVD CVE API 2.0 records: the JSON shape, what Portolan keeps of it, and a streaming reader.
//!
//! Accepted inputs (each a JSON text):
//! - one CVE object, as mirrored per CVE (`{"id": "CVE-…", "configurations": …}`);
//! - one `vulnerabilities[]` item (`{"cve": {…}}`);
//! - an API page or a feed file (`{"resultsPerPage": …, "vulnerabilities": [{"cve": …}, …]}`),
//!   read element by element: memory is bounded by the largest record, not by the file;
//! - a JSON array of CVE objects or items.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::io::Read;

/// What Portolan keeps of one CVE record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CveRecord {
    pub id: String,
    /// NVD's `lastModified` (ISO 8601 without zone, UTC): a newer one replaces an older record.
    pub last_modified: String,
    #[serde(default)]
    pub published: String,
    /// `Analyzed`, `Modified`, `Awaiting Analysis`, `Rejected`, ...
    #[serde(default)]
    pub status: String,
    /// The English description.
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v40: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v31: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v30: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v2: Option<Cvss>,
    #[serde(default)]
    pub configurations: Vec<Configuration>,
}

/// One CVSS score as NVD gives it (the primary, NVD's own, when there is one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    pub version: String,
    pub score: f64,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub vector: String,
    /// Who scored it (`nvd@nist.gov`, a CNA's address).
    #[serde(default)]
    pub source: String,
}

/// `AND`/`OR` of a configuration or a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Operator {
    And,
    #[default]
    Or,
}

/// One NVD configuration: nodes combined by `operator` (NVD omits it for one node: `OR`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    #[serde(default)]
    pub operator: Operator,
    #[serde(default)]
    pub negate: bool,
    pub nodes: Vec<Node>,
}

/// A node: CPE match criteria combined by `operator`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub operator: Operator,
    #[serde(default)]
    pub negate: bool,
    pub cpe_match: Vec<CpeMatch>,
}

/// One CPE match criterion with its optional version range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpeMatch {
    /// `false` for a platform the product runs on (`running on/with`): never the product.
    pub vulnerable: bool,
    pub criteria: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_including: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_excluding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_including: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_excluding: Option<String>,
}

impl CveRecord {
    /// Whether NVD has given it any CPE configuration (records `Awaiting Analysis` have none).
    pub fn has_configuration(&self) -> bool {
        self.configurations.iter().any(|c| !c.nodes.is_empty())
    }

    /// The CVSS score shown first: v4.0, else v3.1, v3.0, v2.
    pub fn best_cvss(&self) -> Option<&Cvss> {
        self.cvss_v40
            .as_ref()
            .or(self.cvss_v31.as_ref())
            .or(self.cvss_v30.as_ref())
            .or(self.cvss_v2.as_ref())
    }

    /// The highest base score among the versions present.
    pub fn max_score(&self) -> Option<f64> {
        [
            &self.cvss_v40,
            &self.cvss_v31,
            &self.cvss_v30,
            &self.cvss_v2,
        ]
        .iter()
        .filter_map(|c| c.as_ref().map(|c| c.score))
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))))
    }

    /// Every (vendor, product) named by a `vulnerable: true` criterion: the index keys.
    pub fn vulnerable_products(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .configurations
            .iter()
            .flat_map(|c| &c.nodes)
            .flat_map(|n| &n.cpe_match)
            .filter(|m| m.vulnerable)
            .filter_map(|m| crate::cpe::CpeName::parse(&m.criteria))
            .map(|c| (c.vendor, c.product))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

// ---- the JSON shape (NVD CVE API 2.0) ----------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCve {
    id: String,
    #[serde(default)]
    last_modified: String,
    #[serde(default)]
    published: String,
    #[serde(default)]
    vuln_status: String,
    #[serde(default)]
    descriptions: Vec<RawLangString>,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    configurations: Vec<RawConfiguration>,
}

#[derive(Deserialize)]
struct RawLangString {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize, Default)]
struct RawMetrics {
    #[serde(default, rename = "cvssMetricV40")]
    v40: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV31")]
    v31: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV30")]
    v30: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV2")]
    v2: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetric {
    #[serde(default)]
    source: String,
    #[serde(default, rename = "type")]
    kind: String,
    cvss_data: RawCvssData,
    /// CVSS v2 keeps the severity outside `cvssData`.
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssData {
    #[serde(default)]
    version: String,
    #[serde(default)]
    vector_string: String,
    base_score: f64,
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
struct RawConfiguration {
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNode {
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    cpe_match: Vec<RawCpeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCpeMatch {
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

fn operator(s: Option<&str>) -> Operator {
    match s {
        Some(o) if o.eq_ignore_ascii_case("and") => Operator::And,
        _ => Operator::Or,
    }
}

fn pick(metrics: Vec<RawMetric>) -> Option<Cvss> {
    let i = metrics
        .iter()
        .position(|m| m.kind == "Primary")
        .unwrap_or(0);
    metrics.into_iter().nth(i).map(|m| Cvss {
        version: m.cvss_data.version,
        score: m.cvss_data.base_score,
        severity: m
            .cvss_data
            .base_severity
            .or(m.base_severity)
            .unwrap_or_default(),
        vector: m.cvss_data.vector_string,
        source: m.source,
    })
}

impl From<RawCve> for CveRecord {
    fn from(r: RawCve) -> CveRecord {
        let description = r
            .descriptions
            .iter()
            .find(|d| d.lang == "en")
            .or(r.descriptions.first())
            .map(|d| d.value.clone())
            .unwrap_or_default();
        CveRecord {
            id: r.id,
            last_modified: r.last_modified,
            published: r.published,
            status: r.vuln_status,
            description,
            cvss_v40: pick(r.metrics.v40),
            cvss_v31: pick(r.metrics.v31),
            cvss_v30: pick(r.metrics.v30),
            cvss_v2: pick(r.metrics.v2),
            configurations: r
                .configurations
                .into_iter()
                .map(|c| Configuration {
                    operator: operator(c.operator.as_deref()),
                    negate: c.negate,
                    nodes: c
                        .nodes
                        .into_iter()
                        .map(|n| Node {
                            operator: operator(n.operator.as_deref()),
                            negate: n.negate,
                            cpe_match: n
                                .cpe_match
                                .into_iter()
                                .map(|m| CpeMatch {
                                    vulnerable: m.vulnerable,
                                    criteria: m.criteria,
                                    start_including: m.version_start_including,
                                    start_excluding: m.version_start_excluding,
                                    end_including: m.version_end_including,
                                    end_excluding: m.version_end_excluding,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

// ---- streaming reader ----------------------------------------------------------------------

/// Why an NVD JSON text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NvdError {
    #[error("not NVD CVE API 2.0 JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no CVE record in it: expected a CVE object (\"id\"), an item (\"cve\") or a page (\"vulnerabilities\")")]
    Empty,
}

/// Stops the stream when the sink fails; the sink's error is kept outside serde.
struct Emit<'a, E> {
    sink: &'a mut dyn FnMut(CveRecord) -> Result<(), E>,
    error: Option<E>,
    count: u64,
}

impl<E> Emit<'_, E> {
    fn emit<D: de::Error>(&mut self, raw: RawCve) -> Result<(), D> {
        self.count += 1;
        match (self.sink)(raw.into()) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.error = Some(e);
                Err(D::custom("stopped by the record sink"))
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Element {
    Item { cve: RawCve },
    Bare(RawCve),
}

impl Element {
    fn into_raw(self) -> RawCve {
        match self {
            Element::Item { cve } | Element::Bare(cve) => cve,
        }
    }
}

struct Top<'a, 'b, E>(&'a mut Emit<'b, E>);

impl<'de, E> DeserializeSeed<'de> for Top<'_, '_, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for Top<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an NVD CVE object, item, page or array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(e) = seq.next_element::<Element>()? {
            self.0.emit(e.into_raw())?;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "vulnerabilities" => map.next_value_seed(Items(&mut *self.0))?,
                "cve" => {
                    let raw: RawCve = map.next_value()?;
                    self.0.emit(raw)?;
                }
                // The fields of a bare CVE object (small: kept to parse at the end).
                "id" | "lastModified" | "published" | "vulnStatus" | "descriptions" | "metrics"
                | "configurations" => {
                    let v: serde_json::Value = map.next_value()?;
                    rest.insert(key, v);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if rest.contains_key("id") {
            let raw =
                RawCve::deserialize(serde_json::Value::Object(rest)).map_err(de::Error::custom)?;
            self.0.emit(raw)?;
        }
        Ok(())
    }
}

struct Items<'a, 'b, E>(&'a mut Emit<'b, E>);

impl<'de, E> DeserializeSeed<'de> for Items<'_, '_, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, E> Visitor<'de> for Items<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {\"cve\": {...}} items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(e) = seq.next_element::<Element>()? {
            self.0.emit(e.into_raw())?;
        }
        Ok(())
    }
}

/// Outcome of [`read_records`] when the sink itself failed.
#[derive(Debug)]
pub enum StreamError<E> {
    Parse(NvdError),
    Sink(E),
}

/// Read every CVE record of one NVD JSON text from `r`, calling `sink` for each, one at a time.
/// Returns how many records were read. A sink error stops the read and is returned as is.
pub fn read_records<R: Read, E>(
    r: R,
    sink: &mut dyn FnMut(CveRecord) -> Result<(), E>,
) -> Result<u64, StreamError<E>> {
    let mut emit = Emit {
        sink,
        error: None,
        count: 0,
    };
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, r));
    let res = Top(&mut emit).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = emit.error.take() {
        return Err(StreamError::Sink(e));
    }
    res.map_err(|e| StreamError::Parse(e.into()))?;
    if emit.count == 0 {
        return Err(StreamError::Parse(NvdError::Empty));
    }
    Ok(emit.count)
}

/// Parse every record of an in-memory NVD JSON text (tests, fuzzing).
pub fn parse_records(bytes: &[u8]) -> Result<Vec<CveRecord>, NvdError> {
    let mut out = Vec::new();
    match read_records::<_, std::convert::Infallible>(bytes, &mut |r| {
        out.push(r);
        Ok(())
    }) {
        Ok(_) => Ok(out),
        Err(StreamError::Parse(e)) => Err(e),
        Err(StreamError::Sink(never)) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"id":"CVE-2099-0001","lastModified":"2024-01-01T00:00:00.000","vulnStatus":"Analyzed",
      "descriptions":[{"lang":"es","value":"hola"},{"lang":"en","value":"hello"}],
      "metrics":{"cvssMetricV31":[{"source":"cna","type":"Secondary","cvssData":{"version":"3.1","vectorString":"V","baseScore":5.0,"baseSeverity":"MEDIUM"}},
                                  {"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"W","baseScore":9.8,"baseSeverity":"CRITICAL"}}],
                 "cvssMetricV2":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"2.0","vectorString":"X","baseScore":5.0},"baseSeverity":"MEDIUM"}]},
      "configurations":[{"operator":"AND","nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:v:p:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0","matchCriteriaId":"X"}]},
                                                   {"operator":"OR","cpeMatch":[{"vulnerable":false,"criteria":"cpe:2.3:o:v:os:-:*:*:*:*:*:*:*"}]}]}]}"#;

    #[test]
    fn reads_every_shape() {
        let r = parse_records(ONE.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.description, "hello");
        assert_eq!(r.cvss_v31.as_ref().unwrap().score, 9.8);
        assert_eq!(r.cvss_v2.as_ref().unwrap().severity, "MEDIUM");
        assert_eq!(r.configurations[0].operator, Operator::And);
        assert_eq!(
            r.configurations[0].nodes[0].cpe_match[0]
                .end_excluding
                .as_deref(),
            Some("2.0")
        );
        assert_eq!(r.vulnerable_products(), vec![("v".into(), "p".into())]);

        let item = format!(r#"{{"cve":{ONE}}}"#);
        assert_eq!(parse_records(item.as_bytes()).unwrap().len(), 1);
        let page = format!(
            r#"{{"resultsPerPage":2,"format":"NVD_CVE","vulnerabilities":[{{"cve":{ONE}}},{{"cve":{ONE}}}],"timestamp":"x"}}"#
        );
        assert_eq!(parse_records(page.as_bytes()).unwrap().len(), 2);
        let array = format!("[{ONE},{{\"cve\":{ONE}}}]");
        assert_eq!(parse_records(array.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn rejects_what_is_not_nvd() {
        for bad in [
            "",
            "{}",
            "[]",
            "{\"vulnerabilities\":[]}",
            "{\"id\":1}",
            "{\"id\":\"CVE-1\"} trailing",
            "{\"vulnerabilities\":[{\"cveID\":\"CVE-1\"}]}",
            "nope",
        ] {
            assert!(parse_records(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_sink_error_stops_the_stream() {
        let page = format!(r#"{{"vulnerabilities":[{{"cve":{ONE}}},{{"cve":{ONE}}}]}}"#);
        let mut seen = 0;
        let r = read_records(page.as_bytes(), &mut |_| {
            seen += 1;
            Err("full")
        });
        assert!(matches!(r, Err(StreamError::Sink("full"))));
        assert_eq!(seen, 1);
    }
}
