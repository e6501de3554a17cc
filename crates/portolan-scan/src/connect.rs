//! The TCP connect scan engine: unprivileged, one `connect()` a probe, on tokio.
//!
//! A single driver task walks the plan and launches probes while the number in flight is below
//! the congestion window ([`Window`]) and the token bucket allows; completions come back through
//! a `JoinSet`. Per probe:
//!
//! - handshake completes → `open` / `syn-ack` (the socket is closed with SO_LINGER 0: a RST,
//!   no TIME_WAIT left behind), unless the socket connected to itself (source = destination,
//!   possible on a local port nothing listens on) → `closed` / `conn-refused`;
//! - `ECONNREFUSED` → `closed` / `conn-refused`;
//! - `EHOSTUNREACH` / `ENETUNREACH` → `filtered` / `host-unreach`;
//! - no answer within the RTT-derived timeout → retried up to `retries` times, then
//!   `filtered` / `no-response`;
//! - `EMFILE`, `ENFILE`, `ENOBUFS`, `EADDRNOTAVAIL` (out of descriptors or local ports) → the
//!   window shrinks below the current in-flight count and the probe is queued again: it is not a
//!   result and not a retry.
//!
//! The window ([`Window`]) is adjusted once per epoch (a window's worth of completions): it
//! doubles in slow start and grows by 1/8 after, halves when more than 5% of the epoch's answers
//! needed a retry (a *proven* loss: the first attempt timed out, a later one was answered), and
//! shrinks by 15% when the smoothed RTT shows queueing (`srtt > 4·min_rtt + 10 ms`). Timeouts that
//! are never answered are filtering, not congestion, and do not shrink it. The probe timeout is
//! Jacobson/Karels' `srtt + 4·rttvar`, clamped to `[min_timeout, max_timeout]`.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::limits;
use crate::model::{PortEvent, PortState, Protocol, Reason, ScanStats};
use crate::plan::{Plan, Progress};
use crate::ports::PortSet;
use crate::rate::TokenBucket;
use crate::target::TargetSet;

/// Tunables of the connect engine.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// Hard cap on connection attempts per second (`None`: no cap).
    pub max_rate: Option<f64>,
    /// Burst the rate cap allows (`None`: [`TokenBucket::default_burst`]).
    pub burst: Option<u32>,
    /// Largest window (probes in flight).
    pub max_window: usize,
    /// Smallest window.
    pub min_window: usize,
    /// Window at the start.
    pub initial_window: usize,
    /// Probe timeout before any RTT is measured, and its ceiling.
    pub max_timeout: Duration,
    /// Floor of the RTT-derived timeout.
    pub min_timeout: Duration,
    /// Extra attempts after a timeout.
    pub retries: u32,
    /// How often [`EventSink::checkpoint`] is called.
    pub checkpoint_every: Duration,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            max_rate: None,
            burst: None,
            max_window: 5000,
            min_window: 16,
            initial_window: 128,
            max_timeout: Duration::from_millis(1000),
            min_timeout: Duration::from_millis(100),
            retries: 2,
            checkpoint_every: Duration::from_secs(5),
        }
    }
}

/// A live view of the engine for progress displays.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub planned: u64,
    pub completed: u64,
    pub sent: u64,
    pub open: u64,
    pub in_flight: usize,
    pub window: usize,
    pub timeout: Duration,
}

/// Where results and progress go. Called from the driver task only (no locking needed).
pub trait EventSink {
    /// A port reached its final state.
    fn port(&mut self, ev: PortEvent);
    /// Periodic progress (about ten times a second).
    fn status(&mut self, _st: &Status) {}
    /// Something the user should know (window shrunk for lack of descriptors, ...).
    fn notice(&mut self, _msg: &str) {}
    /// Where the walk is, for resume files: periodically, and once at the end or on interrupt.
    fn checkpoint(&mut self, _progress: &Progress) {}
}

/// What to scan.
pub struct Job<'a> {
    pub targets: &'a TargetSet,
    pub ports: &'a PortSet,
    pub plan: &'a Plan,
    /// Plan positions to walk (a shard).
    pub positions: Range<u64>,
    /// Positions already done (from a resume file).
    pub progress: Progress,
}

impl Job<'_> {
    /// The first position to walk and how many positions of the shard are still to probe
    /// (a resumed scan skips what its progress marks done).
    pub fn remaining(&self) -> (u64, u64) {
        let start = self.positions.start.max(self.progress.next());
        let end = self.positions.end;
        let left = end.saturating_sub(start) - self.progress.done_within(start..end);
        (start, left)
    }
}

