//! Send and receive behind traits, so that the engine's loss, retransmission and window
//! behaviour can run against a simulated network in unit tests (no root, no namespaces), and
//! against the kernel in a scan.
//!
//! - [`Transmit`]: where probes go — the source address for a target, and batches handed to the
//!   kernel (from this thread or a send lane);
//! - [`Receive`]: validated replies, each with the instant it was read;
//! - [`Clock`]: the engine's time (the real one, or a simulated one that jumps to the next
//!   event).
//!
//! The kernel's side: [`KernelTx`] (raw IP or `AF_PACKET` sockets, [`Lanes`]) and
//! [`ChannelRx`] (replies from the receiver thread, [`spawn_receiver`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{classify, Reply, Verdict};

use super::lanes::{Batch, Lanes};
use crate::egress::Egress;
use crate::netlink;
use crate::rawio::{self, RawError, Receiver, Sender};

/// What became of a batch given to [`Transmit::send`].
pub(crate) enum Sent {
    /// A send lane took the whole batch: every probe in it counts as sent now. What the kernel
    /// refused comes back with the batch through [`Transmit::returned`].
    Handed,
    /// Sent from this thread: the kernel took `batch.meta[..taken]` (except the packets listed in
    /// `batch.errors`, refused for good); the rest did not fit its queue and must wait.
    Here { batch: Batch, taken: usize },
}

/// The send side of a raw scan.
pub(crate) trait Transmit {
    /// The source address of probes to `dst` (an error makes the probe final, unsent).
    fn source(&mut self, dst: IpAddr) -> Result<IpAddr, RawError>;
    /// Send a batch of built probes.
    fn send(&mut self, batch: Batch) -> Sent;
    /// A batch a send lane has finished with, if any.
    fn returned(&mut self) -> Option<Batch>;
    /// Whether no batch is out with a send lane.
    fn idle(&self) -> bool;
}

/// The receive side of a raw scan: validated replies and when they were read.
pub(crate) trait Receive {
    /// A reply that is already here.
    fn try_recv(&mut self) -> Option<(Reply, Instant)>;
    /// Wait at most `wait` for a reply.
    fn recv_timeout(&mut self, wait: Duration) -> Option<(Reply, Instant)>;
}

/// The engine's clock.
pub(crate) trait Clock {
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Probes to the kernel: raw sockets, with send lanes on other CPUs.
pub(crate) struct KernelTx<'a> {
    pub sender: Sender,
    pub lanes: Lanes,
    pub egress: &'a Egress,
    pub source_ip: Option<IpAddr>,
    /// `--interface`'s index, for route look-ups.
    pub oif: Option<u32>,
    /// One source per family (most scans have one egress).
    pub cache: HashMap<bool, IpAddr>,
}

impl Transmit for KernelTx<'_> {
    fn source(&mut self, dst: IpAddr) -> Result<IpAddr, RawError> {
        if self.egress.is_off_path(dst) {
            return Err(RawError::OffPath(dst));
        }
        if let Some(s) = self.source_ip {
            if s.is_ipv4() == dst.is_ipv4() {
                return Ok(s);
            }
        }
        // Loopback destinations are answered from loopback; others share one source per family
        // unless they route differently (the lab and most scans have one egress).
        if dst.is_loopback() {
            return Ok(dst);
        }
        if let Some(s) = self.cache.get(&dst.is_ipv4()) {
            return Ok(*s);
        }
        // The route's preferred source (`ip route get`), else the connected-UDP-socket trick.
        let s = match netlink::route_get(dst, self.oif)
            .ok()
            .and_then(|r| r.source)
        {
            Some(s) => s,
            None => rawio::source_for(dst)?,
        };
        self.cache.insert(dst.is_ipv4(), s);
        Ok(s)
    }

    fn send(&mut self, batch: Batch) -> Sent {
        match self.lanes.offer(batch) {
            Ok(()) => Sent::Handed,
            Err(mut batch) => {
                let taken = batch.push(&self.sender, 0);
                Sent::Here { batch, taken }
            }
        }
    }

    fn returned(&mut self) -> Option<Batch> {
        self.lanes.returned()
    }

    fn idle(&self) -> bool {
        self.lanes.idle()
    }
}

/// Replies from the receiver thread.
pub(crate) struct ChannelRx(pub mpsc::Receiver<(Reply, Instant)>);

impl Receive for ChannelRx {
    fn try_recv(&mut self) -> Option<(Reply, Instant)> {
        self.0.try_recv().ok()
    }
    fn recv_timeout(&mut self, wait: Duration) -> Option<(Reply, Instant)> {
        self.0.recv_timeout(wait).ok()
    }
}

/// Counters the receiver keeps.
#[derive(Debug, Default)]
pub(crate) struct RxCounters {
    pub packets: AtomicU64,
    pub invalid: AtomicU64,
    pub dropped: AtomicU64,
}

/// Start the receiver thread: it reads every IP packet from `receiver`, validates it with the
/// probe cookie, counts and drops what does not validate and passes the rest on, until `stop`.
pub(crate) fn spawn_receiver(
    receiver: Receiver,
    key: CookieKey,
    counters: Arc<RxCounters>,
    stop: Arc<AtomicBool>,
) -> Result<(ChannelRx, std::thread::JoinHandle<()>), RawError> {
    let (tx, rx) = mpsc::sync_channel::<(Reply, Instant)>(1 << 16);
    let thread = std::thread::Builder::new()
        .name("portolan-rx".into())
        .spawn(move || {
            const SLOTS: usize = 64;
            const SLOT: usize = 2048;
            let mut bufs = vec![0u8; SLOTS * SLOT];
            let mut lens = [0usize; SLOTS];
            // Poll without blocking while packets come, so the kernel never has to wake this
            // thread per packet (a wake-up costs the sending CPU more than the packet itself);
            // after a quiet spell, block again.
            let mut idle = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let got = receiver
                    .recv_batch(&mut bufs, &mut lens, idle > 2000)
                    .unwrap_or(0);
                if got == 0 {
                    idle = idle.saturating_add(1);
                    if idle <= 2000 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    continue;
                }
                idle = 0;
                let at = Instant::now();
                for (i, &n) in lens[..got].iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    counters.packets.fetch_add(1, Ordering::Relaxed);
                    match classify(&bufs[i * SLOT..i * SLOT + n], &key) {
                        Verdict::Reply(r) => {
                            if tx.try_send((r, at)).is_err() {
                                counters.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Verdict::Invalid => {
                            counters.invalid.fetch_add(1, Ordering::Relaxed);
                        }
                        Verdict::Unrelated => {}
                    }
                }
            }
        })
        .map_err(RawError::Socket)?;
    Ok((ChannelRx(rx), thread))
}
