//! Points in time as users write them: `7d` ago, `2026-11-01`, `2026-11-01T08:00:00Z`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::StoreError;

/// A duration like `30d`, `12h`, `90m`, `45s`, `2w` (one number, one unit).
pub fn parse_age(s: &str) -> Result<Duration, StoreError> {
    let bad = || {
        StoreError::Input(format!(
            "{s:?} is not an age: write a number and a unit, s, m, h, d or w (e.g. 30d)"
        ))
    };
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A point in time: an age (`7d`: that long before `now`), a date (`2026-11-01`, midnight UTC)
/// or a date and time in UTC (`2026-11-01T08:30:00Z`, `2026-11-01 08:30`).
pub fn parse_when(s: &str, now: SystemTime) -> Result<SystemTime, StoreError> {
    if s.trim().starts_with(|c: char| c.is_ascii_digit()) && s.trim().len() <= 8 {
        if let Ok(age) = parse_age(s) {
            return Ok(now.checked_sub(age).unwrap_or(UNIX_EPOCH));
        }
    }
    let bad = || {
        StoreError::Input(format!(
            "{s:?} is not a time: write an age (7d, 12h) or a UTC date (2026-11-01, \
             2026-11-01T08:30:00Z)"
        ))
    };
    let t = s.trim().trim_end_matches('Z');
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (t, None),
    };
    let mut dp = date.split('-');
    let num = |p: Option<&str>, lo: i64, hi: i64| -> Result<i64, StoreError> {
        let v: i64 = p.ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let (y, m, d) = (
        num(dp.next(), 1970, 9999)?,
        num(dp.next(), 1, 12)?,
        num(dp.next(), 1, 31)?,
    );
    if dp.next().is_some() {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let mut tp = t.split(':');
        secs += num(tp.next(), 0, 23)? * 3600 + num(tp.next(), 0, 59)? * 60;
        if let Some(s) = tp.next() {
            secs += num(Some(s), 0, 60)?;
        }
        if tp.next().is_some() {
            return Err(bad());
        }
    }
    Ok(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

/// A time as `2026-11-29 17:02:03` (UTC).
pub fn format_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ages_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_when("7d", now).unwrap(),
            now - Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(
            parse_when("2026-11-01", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_793_491_200)
        );
        assert_eq!(
            parse_when("2026-11-01T08:30:00Z", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_793_491_200 + 8 * 3600 + 30 * 60)
        );
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "2026-13-01",
            "2026-11",
            "yesterday",
            "-3d",
        ] {
            assert!(parse_when(bad, now).is_err(), "{bad}");
        }
        assert!(parse_age("99999999999999999999w").is_err());
    }

    proptest! {
        #[test]
        fn format_and_parse_agree(secs in 0u64..253_000_000_000) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let text = format_utc(t);
            prop_assert_eq!(parse_when(&text, UNIX_EPOCH).unwrap(), t);
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_when(&s, SystemTime::now());
            let _ = parse_age(&s);
        }
    }
}
