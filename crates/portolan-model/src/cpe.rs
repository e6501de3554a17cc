//! Typed CPE names (Common Platform Enumeration): the key that maps a detected product to
//! vulnerability records.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A CPE name, URI binding (`cpe:/a:openbsd:openssh:9.2p1`, CPE 2.2) or formatted string
/// (`cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*`). Serialised as the string it was parsed
/// from. Text may come from the network (an nmap probe file's template): escape it before
/// printing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cpe(String);

/// A string that is not a CPE name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CPE name: expected cpe:/PART:VENDOR:PRODUCT[:VERSION...] or cpe:2.3:PART:VENDOR:PRODUCT:...")]
pub struct CpeError(String);

impl Cpe {
    /// Parse a CPE name; the part must be `a` (application), `o` (operating system) or `h`
    /// (hardware).
    pub fn parse(s: &str) -> Result<Cpe, CpeError> {
        let rest = s
            .strip_prefix("cpe:2.3:")
            .or_else(|| s.strip_prefix("cpe:/"))
            .ok_or_else(|| CpeError(s.to_string()))?;
        let part = rest.split(':').next().unwrap_or("");
        if !matches!(part, "a" | "o" | "h") || s.chars().any(char::is_control) {
            return Err(CpeError(s.to_string()));
        }
        Ok(Cpe(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn fields(&self) -> impl Iterator<Item = &str> {
        self.0
            .strip_prefix("cpe:2.3:")
            .or_else(|| self.0.strip_prefix("cpe:/"))
            .unwrap_or("")
            .split(':')
    }
    fn field(&self, i: usize) -> Option<&str> {
        self.fields()
            .nth(i)
            .filter(|f| !f.is_empty() && *f != "*" && *f != "-")
    }
    /// `a`, `o` or `h`.
    pub fn part(&self) -> &str {
        self.fields().next().unwrap_or("")
    }
    pub fn vendor(&self) -> Option<&str> {
        self.field(1)
    }
    pub fn product(&self) -> Option<&str> {
        self.field(2)
    }
    pub fn version(&self) -> Option<&str> {
        self.field(3)
    }
}

impl TryFrom<String> for Cpe {
    type Error = CpeError;
    fn try_from(s: String) -> Result<Cpe, CpeError> {
        Cpe::parse(&s)
    }
}

impl From<Cpe> for String {
    fn from(c: Cpe) -> String {
        c.0
    }
}

impl FromStr for Cpe {
    type Err = CpeError;
    fn from_str(s: &str) -> Result<Cpe, CpeError> {
        Cpe::parse(s)
    }
}

impl fmt::Display for Cpe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_bindings() {
        let c = Cpe::parse("cpe:/a:openbsd:openssh:9.2p1").unwrap();
        assert_eq!(
            (c.part(), c.vendor(), c.product(), c.version()),
            ("a", Some("openbsd"), Some("openssh"), Some("9.2p1"))
        );
        let c = Cpe::parse("cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(
            (c.part(), c.product(), c.version()),
            ("o", Some("linux_kernel"), None)
        );
        assert_eq!(Cpe::parse("cpe:/o:linux").unwrap().product(), None);
        for bad in ["", "openssh", "cpe:/x:a:b", "cpe:/a:a\n:b", "cpe:2.3:"] {
            assert!(Cpe::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serialises_as_its_string() {
        let c = Cpe::parse("cpe:/a:nginx:nginx:1.25").unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "\"cpe:/a:nginx:nginx:1.25\""
        );
        let back: Cpe = serde_json::from_str("\"cpe:/a:nginx:nginx:1.25\"").unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<Cpe>("\"nginx\"").is_err());
    }

    proptest::proptest! {
        /// Untrusted text (a probe file's CPE template, a stored report) never panics the
        /// parser, and whatever parses serialises back to itself.
        #[test]
        fn parse_never_panics_and_round_trips(s in "(cpe:/|cpe:2\\.3:)?[aoh]?(:[a-z0-9_.*-]{0,8}){0,12}|\\PC{0,40}") {
            if let Ok(c) = Cpe::parse(&s) {
                proptest::prop_assert_eq!(c.as_str(), s.as_str());
                let json = serde_json::to_string(&c).unwrap();
                let back: Cpe = serde_json::from_str(&json).unwrap();
                proptest::prop_assert_eq!(back, c.clone());
                let _ = (c.part(), c.vendor(), c.product(), c.version());
            }
        }
    }
}