/// Engine errors (results already delivered to the sink are kept by the caller).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

/// The congestion window and RTT estimator.
#[derive(Clone, Debug)]
pub struct Window {
    cwnd: f64,
    ssthresh: f64,
    min: f64,
    max: f64,
    epoch_done: u64,
    epoch_lost: u64,
    srtt: Option<f64>,
    rttvar: f64,
    min_rtt: f64,
    min_timeout: f64,
    max_timeout: f64,
}

impl Window {
    pub fn new(initial: usize, min: usize, max: usize, min_to: Duration, max_to: Duration) -> Self {
        let max = max.max(1) as f64;
        let min = (min.max(1) as f64).min(max);
        Window {
            cwnd: (initial as f64).clamp(min, max),
            ssthresh: max,
            min,
            max,
            epoch_done: 0,
            epoch_lost: 0,
            srtt: None,
            rttvar: 0.0,
            min_rtt: f64::INFINITY,
            min_timeout: min_to.as_secs_f64(),
            max_timeout: max_to.as_secs_f64().max(min_to.as_secs_f64()),
        }
    }

    /// Probes allowed in flight now.
    pub fn size(&self) -> usize {
        self.cwnd as usize
    }

    /// Whether any round trip has been measured yet.
    pub fn has_rtt(&self) -> bool {
        self.srtt.is_some()
    }

    /// The current probe timeout.
    pub fn timeout(&self) -> Duration {
        let t = match self.srtt {
            None => self.max_timeout,
            Some(s) => (s + 4.0 * self.rttvar).clamp(self.min_timeout, self.max_timeout),
        };
        Duration::from_secs_f64(t)
    }

    /// A measured round trip.
    pub fn rtt_sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64();
        self.min_rtt = self.min_rtt.min(r);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2.0;
            }
            Some(s) => {
                self.rttvar = 0.75 * self.rttvar + 0.25 * (s - r).abs();
                self.srtt = Some(0.875 * s + 0.125 * r);
            }
        }
    }

    /// A probe reached a final state; `proven_loss`: it was answered only after a retry.
    pub fn completed(&mut self, proven_loss: bool) {
        self.epoch_done += 1;
        if proven_loss {
            self.epoch_lost += 1;
        }
        if self.epoch_done < (self.cwnd as u64).max(16) {
            return;
        }
        let loss = self.epoch_lost as f64 / self.epoch_done as f64;
        let queueing = self.srtt.is_some_and(|s| s > 4.0 * self.min_rtt + 0.010);
        if loss > 0.05 {
            self.cwnd = (self.cwnd * 0.5).max(self.min);
            self.ssthresh = self.cwnd;
        } else if queueing {
            self.cwnd = (self.cwnd * 0.85).max(self.min);
            self.ssthresh = self.cwnd;
        } else if self.cwnd < self.ssthresh {
            self.cwnd = (self.cwnd * 2.0).min(self.max);
        } else {
            self.cwnd = (self.cwnd * 1.125).min(self.max);
        }
        self.epoch_done = 0;
        self.epoch_lost = 0;
    }

    /// The system ran out of descriptors or local ports with `in_flight` probes out: never go
    /// above 90% of that again.
    pub fn resource_limit(&mut self, in_flight: usize) {
        let cap = ((in_flight as f64) * 0.9)
            .floor()
            .max(self.min.min(8.0))
            .max(1.0);
        self.max = self.max.min(cap);
        self.min = self.min.min(self.max);
        self.cwnd = self.cwnd.min(self.max);
        self.ssthresh = self.ssthresh.min(self.max);
    }
}

enum Outcome {
    Open(Duration),
    Closed(Duration),
    Unreach(Duration),
    Timeout,
    /// Out of a local resource: requeue, shrink.
    Local(io::Error),
}

fn is_local_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL)
    )
}

/// A connect to a local port that nothing listens on can get that very port as its source
/// (the kernel never hands out a port a listener holds): TCP's simultaneous open joins the
/// socket to itself. That is not a listener; the port is closed.
fn is_self_connect(stream: &tokio::net::TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(l), Ok(p)) if l == p)
}

