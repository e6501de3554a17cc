//! Detector configuration: sensitivity presets, a TOML file that overrides them, allow-lists.
//!
//! Every field has a documented default (the `medium` preset); see `docs/detect.md` for the file
//! format. Unknown keys are errors, so that a typo does not silently leave a default in force.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::decode::Addr;

/// How eager the detectors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    /// Fewer alerts: higher thresholds, a TRW false-positive target of 0.1%.
    Low,
    /// The default.
    #[default]
    Medium,
    /// More alerts, sooner: lower thresholds, a TRW false-positive target of 5%.
    High,
}

impl FromStr for Sensitivity {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Sensitivity::Low),
            "medium" => Ok(Sensitivity::Medium),
            "high" => Ok(Sensitivity::High),
            _ => Err(ConfigError::Invalid(format!(
                "sensitivity {s:?}: use low, medium or high"
            ))),
        }
    }
}

/// Threshold Random Walk parameters (Jung, Paxson, Berger, Balakrishnan 2004).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trw {
    /// Probability that a benign host's first-contact connection succeeds (θ0).
    pub theta0: f64,
    /// Probability that a scanner's first-contact connection succeeds (θ1 < θ0).
    pub theta1: f64,
    /// Target false-positive probability (α, P_F).
    pub alpha: f64,
    /// Target detection probability (β, P_D).
    pub beta: f64,
}

impl Trw {
    /// ln η1 = ln(β/α): the log-likelihood ratio at which a source is called a scanner.
    pub fn upper(&self) -> f64 {
        (self.beta / self.alpha).ln()
    }
    /// ln η0 = ln((1-β)/(1-α)): the ratio at which a source is called benign (and reset).
    pub fn lower(&self) -> f64 {
        ((1.0 - self.beta) / (1.0 - self.alpha)).ln()
    }
    /// Log-likelihood step for a successful first contact.
    pub fn success_step(&self) -> f64 {
        (self.theta1 / self.theta0).ln()
    }
    /// Log-likelihood step for a failed first contact.
    pub fn failure_step(&self) -> f64 {
        ((1.0 - self.theta1) / (1.0 - self.theta0)).ln()
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Addr,
    /// Prefix length over the 128-bit (IPv4-mapped) address.
    pub prefix128: u8,
    v4: bool,
}

impl Cidr {
    pub fn contains(&self, a: &Addr) -> bool {
        if self.prefix128 == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - u32::from(self.prefix128));
        (a.as_u128() & mask) == (self.addr.as_u128() & mask)
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "{s:?} is not an address or network: write 192.0.2.10, 198.51.100.0/24 or 2001:db8::/32"
            ))
        };
        let (ip, len) = match s.trim().split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let (v4, max) = match ip {
            IpAddr::V4(_) => (true, 32u8),
            IpAddr::V6(_) => (false, 128u8),
        };
        let len = len.unwrap_or(max);
        if len > max {
            return Err(bad());
        }
        Ok(Cidr {
            addr: Addr::from(ip),
            prefix128: if v4 { len + 96 } else { len },
            v4,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = if self.v4 {
            self.prefix128 - 96
        } else {
            self.prefix128
        };
        write!(f, "{}/{}", self.addr, len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Everything the detectors can be told.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub sensitivity: Sensitivity,
    /// Sources never reported (your own scanners): addresses or networks.
    pub allow: Vec<Cidr>,
    pub trw: Trw,
    pub thresholds: Thresholds,
    pub flood: Flood,
    pub timeouts: Timeouts,
    pub limits: Limits,
}

/// Windowed distinct-count thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Length of the (tumbling) counting window, seconds.
    pub window_secs: f64,
    /// Vertical scan: distinct ports probed on few hosts in one window.
    pub vertical_ports: u64,
    /// Horizontal sweep: distinct hosts probed on few ports in one window.
    pub horizontal_hosts: u64,
    /// Block scan: at least this many ports AND `block_hosts` hosts.
    pub block_ports: u64,
    pub block_hosts: u64,
    /// Distributed scan of one target: distinct sources and distinct ports in one window.
    pub distributed_sources: u64,
    pub distributed_ports: u64,
    /// Stealth (FIN, NULL, Xmas, ACK, Maimon) probes to distinct host/ports before an alert.
    pub stealth_probes: u64,
}

/// SYN-flood detection per destination service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flood {
    /// Half-open connections (SYNs never completed) to one service in one window.
    pub half_open: u64,
    pub window_secs: f64,
}

/// Timeouts, in seconds of capture time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// A SYN with no answer after this long failed.
    pub syn_secs: f64,
    /// A UDP probe with no answer after this long is given up (neither success nor failure).
    pub udp_secs: f64,
    /// A flow idle this long is forgotten.
    pub flow_idle_secs: f64,
    /// A source (or service, or target) idle this long is forgotten; it may alert again later.
    pub source_idle_secs: f64,
}

