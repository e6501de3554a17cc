//! Output formats of a scan.

use std::fmt;

/// Output formats of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The human table.
    Table,
    /// JSON Lines (also spelt `json`, `ndjson`): docs/schema/scan-jsonl.md.
    Jsonl,
    /// nmap-compatible XML.
    Xml,
    /// nmap's grepable format.
    Grep,
    /// CSV: docs/schema/scan-csv.md.
    Csv,
}

impl Format {
    pub const NAMES: &'static str = "table, json (= jsonl), xml, grep, csv";
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Jsonl => "jsonl",
            Format::Xml => "xml",
            Format::Grep => "grep",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "normal" | "txt" => Ok(Format::Table),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            "xml" => Ok(Format::Xml),
            "grep" | "grepable" | "gnmap" => Ok(Format::Grep),
            "csv" => Ok(Format::Csv),
            _ => Err(format!(
                "unknown output format {s:?}: use table, json (= jsonl), xml, grep or csv"
            )),
        }
    }
}