async fn probe(addr: SocketAddr, timeout: Duration) -> Outcome {
    let sock = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    };
    let sock = match sock {
        Ok(s) => s,
        Err(e) => return Outcome::Local(e),
    };
    // Linger 0: closing an open port sends a RST and leaves no TIME_WAIT (never blocks).
    let _ = socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO));
    let start = Instant::now();
    match tokio::time::timeout(timeout, sock.connect(addr)).await {
        Ok(Ok(stream)) => {
            let rtt = start.elapsed();
            let own = is_self_connect(&stream);
            drop(stream);
            if own {
                Outcome::Closed(rtt)
            } else {
                Outcome::Open(rtt)
            }
        }
        Ok(Err(e)) => {
            let rtt = start.elapsed();
            match e.raw_os_error() {
                Some(libc::ECONNREFUSED) => Outcome::Closed(rtt),
                Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM) => {
                    Outcome::Unreach(rtt)
                }
                _ if is_local_exhaustion(&e) => Outcome::Local(e),
                _ => Outcome::Timeout,
            }
        }
        Err(_) => Outcome::Timeout,
    }
}

struct Done {
    pos: u64,
    attempt: u32,
    addr: IpAddr,
    port: u16,
    outcome: Outcome,
}

/// Run a connect scan to completion (or until `stop` is set), delivering results to `sink`.
/// Signals are the caller's business: the binary catches them once and sets `stop`.
pub fn run(
    job: Job<'_>,
    cfg: &ConnectConfig,
    sink: &mut dyn EventSink,
    stop: Arc<AtomicBool>,
) -> Result<ScanStats, ConnectError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(ConnectError::Runtime)?;
    Ok(rt.block_on(drive(job, cfg, sink, stop)))
}

async fn drive(
    job: Job<'_>,
    cfg: &ConnectConfig,
    sink: &mut dyn EventSink,
    stop: Arc<AtomicBool>,
) -> ScanStats {
    let fd_cap = limits::window_cap(limits::raise_nofile());
    let max_window = cfg.max_window.min(fd_cap).max(1);
    if max_window < cfg.max_window {
        sink.notice(&format!(
            "the file-descriptor limit allows {max_window} probes in flight (asked for {})",
            cfg.max_window
        ));
    }
    let mut win = Window::new(
        cfg.initial_window,
        cfg.min_window,
        max_window,
        cfg.min_timeout,
        cfg.max_timeout,
    );
    let origin = Instant::now();
    let mut bucket = cfg.max_rate.map(|r| {
        TokenBucket::new(
            r,
            cfg.burst.unwrap_or_else(|| TokenBucket::default_burst(r)),
            origin,
        )
    });

    let nports = job.ports.len() as u64;
    let (mut cursor, planned) = job.remaining();
    let mut progress = job.progress;
    let end = job.positions.end;
    let mut stats = ScanStats {
        planned,
        ..Default::default()
    };
    let mut retry: VecDeque<(u64, u32)> = VecDeque::new();
    let mut js: JoinSet<Done> = JoinSet::new();
    let mut in_flight = 0usize;
    let mut last_status = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut warned_limit = false;
    let mut wake: Option<Instant> = None;

    loop {
        if stop.load(Ordering::SeqCst) {
            stats.interrupted = true;
            break;
        }
        // Launch while the window and the rate cap allow.
        wake = None;
        while in_flight < win.size() {
            // Is there work?
            if retry.is_empty() {
                while cursor < end && progress.is_done(cursor) {
                    cursor += 1;
                }
                if cursor >= end {
                    break;
                }
            }
            if let Some(b) = bucket.as_mut() {
                if let Err(when) = b.try_take(Instant::now()) {
                    wake = Some(when);
                    break;
                }
            }
            let (pos, attempt) = match retry.pop_front() {
                Some(r) => r,
                None => {
                    let p = cursor;
                    cursor += 1;
                    (p, 0)
                }
            };
            let idx = job.plan.index_at(pos);
            let (Some(ip), Some(port)) = (
                job.targets.get(idx / nports),
                job.ports.get((idx % nports) as usize),
            ) else {
                progress.done(pos);
                continue;
            };
            if job.targets.is_excluded(ip) {
                // Unreachable by construction (excludes are subtracted); kept as a last guard.
                progress.done(pos);
                continue;
            }
            let timeout = win.timeout();
            js.spawn(async move {
                let outcome = probe(SocketAddr::new(ip, port), timeout).await;
                Done {
                    pos,
                    attempt,
                    addr: ip,
                    port,
                    outcome,
                }
            });
            in_flight += 1;
            stats.sent += 1;
        }
        if in_flight == 0 && retry.is_empty() && cursor >= end {
            break;
        }

        let tick = tokio::time::sleep(Duration::from_millis(100));
        tokio::select! {
            biased;
            r = js.join_next(), if in_flight > 0 => {
                if let Some(r) = r {
                    in_flight -= 1;
                    if let Ok(done) = r {
                        handle(done, cfg, &mut win, &mut retry, &mut progress, &mut stats, sink, in_flight, &mut warned_limit);
                    }
                }
                // Drain what else is ready without sleeping.
                while let Some(r) = js.try_join_next() {
                    in_flight -= 1;
                    if let Ok(done) = r {
                        handle(done, cfg, &mut win, &mut retry, &mut progress, &mut stats, sink, in_flight, &mut warned_limit);
                    }
                }
            }
            _ = async { if let Some(w) = wake { tokio::time::sleep_until(w.into()).await } }, if wake.is_some() => {}
            _ = tick => {}
        }

        if last_status.elapsed() >= Duration::from_millis(100) {
            last_status = Instant::now();
            sink.status(&status(&stats, in_flight, &win));
        }
        if last_checkpoint.elapsed() >= cfg.checkpoint_every {
            last_checkpoint = Instant::now();
            sink.checkpoint(&progress);
        }
    }
    let _ = wake;
    js.shutdown().await;
    sink.status(&status(&stats, 0, &win));
    sink.checkpoint(&progress);
    stats
}