/// Table sizes: memory is fixed by these, whatever the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Connections tracked at once (64 bytes each).
    pub max_flows: usize,
    /// Sources tracked at once (about 900 bytes each).
    pub max_sources: usize,
    /// Destination services tracked for SYN floods.
    pub max_services: usize,
    /// Destination hosts tracked for distributed scans.
    pub max_targets: usize,
    /// The key of the table and sketch hashes. A fixed default makes the same capture give the
    /// same report on every run; set a secret value of your own where an adversary could
    /// choose flows that collide in the tables (the report stays reproducible with that key).
    pub hash_key: u64,
}

/// The default [`Limits::hash_key`] ("portolan" in ASCII; below 2^63 so TOML can hold it).
pub const DEFAULT_HASH_KEY: u64 = 0x706f_7274_6f6c_616e;

impl Config {
    /// The preset for a sensitivity level.
    pub fn preset(s: Sensitivity) -> Config {
        let (alpha, v, h, b, ds, dp, st, fl) = match s {
            Sensitivity::Low => (0.001, 50, 50, 20, 20, 50, 10, 2000),
            Sensitivity::Medium => (0.01, 20, 25, 10, 10, 20, 5, 500),
            Sensitivity::High => (0.05, 10, 10, 5, 5, 10, 3, 200),
        };
        Config {
            sensitivity: s,
            trw: Trw {
                theta0: 0.8,
                theta1: 0.2,
                alpha,
                beta: 0.99,
            },
            thresholds: Thresholds {
                window_secs: 60.0,
                vertical_ports: v,
                horizontal_hosts: h,
                block_ports: b,
                block_hosts: b,
                distributed_sources: ds,
                distributed_ports: dp,
                stealth_probes: st,
            },
            flood: Flood {
                half_open: fl,
                window_secs: 10.0,
            },
            timeouts: Timeouts {
                syn_secs: 3.0,
                udp_secs: 5.0,
                flow_idle_secs: 300.0,
                source_idle_secs: 600.0,
            },
            limits: Limits {
                max_flows: 1 << 18,
                max_sources: 1 << 14,
                max_services: 1 << 14,
                max_targets: 1 << 14,
                hash_key: DEFAULT_HASH_KEY,
            },
            allow: Vec::new(),
        }
    }

