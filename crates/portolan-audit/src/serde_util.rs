//! Serde adapters for registry types that only implement `Serialize` (and `FromStr`), so
//! reports can be read back (baselines).

use serde::{Deserialize, Deserializer, Serializer};

pub mod protocol {
    use super::*;
    use portolan_registry::Protocol;

    pub fn serialize<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub mod severity {
    use super::*;
    use portolan_registry::risk::Severity;

    pub fn serialize<S: Serializer>(p: &Severity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
