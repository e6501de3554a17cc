//! The hard rate cap: a token bucket in its GCRA form (one "theoretical arrival time").
//!
//! With rate `r` per second and burst `b`, any interval of length `T` admits at most
//! `b + r·T` sends — the guarantee `--max-rate` makes. There is no drift: the schedule is kept in
//! integer nanoseconds from a fixed origin.

use std::time::{Duration, Instant};

/// A token bucket (GCRA).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    origin: Instant,
    /// Nanoseconds between sends.
    interval: u128,
    /// How far ahead of schedule a burst may run, in nanoseconds.
    tolerance: u128,
    /// Theoretical arrival time of the next send, ns since origin.
    tat: u128,
}

impl TokenBucket {
    /// `rate` sends per second (> 0), bursts of at most `burst` (>= 1).
    pub fn new(rate: f64, burst: u32, origin: Instant) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let interval = ((1e9 / rate).round() as u128).max(1);
        let burst = burst.max(1) as u128;
        TokenBucket {
            origin,
            interval,
            tolerance: (burst - 1) * interval,
            tat: 0,
        }
    }

    /// The burst to use for a rate: about 5 ms worth of sends, at least 1, at most 64.
    pub fn default_burst(rate: f64) -> u32 {
        ((rate / 200.0) as u32).clamp(1, 64)
    }

    /// Take one token at `now`: `Ok(())`, or `Err(when)` the earliest instant it can be taken.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        let t = now.saturating_duration_since(self.origin).as_nanos();
        let earliest = self.tat.saturating_sub(self.tolerance);
        if t < earliest {
            return Err(self.origin + Duration::from_nanos((earliest) as u64));
        }
        self.tat = self.tat.max(t) + self.interval;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulated clock: over any window the number of admitted sends is at most b + r·T.
    #[test]
    fn cap_holds_on_simulated_clock() {
        let o = Instant::now();
        let rate = 1000.0;
        let burst = 5;
        let mut tb = TokenBucket::new(rate, burst, o);
        let mut sends = Vec::new();
        let mut now = o;
        while sends.len() < 3000 {
            match tb.try_take(now) {
                Ok(()) => sends.push(now),
                Err(when) => now = when.max(now + Duration::from_micros(37)),
            }
        }
        for (i, &s) in sends.iter().enumerate() {
            for (j, &e) in sends.iter().enumerate().skip(i).step_by(97) {
                let t = e.duration_since(s).as_secs_f64();
                let count = (j - i + 1) as f64;
                assert!(
                    count <= burst as f64 + rate * t + 1e-6,
                    "{count} sends in {t}s"
                );
            }
        }
    }

    #[test]
    fn idle_does_not_bank_more_than_burst() {
        let o = Instant::now();
        let mut tb = TokenBucket::new(100.0, 3, o);
        let later = o + Duration::from_secs(10);
        let mut n = 0;
        while tb.try_take(later).is_ok() {
            n += 1;
        }
        assert_eq!(n, 3);
    }
}