    /// Parse a TOML configuration: the `sensitivity` preset, then every key given overrides it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with(text, None)
    }

    /// Like [`Config::from_toml`], with the preset chosen by `sensitivity` when given (the
    /// file's other keys still override it).
    pub fn from_toml_with(
        text: &str,
        sensitivity: Option<Sensitivity>,
    ) -> Result<Config, ConfigError> {
        let f: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut c = Config::preset(sensitivity.or(f.sensitivity).unwrap_or_default());
        if let Some(t) = f.trw {
            t.apply(&mut c.trw);
        }
        if let Some(t) = f.thresholds {
            t.apply(&mut c.thresholds);
        }
        if let Some(t) = f.flood {
            t.apply(&mut c.flood);
        }
        if let Some(t) = f.timeouts {
            t.apply(&mut c.timeouts);
        }
        if let Some(t) = f.limits {
            t.apply(&mut c.limits);
        }
        for a in f.allow.unwrap_or_default() {
            c.allow.push(a.parse()?);
        }
        c.validate()?;
        Ok(c)
    }

    /// Check that the values make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.trw;
        let prob = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "trw.{name} = {v}: must be strictly between 0 and 1"
                )))
            }
        };
        prob("theta0", t.theta0)?;
        prob("theta1", t.theta1)?;
        prob("alpha", t.alpha)?;
        prob("beta", t.beta)?;
        if t.theta1 >= t.theta0 {
            return Err(ConfigError::Invalid(format!(
                "trw.theta1 ({}) must be below trw.theta0 ({}): scanners succeed less often than benign hosts",
                t.theta1, t.theta0
            )));
        }
        if t.alpha >= t.beta {
            return Err(ConfigError::Invalid(format!(
                "trw.alpha ({}) must be below trw.beta ({})",
                t.alpha, t.beta
            )));
        }
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "{name} = {v}: must be a positive number of seconds"
                )))
            }
        };
        pos("thresholds.window_secs", self.thresholds.window_secs)?;
        pos("flood.window_secs", self.flood.window_secs)?;
        pos("timeouts.syn_secs", self.timeouts.syn_secs)?;
        pos("timeouts.udp_secs", self.timeouts.udp_secs)?;
        pos("timeouts.flow_idle_secs", self.timeouts.flow_idle_secs)?;
        pos("timeouts.source_idle_secs", self.timeouts.source_idle_secs)?;
        let l = &self.limits;
        for (name, v) in [
            ("max_flows", l.max_flows),
            ("max_sources", l.max_sources),
            ("max_services", l.max_services),
            ("max_targets", l.max_targets),
        ] {
            if !(16..=1 << 28).contains(&v) {
                return Err(ConfigError::Invalid(format!(
                    "limits.{name} = {v}: must be between 16 and 268435456"
                )));
            }
        }
        if l.hash_key > i64::MAX as u64 {
            return Err(ConfigError::Invalid(format!(
                "limits.hash_key = {}: must be at most {} (a TOML integer)",
                l.hash_key,
                i64::MAX
            )));
        }
        let th = &self.thresholds;
        for (name, v) in [
            ("vertical_ports", th.vertical_ports),
            ("horizontal_hosts", th.horizontal_hosts),
            ("block_ports", th.block_ports),
            ("block_hosts", th.block_hosts),
            ("distributed_sources", th.distributed_sources),
            ("distributed_ports", th.distributed_ports),
            ("stealth_probes", th.stealth_probes),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!(
                    "thresholds.{name} must be at least 1"
                )));
            }
        }
        if self.flood.half_open == 0 {
            return Err(ConfigError::Invalid(
                "flood.half_open must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// True when `a` is on the allow-list.
    pub fn allowed(&self, a: &Addr) -> bool {
        self.allow.iter().any(|c| c.contains(a))
    }

    /// The configuration as a TOML document (what `--print-config` shows).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::preset(Sensitivity::Medium)
    }
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {0}")]
    Invalid(String),
}

macro_rules! overrides {
    ($name:ident for $target:ty { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name { $($field: Option<$ty>),* }
        impl $name {
            fn apply(self, t: &mut $target) {
                $(if let Some(v) = self.$field { t.$field = v; })*
            }
        }
    };
}

overrides!(TrwFile for Trw { theta0: f64, theta1: f64, alpha: f64, beta: f64 });
overrides!(ThresholdsFile for Thresholds {
    window_secs: f64, vertical_ports: u64, horizontal_hosts: u64, block_ports: u64,
    block_hosts: u64, distributed_sources: u64, distributed_ports: u64, stealth_probes: u64,
});
overrides!(FloodFile for Flood { half_open: u64, window_secs: f64 });
overrides!(TimeoutsFile for Timeouts {
    syn_secs: f64, udp_secs: f64, flow_idle_secs: f64, source_idle_secs: f64,
});
overrides!(LimitsFile for Limits {
    max_flows: usize, max_sources: usize, max_services: usize, max_targets: usize,
    hash_key: u64,
});

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    sensitivity: Option<Sensitivity>,
    allow: Option<Vec<String>>,
    trw: Option<TrwFile>,
    thresholds: Option<ThresholdsFile>,
    flood: Option<FloodFile>,
    timeouts: Option<TimeoutsFile>,
    limits: Option<LimitsFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_ordered() {
        let lo = Config::preset(Sensitivity::Low);
        let me = Config::preset(Sensitivity::Medium);
        let hi = Config::preset(Sensitivity::High);
        for c in [&lo, &me, &hi] {
            c.validate().unwrap();
        }
        assert!(lo.thresholds.vertical_ports > me.thresholds.vertical_ports);
        assert!(me.thresholds.vertical_ports > hi.thresholds.vertical_ports);
        // medium: 4 failed first contacts make a scanner (ln 99 / ln 4 = 3.3)
        let n = (me.trw.upper() / me.trw.failure_step()).ceil();
        assert_eq!(n, 4.0);
    }

    #[test]
    fn file_overrides_preset() {
        let c = Config::from_toml(
            "sensitivity = \"high\"\nallow = [\"10.0.0.0/8\", \"2001:db8::1\"]\n[thresholds]\nvertical_ports = 7\n",
        )
        .unwrap();
        assert_eq!(c.sensitivity, Sensitivity::High);
        assert_eq!(c.thresholds.vertical_ports, 7);
        assert_eq!(c.thresholds.horizontal_hosts, 10);
        assert!(c.allowed(&Addr::v4([10, 1, 2, 3])));
        assert!(!c.allowed(&Addr::v4([11, 1, 2, 3])));
        assert!(c.allowed(&Addr::from("2001:db8::1".parse::<IpAddr>().unwrap())));
        // round trip through --print-config
        let again = Config::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again.thresholds, c.thresholds);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = Config::from_toml("[thresholds]\nverticle_ports = 3\n").unwrap_err();
        assert!(e.to_string().contains("verticle_ports"), "{e}");
        let e = Config::from_toml("[trw]\ntheta1 = 0.9\n").unwrap_err();
        assert!(e.to_string().contains("theta1"), "{e}");
        let e = Config::from_toml("allow = [\"10.0.0.0/40\"]").unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/40"), "{e}");
        assert!(Config::from_toml("sensitivity = \"extreme\"").is_err());
    }
}
