//! Parser for IANA's "Service Name and Transport Protocol Port Number Registry" CSV export.
//!
//! This module has no dependencies outside `std`: the build script includes it (with
//! `#[path]`) to compile the registry into the binary, and the library uses it at run time
//! only to validate and load a user-refreshed copy (`portolan registry update`).
//!
//! Quirks of the export that are handled here:
//! - quoted fields that span several lines (Assignment Notes) and doubled quotes inside them;
//! - a port column holding a single port, a range `a-b`, or nothing (a service name registered
//!   without a port, for DNS-SD / SRV use);
//! - an empty protocol column (Unassigned and Reserved ranges);
//! - rows with no service name (Unassigned, Reserved, De-registered, Removed);
//! - alias entries ("This entry is an alias to ...") that repeat another name's port.

use std::fmt;

/// The columns of the export, in order. The header must match these (case-insensitive).
pub const COLUMNS: [&str; 12] = [
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Assignee",
    "Contact",
    "Registration Date",
    "Modification Date",
    "Reference",
    "Service Code",
    "Unauthorized Use Reported",
    "Assignment Notes",
];

/// Number of text fields kept per record (all columns but port and protocol).
pub const TEXT_FIELDS: usize = 10;

/// Index of each text field in [`PackedRecord::text`].
pub mod field {
    pub const SERVICE: usize = 0;
    pub const DESCRIPTION: usize = 1;
    pub const ASSIGNEE: usize = 2;
    pub const CONTACT: usize = 3;
    pub const REGISTRATION_DATE: usize = 4;
    pub const MODIFICATION_DATE: usize = 5;
    pub const REFERENCE: usize = 6;
    pub const SERVICE_CODE: usize = 7;
    pub const UNAUTHORIZED_USE: usize = 8;
    pub const NOTES: usize = 9;
}

/// Protocol codes stored in [`PackedRecord::proto`].
pub mod proto {
    pub const NONE: u8 = 0;
    pub const TCP: u8 = 1;
    pub const UDP: u8 = 2;
    pub const SCTP: u8 = 3;
    pub const DCCP: u8 = 4;
}

/// Kind codes stored in [`PackedRecord::kind`].
pub mod kind {
    /// A service name assigned to a port (or port range).
    pub const ASSIGNED: u8 = 0;
    /// A port or range IANA lists as unassigned.
    pub const UNASSIGNED: u8 = 1;
    /// A port or range IANA lists as reserved.
    pub const RESERVED: u8 = 2;
    /// An alias entry: a second name for another entry's port.
    pub const ALIAS: u8 = 3;
    /// A service name registered without a port (for DNS-SD / SRV records).
    pub const NAME_ONLY: u8 = 4;
    /// A row without a service name that is neither unassigned nor reserved
    /// (De-registered, Removed, ...).
    pub const OTHER: u8 = 5;
}

/// One record of the registry, packed: text fields are byte spans into a shared string blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedRecord {
    /// `(start, end)` byte offsets of each text field in the blob, see [`field`].
    pub text: [(u32, u32); TEXT_FIELDS],
    /// First port of the record (0 when the record has no port).
    pub port_lo: u16,
    /// Last port of the record (equal to `port_lo` for a single port).
    pub port_hi: u16,
    /// Whether the record has a port at all.
    pub has_port: bool,
    /// Protocol code, see [`proto`].
    pub proto: u8,
    /// Kind code, see [`kind`].
    pub kind: u8,
}

/// A registry parsed and packed: the blob, the records and the lookup indexes.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    pub blob: String,
    pub records: Vec<PackedRecord>,
    /// Indexes of single-port records, sorted by (port, protocol, position in the file).
    pub by_port: Vec<u32>,
    /// Indexes of records whose port is a range `lo < hi`, sorted by (lo, position in the file).
    pub ranges: Vec<u32>,
    /// `ranges_max_hi[i]`: the highest `hi` among `ranges[..=i]`, so a lookup can skip every
    /// range that ends before the port without looking at it.
    pub ranges_max_hi: Vec<u16>,
    /// Indexes of records with a service name, sorted by (lowercase name, port, protocol).
    pub by_name: Vec<u32>,
}

/// Why a CSV export was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// 1-based line of the file where the bad record starts (0 for the whole file).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for CsvError {}

fn err(line: usize, message: impl Into<String>) -> CsvError {
    CsvError {
        line,
        message: message.into(),
    }
}

