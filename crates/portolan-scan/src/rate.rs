//! The rate cap: a token bucket in its GCRA form (one "theoretical arrival time"), and the
//! [`Pacer`] the raw engine sends under.
//!
//! With rate `r` per second and burst `b`, any interval of length `T` admits at most
//! `b + r·T` sends — the guarantee `--max-rate` makes. There is no drift: the schedule is kept in
//! integer nanoseconds from a fixed origin.
//!
//! Without `--max-rate` the raw engine has no fixed cap: a [`Pacer::proven`] starts at a floor
//! (100,000 packets/s) and, every [`PROOF_PERIOD`], allows twice the rate at which validated
//! replies came back in the last period — never less than the floor. Replies are the proof that
//! the path and the targets carry the rate (TCP's ACK clocking, nmap's "no fixed cap, it
//! adapts"): one host that answers every probe is scanned as fast as the congestion window
//! allows, while a range of silent or filtered addresses never goes above the floor.

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

    /// Change the rate and burst from now on; sends already admitted stay admitted.
    pub fn set_rate(&mut self, rate: f64, burst: u32) {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        self.interval = ((1e9 / rate).round() as u128).max(1);
        self.tolerance = (burst.max(1) as u128 - 1) * self.interval;
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

/// How often a [`Pacer::proven`] re-reads the reply rate.
pub const PROOF_PERIOD: Duration = Duration::from_millis(20);
/// A proven pacer allows this many times the rate replies came back at.
pub const PROOF_GAIN: f64 = 2.0;
/// The rate a proven pacer starts at and never goes below (packets/s).
pub const PROVEN_FLOOR: f64 = 100_000.0;
/// Above this a proven pacer does not go (packets/s): far beyond what one host's kernel sends.
pub const PROVEN_CEILING: f64 = 20_000_000.0;

/// The raw engine's pace: a fixed cap (`--max-rate`), or a cap proven by the replies.
#[derive(Clone, Debug)]
pub struct Pacer {
    bucket: TokenBucket,
    rate: f64,
    proof: Option<Proof>,
}

#[derive(Clone, Debug)]
struct Proof {
    floor: f64,
    ceiling: f64,
    since: Instant,
    answers: u64,
}

impl Pacer {
    /// A hard cap of `rate` sends per second in bursts of at most `burst`.
    pub fn fixed(rate: f64, burst: u32, origin: Instant) -> Pacer {
        Pacer {
            bucket: TokenBucket::new(rate, burst, origin),
            rate,
            proof: None,
        }
    }

    /// No fixed cap: start at `floor` sends per second and follow [`PROOF_GAIN`] × the rate of
    /// the replies ([`Pacer::answered`]), re-read every [`PROOF_PERIOD`], within
    /// `floor..=ceiling`.
    pub fn proven(floor: f64, ceiling: f64, origin: Instant) -> Pacer {
        let floor = if floor.is_finite() && floor > 0.0 {
            floor
        } else {
            PROVEN_FLOOR
        };
        let ceiling = ceiling.max(floor);
        Pacer {
            bucket: TokenBucket::new(floor, TokenBucket::default_burst(floor), origin),
            rate: floor,
            proof: Some(Proof {
                floor,
                ceiling,
                since: origin,
                answers: 0,
            }),
        }
    }

    /// Whether the cap follows the replies (no fixed `--max-rate`).
    pub fn is_proven(&self) -> bool {
        self.proof.is_some()
    }

    /// The cap in force now (sends per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// `n` validated replies came back.
    pub fn answered(&mut self, n: u64) {
        if let Some(p) = &mut self.proof {
            p.answers += n;
        }
    }

    /// Take one send at `now`: `Ok(())`, or `Err(when)` the earliest instant it can be taken.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        if let Some(p) = &mut self.proof {
            let spent = now.saturating_duration_since(p.since);
            if spent >= PROOF_PERIOD {
                let replied = p.answers as f64 / spent.as_secs_f64();
                let rate = (PROOF_GAIN * replied).clamp(p.floor, p.ceiling);
                if rate != self.rate {
                    self.rate = rate;
                    self.bucket.set_rate(rate, TokenBucket::default_burst(rate));
                }
                p.since = now;
                p.answers = 0;
            }
        }
        self.bucket.try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends admitted by `p` from `from` for `span`, answering `answer_ratio` of them at once.
    fn drive(p: &mut Pacer, from: Instant, span: Duration, answer_ratio: f64) -> (u64, Instant) {
        let mut now = from;
        let mut sent = 0u64;
        let mut owed = 0.0;
        while now < from + span {
            match p.try_take(now) {
                Ok(()) => {
                    sent += 1;
                    owed += answer_ratio;
                    if owed >= 1.0 {
                        p.answered(1);
                        owed -= 1.0;
                    }
                }
                Err(when) => now = when.max(now + Duration::from_nanos(100)),
            }
        }
        (sent, now)
    }

    #[test]
    fn proven_pace_grows_with_answers_and_stays_at_the_floor_without() {
        let o = Instant::now();
        // A host that answers every probe: the cap doubles each period, far past the floor.
        let mut p = Pacer::proven(100_000.0, PROVEN_CEILING, o);
        let (sent, _) = drive(&mut p, o, Duration::from_millis(200), 1.0);
        assert!(p.rate() >= 1_000_000.0, "rate {}", p.rate());
        assert!(sent > 100_000, "sent {sent} in 200 ms");
        // Silent targets (a filtered range): nothing proves more than the floor.
        let mut q = Pacer::proven(100_000.0, PROVEN_CEILING, o);
        let (sent, _) = drive(&mut q, o, Duration::from_millis(200), 0.0);
        assert_eq!(q.rate(), 100_000.0);
        assert!(sent <= 20_000 + 64, "sent {sent} in 200 ms at 100k/s");
        // Answers stop: back to the floor within a period or two.
        drive(
            &mut p,
            o + Duration::from_millis(200),
            Duration::from_millis(60),
            0.0,
        );
        assert_eq!(p.rate(), 100_000.0);
    }

    #[test]
    fn proven_pace_is_bounded_by_twice_the_reply_rate() {
        let o = Instant::now();
        // Only 10% of probes answered (a mostly filtered host): 2 × 10% of the send rate never
        // proves more than the floor.
        let mut p = Pacer::proven(50_000.0, PROVEN_CEILING, o);
        drive(&mut p, o, Duration::from_millis(300), 0.1);
        assert_eq!(p.rate(), 50_000.0);
        // The ceiling holds however fast answers come.
        let mut q = Pacer::proven(50_000.0, 200_000.0, o);
        drive(&mut q, o, Duration::from_millis(300), 1.0);
        assert_eq!(q.rate(), 200_000.0);
    }

    #[test]
    fn fixed_pace_ignores_answers() {
        let o = Instant::now();
        let mut p = Pacer::fixed(1000.0, 5, o);
        assert!(!p.is_proven());
        p.answered(1_000_000);
        let (sent, _) = drive(&mut p, o, Duration::from_millis(100), 1.0);
        assert!(sent <= 5 + 100, "{sent}");
        assert_eq!(p.rate(), 1000.0);
    }

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
