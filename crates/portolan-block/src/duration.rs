//! Ban durations: `90s`, `10m`, `1h`, `2d`, `1w`, `1h30m`.

use std::time::Duration;

/// The longest ban: 365 days (a kernel timeout must fit; re-add a ban to extend it).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration: {why} (give e.g. 30s, 10m, 1h, 2d, 1w or 1h30m; at least 1s, at most 365d)")]
pub struct DurationError {
    pub input: String,
    pub why: &'static str,
}

/// Parse a duration: one or more `NUMBER UNIT` parts, units `s`, `m`, `h`, `d`, `w`; a bare
/// number is seconds. The total is at least one second and at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = |why| DurationError {
        input: s.to_string(),
        why,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err("it is empty"));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = t.parse().map_err(|_| err("the number is too large"))?;
        return check(Duration::from_secs(n), &err);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(err("units are s, m, h, d and w")),
        };
        if num.is_empty() {
            return Err(err("a unit needs a number before it"));
        }
        let n: u64 = num.parse().map_err(|_| err("the number is too large"))?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("it is too long"))?;
    }
    if !num.is_empty() {
        return Err(err("the last number has no unit"));
    }
    check(Duration::from_secs(total), &err)
}

fn check(
    d: Duration,
    err: &dyn Fn(&'static str) -> DurationError,
) -> Result<Duration, DurationError> {
    if d < Duration::from_secs(1) {
        return Err(err("a ban lasts at least 1s"));
    }
    if d > MAX_DURATION {
        return Err(err("a ban lasts at most 365d"));
    }
    Ok(d)
}

/// Format whole seconds the way [`parse_duration`] reads them: `1h30m`, `2d`, `45s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= n {
            out.push_str(&format!("{}{unit}", s / n));
            s %= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("1w").unwrap(), Duration::from_secs(604_800));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (s, why) in [
            ("", "empty"),
            ("10x", "units are"),
            ("m", "needs a number"),
            ("1h30", "no unit"),
            ("0s", "at least 1s"),
            ("366d", "at most 365d"),
            ("99999999999999999999999s", "too large"),
            ("-5m", "units are"),
        ] {
            let e = parse_duration(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains("give e.g."), "{s}: {e}");
        }
    }

    #[test]
    fn format() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(172_800)), "2d");
        assert_eq!(format_duration(Duration::from_secs(59)), "59s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn format_parses_back(secs in 1u64..=365 * 86_400) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