/// Split CSV text (RFC 4180: `"` quoting, `""` escapes, CRLF or LF line ends, fields that span
/// lines) into records of fields. Each record comes with the 1-based line it starts on.
pub fn split_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut line = 1usize;
    let mut rec_line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cur.push('"');
                    } else {
                        in_quotes = false;
                    }
                }
                '\r' => {
                    // Keep line breaks inside quoted fields as '\n'.
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    cur.push('\n');
                }
                '\n' => {
                    line += 1;
                    cur.push('\n');
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' if cur.is_empty() && !quoted_field => {
                in_quotes = true;
                quoted_field = true;
            }
            '"' => {
                return Err(err(
                    line,
                    "a quote inside an unquoted field; the file is not valid CSV",
                ))
            }
            ',' => {
                fields.push(std::mem::take(&mut cur));
                quoted_field = false;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                fields.push(std::mem::take(&mut cur));
                quoted_field = false;
                let rec = std::mem::take(&mut fields);
                if !(rec.len() == 1 && rec[0].is_empty()) {
                    out.push((rec_line, rec));
                }
                line += 1;
                rec_line = line;
            }
            _ => {
                if quoted_field {
                    return Err(err(line, "text after a closing quote"));
                }
                cur.push(c);
            }
        }
    }
    if in_quotes {
        return Err(err(
            rec_line,
            "a quoted field is never closed (the file is truncated?)",
        ));
    }
    if !cur.is_empty() || !fields.is_empty() || quoted_field {
        fields.push(cur);
        out.push((rec_line, fields));
    }
    Ok(out)
}

/// One record as parsed, before packing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    pub line: usize,
    pub port: Option<(u16, u16)>,
    pub proto: u8,
    pub kind: u8,
    /// Text fields, indexed as in [`field`].
    pub text: [String; TEXT_FIELDS],
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .map_err(|_| format!("port number {s:?} is not a number from 0 to 65535"))
}

/// Parse the whole export: header check, then one [`RawRecord`] per data row.
pub fn parse(text: &str) -> Result<Vec<RawRecord>, CsvError> {
    let rows = split_records(text)?;
    let mut rows = rows.into_iter();
    let (hline, header) = rows
        .next()
        .ok_or_else(|| err(0, "the file is empty; expected IANA's port registry CSV"))?;
    if header.len() < COLUMNS.len()
        || !header
            .iter()
            .zip(COLUMNS.iter())
            .all(|(h, c)| h.trim().eq_ignore_ascii_case(c))
    {
        return Err(err(
            hline,
            format!(
                "the header is not IANA's port registry header (expected \"{}\")",
                COLUMNS.join(",")
            ),
        ));
    }
    let mut out = Vec::new();
    for (line, row) in rows {
        if row.len() != COLUMNS.len() {
            return Err(err(
                line,
                format!("expected {} columns, found {}", COLUMNS.len(), row.len()),
            ));
        }
        let mut it = row.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let service = next().trim().to_string();
        let port_s = next();
        let proto_s = next();
        let rest: Vec<String> = (0..9).map(|_| next()).collect();
        let port = match port_s.trim() {
            "" => None,
            p => match p.split_once('-') {
                Some((a, b)) => {
                    let lo = parse_port(a).map_err(|m| err(line, m))?;
                    let hi = parse_port(b).map_err(|m| err(line, m))?;
                    if lo > hi {
                        return Err(err(line, format!("port range {p:?} runs backwards")));
                    }
                    Some((lo, hi))
                }
                None => {
                    let p = parse_port(p).map_err(|m| err(line, m))?;
                    Some((p, p))
                }
            },
        };
        let proto = match proto_s.trim().to_ascii_lowercase().as_str() {
            "" => proto::NONE,
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "sctp" => proto::SCTP,
            "dccp" => proto::DCCP,
            other => {
                return Err(err(
                    line,
                    format!(
                        "unknown transport protocol {other:?} (expected tcp, udp, sctp or dccp)"
                    ),
                ))
            }
        };
        let description = rest[0].trim();
        let notes = rest[8].as_str();
        let kind = if service.is_empty() {
            if description.eq_ignore_ascii_case("unassigned") {
                kind::UNASSIGNED
            } else if description.eq_ignore_ascii_case("reserved") {
                kind::RESERVED
            } else {
                kind::OTHER
            }
        } else if port.is_none() {
            kind::NAME_ONLY
        } else if notes.contains("is an alias to") {
            kind::ALIAS
        } else {
            kind::ASSIGNED
        };
        if service.is_empty() && port.is_none() {
            return Err(err(line, "a row with neither a service name nor a port"));
        }
        let mut text: [String; TEXT_FIELDS] = Default::default();
        text[field::SERVICE] = service;
        for (i, v) in rest.into_iter().enumerate() {
            text[i + 1] = v.trim().to_string();
        }
        out.push(RawRecord {
            line,
            port,
            proto,
            kind,
            text,
        });
    }
    Ok(out)
}