fn status(stats: &ScanStats, in_flight: usize, win: &Window) -> Status {
    Status {
        planned: stats.planned,
        completed: stats.completed,
        sent: stats.sent,
        open: stats.open,
        in_flight,
        window: win.size(),
        timeout: win.timeout(),
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    d: Done,
    cfg: &ConnectConfig,
    win: &mut Window,
    retry: &mut VecDeque<(u64, u32)>,
    progress: &mut Progress,
    stats: &mut ScanStats,
    sink: &mut dyn EventSink,
    in_flight: usize,
    warned: &mut bool,
) {
    let (state, reason, rtt) = match d.outcome {
        Outcome::Open(rtt) => (PortState::Open, Reason::SynAck, Some(rtt)),
        Outcome::Closed(rtt) => (PortState::Closed, Reason::ConnRefused, Some(rtt)),
        Outcome::Unreach(rtt) => (PortState::Filtered, Reason::HostUnreach, Some(rtt)),
        Outcome::Timeout => {
            if d.attempt < cfg.retries {
                retry.push_back((d.pos, d.attempt + 1));
                stats.retries += 1;
                return;
            }
            (PortState::Filtered, Reason::NoResponse, None)
        }
        Outcome::Local(e) => {
            win.resource_limit(in_flight + 1);
            stats.sent = stats.sent.saturating_sub(1);
            retry.push_front((d.pos, d.attempt));
            if !*warned {
                *warned = true;
                sink.notice(&format!(
                    "out of local resources ({e}) with {} probes in flight: window capped at {}",
                    in_flight + 1,
                    win.size()
                ));
            }
            return;
        }
    };
    if let Some(r) = rtt {
        if reason != Reason::HostUnreach {
            win.rtt_sample(r);
        }
    }
    win.completed(d.attempt > 0 && rtt.is_some());
    progress.done(d.pos);
    stats.completed += 1;
    match state {
        PortState::Open => stats.open += 1,
        PortState::Closed => stats.closed += 1,
        _ => stats.filtered += 1,
    }
    sink.port(PortEvent {
        addr: d.addr,
        port: d.port,
        proto: Protocol::Tcp,
        state,
        reason,
        rtt,
        ttl: None,
        service: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_and_backs_off() {
        let mut w = Window::new(
            16,
            4,
            1000,
            Duration::from_millis(10),
            Duration::from_millis(500),
        );
        assert_eq!(w.timeout(), Duration::from_millis(500));
        for _ in 0..200 {
            w.rtt_sample(Duration::from_micros(200));
            w.completed(false);
        }
        assert!(w.size() > 16, "{}", w.size());
        assert_eq!(w.timeout(), Duration::from_millis(10));
        let before = w.size();
        for _ in 0..before.max(16) {
            w.completed(true);
        }
        assert!(w.size() < before);
        w.resource_limit(50);
        assert!(w.size() <= 45);
    }
}
