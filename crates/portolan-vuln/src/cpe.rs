//! CPE names split into their attributes, for matching.
//!
//! NVD criteria are CPE 2.3 formatted strings (`cpe:2.3:a:f5:nginx:*:*:*:*:open_source:*:*:*`)
//! whose attributes may contain backslash-escaped characters (`\:`, `\.`); service detection
//! gives URI bindings (`cpe:/a:openbsd:openssh:9.2p1`). [`CpeName::parse`] reads both into
//! eleven attributes, lowercased, with `*` (any) and `-` (not applicable) kept as written.

use portolan_model::Cpe;

/// The eleven attributes of a CPE 2.3 name. Missing trailing attributes are `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CpeName {
    pub part: String,
    pub vendor: String,
    pub product: String,
    pub version: String,
    pub update: String,
    pub edition: String,
    pub language: String,
    pub sw_edition: String,
    pub target_sw: String,
    pub target_hw: String,
    pub other: String,
}

/// Attribute value meaning "any value".
pub const ANY: &str = "*";
/// Attribute value meaning "not applicable".
pub const NA: &str = "-";

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    if out.is_empty() {
        ANY.to_string()
    } else {
        out
    }
}

/// Split on `:` not preceded by a backslash escape.
fn split_fields(s: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b':' => {
                fields.push(&s[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    fields.push(&s[start.min(s.len())..]);
    fields
}

impl CpeName {
    /// Parse a CPE 2.3 formatted string or a CPE 2.2 URI; `None` when it is neither.
    pub fn parse(s: &str) -> Option<CpeName> {
        let (rest, uri) = if let Some(r) = s.strip_prefix("cpe:2.3:") {
            (r, false)
        } else if let Some(r) = s.strip_prefix("cpe:/") {
            (r, true)
        } else {
            return None;
        };
        let mut f: Vec<String> = split_fields(rest).into_iter().map(unescape).collect();
        if uri {
            // CPE 2.2 packs sw_edition, target_sw, target_hw and other into the edition as
            // `~edition~sw_edition~target_sw~target_hw~other`.
            if let Some(packed) = f.get(5).filter(|e| e.starts_with('~')).cloned() {
                let parts: Vec<String> = packed.split('~').skip(1).map(unescape).collect();
                let language = f.get(6).cloned().unwrap_or_else(|| ANY.into());
                let part = |i: usize| parts.get(i).cloned().unwrap_or_else(|| ANY.into());
                f.truncate(5);
                f.extend([part(0), language, part(1), part(2), part(3), part(4)]);
            }
        }
        if !matches!(f.first().map(String::as_str), Some("a" | "o" | "h")) {
            return None;
        }
        f.resize(11, ANY.to_string());
        let mut it = f.into_iter();
        let mut next = || it.next().unwrap_or_else(|| ANY.to_string());
        Some(CpeName {
            part: next(),
            vendor: next(),
            product: next(),
            version: next(),
            update: next(),
            edition: next(),
            language: next(),
            sw_edition: next(),
            target_sw: next(),
            target_hw: next(),
            other: next(),
        })
    }

    /// From the model's typed CPE.
    pub fn from_model(c: &Cpe) -> Option<CpeName> {
        CpeName::parse(c.as_str())
    }

    /// The version with its update joined as one upstream version string: OpenSSH `9.2` +
    /// `p1` → `9.2p1`, BIND `9.16.1` + `s1` → `9.16.1-s1`. `None` when the version is `*` or
    /// `-`.
    pub fn full_version(&self) -> Option<String> {
        if self.version == ANY || self.version == NA {
            return None;
        }
        Some(join_update(&self.version, &self.update))
    }
}

/// `9.2` + `p1` → `9.2p1`; an update starting with a digit is joined with `-`.
pub fn join_update(version: &str, update: &str) -> String {
    if update == ANY || update == NA || update.is_empty() {
        version.to_string()
    } else if update.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{version}-{update}")
    } else {
        format!("{version}{update}")
    }
}

/// Whether attribute `pattern` (from a criterion) accepts `value` (from the detected product):
/// `*` accepts anything, and a detected `*` is accepted by anything (we do not know it).
pub fn attr_matches(pattern: &str, value: &str) -> bool {
    pattern == ANY || value == ANY || pattern == value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formatted_strings_and_uris() {
        let c = CpeName::parse("cpe:2.3:a:f5:nginx:*:*:*:*:open_source:*:*:*").unwrap();
        assert_eq!(
            (c.vendor.as_str(), c.product.as_str(), c.sw_edition.as_str()),
            ("f5", "nginx", "open_source")
        );
        let c = CpeName::parse("cpe:2.3:a:openbsd:openssh:9.3:p1:*:*:*:*:*:*").unwrap();
        assert_eq!(c.full_version().as_deref(), Some("9.3p1"));
        let c = CpeName::parse("cpe:/a:OpenBSD:OpenSSH:9.2p1").unwrap();
        assert_eq!(
            (c.vendor.as_str(), c.version.as_str(), c.other.as_str()),
            ("openbsd", "9.2p1", "*")
        );
        let c = CpeName::parse(r"cpe:2.3:a:vendor:pro\:duct:1.0:*:*:*:*:*:*:*").unwrap();
        assert_eq!(c.product, "pro:duct");
        assert_eq!(c.version, "1.0");
        let c = CpeName::parse("cpe:/a:x:y:1:u1:~~plus~~~").unwrap();
        assert_eq!(c.sw_edition, "plus");
        assert!(CpeName::parse("cpe:/x:a:b").is_none());
        assert!(CpeName::parse("nginx").is_none());
        assert_eq!(join_update("9.16.1", "s1"), "9.16.1s1");
        assert_eq!(join_update("1.0", "2"), "1.0-2");
        assert_eq!(join_update("1.0", "-"), "1.0");
    }
}