/// Check that a parsed export looks like the real registry, so that a truncated download or the
/// wrong file never replaces a good copy. A row that repeats an earlier row exactly is rejected
/// (IANA's export has none; a file with repeated rows was concatenated or merged by mistake,
/// and every registration would be listed twice).
pub fn validate(records: &[RawRecord]) -> Result<(), CsvError> {
    let mut seen: std::collections::HashMap<_, usize> =
        std::collections::HashMap::with_capacity(records.len());
    for r in records {
        if let Some(first) = seen.insert((r.port, r.proto, r.kind, &r.text), r.line) {
            let what = match r.port {
                Some((lo, hi)) if lo == hi => format!("port {lo}"),
                Some((lo, hi)) => format!("ports {lo}-{hi}"),
                None => "no port".to_string(),
            };
            return Err(err(
                r.line,
                format!(
                    "repeats line {first} exactly ({:?}, {what}): IANA's export has no repeated \
                     rows; was the file concatenated or merged twice? Remove the repeated rows \
                     or download it again",
                    r.text[field::SERVICE]
                ),
            ));
        }
    }
    let count = |p: u8| records.iter().filter(|r| r.proto == p).count();
    let (tcp, udp) = (count(proto::TCP), count(proto::UDP));
    if tcp < 1000 || udp < 1000 {
        return Err(err(
            0,
            format!(
                "only {tcp} tcp and {udp} udp records: this is not a complete IANA port registry \
                 (the real one has over 6,000 of each)"
            ),
        ));
    }
    let has = |name: &str, port: u16, p: u8| {
        records
            .iter()
            .any(|r| r.text[field::SERVICE] == name && r.port == Some((port, port)) && r.proto == p)
    };
    for (name, port) in [("ssh", 22), ("http", 80), ("domain", 53)] {
        if !has(name, port, proto::TCP) {
            return Err(err(
                0,
                format!("the registry has no {name} on {port}/tcp: refusing a file that lacks the basics"),
            ));
        }
    }
    Ok(())
}

/// Pack parsed records into one string blob plus fixed-size records and build the indexes.
pub fn pack(records: &[RawRecord]) -> Packed {
    let mut blob = String::new();
    let mut packed = Vec::with_capacity(records.len());
    // Identical strings (assignees, "Unassigned", ...) are stored once.
    let mut seen: std::collections::HashMap<&str, (u32, u32)> = Default::default();
    for r in records {
        let mut text = [(0u32, 0u32); TEXT_FIELDS];
        for (i, s) in r.text.iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            let span = *seen.entry(s.as_str()).or_insert_with(|| {
                let start = blob.len() as u32;
                blob.push_str(s);
                (start, blob.len() as u32)
            });
            text[i] = span;
        }
        let (lo, hi) = r.port.unwrap_or((0, 0));
        packed.push(PackedRecord {
            text,
            port_lo: lo,
            port_hi: hi,
            has_port: r.port.is_some(),
            proto: r.proto,
            kind: r.kind,
        });
    }
    let mut by_port: Vec<u32> = (0..packed.len() as u32)
        .filter(|&i| {
            let p = &packed[i as usize];
            p.has_port && p.port_lo == p.port_hi
        })
        .collect();
    by_port.sort_by_key(|&i| {
        let p = &packed[i as usize];
        (p.port_lo, p.proto, i)
    });
    let mut ranges: Vec<u32> = (0..packed.len() as u32)
        .filter(|&i| {
            let p = &packed[i as usize];
            p.has_port && p.port_lo < p.port_hi
        })
        .collect();
    ranges.sort_by_key(|&i| (packed[i as usize].port_lo, i));
    let mut max_hi = 0u16;
    let ranges_max_hi: Vec<u16> = ranges
        .iter()
        .map(|&i| {
            max_hi = max_hi.max(packed[i as usize].port_hi);
            max_hi
        })
        .collect();
    let mut by_name: Vec<u32> = (0..records.len() as u32)
        .filter(|&i| !records[i as usize].text[field::SERVICE].is_empty())
        .collect();
    by_name.sort_by(|&a, &b| {
        let (ra, rb) = (&records[a as usize], &records[b as usize]);
        ra.text[field::SERVICE]
            .to_ascii_lowercase()
            .cmp(&rb.text[field::SERVICE].to_ascii_lowercase())
            .then(ra.port.cmp(&rb.port))
            .then(ra.proto.cmp(&rb.proto))
            .then(a.cmp(&b))
    });
    Packed {
        blob,
        records: packed,
        by_port,
        ranges,
        ranges_max_hi,
        by_name,
    }
}
