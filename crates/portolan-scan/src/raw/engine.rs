//! The engine's state and its turn: the plan walk, the global and per-host windows, the
//! unanswered probes and their timers, the pace, and every call to the sink. It knows nothing of
//! sockets: probes go out through a [`Transmit`], replies come in through a [`Receive`], time is
//! a [`Clock`], and what a probe and a reply are is a [`ProbeKind`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portolan_wire::reply::Reply;

use super::hosts::{Hosts, HELD_CAP};
use super::lanes::{Batch, Meta, BATCH, SLOT};
use super::probe::ProbeKind;
use super::timers::{Timer, Timers};
use super::transport::{Clock, Receive, Sent, Transmit};
use super::{RawConfig, RawStats};
use crate::connect::{EventSink, Job, Status, Window};
use crate::model::{PortEvent, PortState, Reason};
use crate::plan::Progress;
use crate::rate::Pacer;
use crate::rawio::RawError;

/// A probe sent and not answered yet.
struct InFlight {
    pos: u64,
    sent: Instant,
    tries: u32,
}

/// A probe picked to go out: (plan position, target, port, try number from 1).
type Pick = (u64, IpAddr, u16, u32);

/// One raw scan in progress.
pub(crate) struct Engine<'a, T: Transmit, R: Receive, C: Clock> {
    targets: &'a crate::target::TargetSet,
    ports: &'a crate::ports::PortSet,
    plan: &'a crate::plan::Plan,
    kind: &'a dyn ProbeKind,
    tx: T,
    rx: R,
    clock: C,
    sink: &'a mut dyn EventSink,
    /// The windows, timeouts and checkpoint interval come from here.
    tuning: &'a RawConfig,
    nports: u64,
    cursor: u64,
    end: u64,
    progress: Progress,
    stats: RawStats,
    win: Window,
    pacer: Pacer,
    inflight: HashMap<(IpAddr, u16), InFlight, foldhash::fast::RandomState>,
    timers: Timers,
    hosts: Hosts,
    retry: VecDeque<(IpAddr, u16)>,
    /// Probes picked but not yet taken by the kernel.
    deferred: VecDeque<Pick>,
    /// The batch being built, and spare ones.
    cur: Batch,
    pool: Vec<Batch>,
    /// What the last batch handed to a lane held (the lane owns the batch meanwhile).
    handed: Vec<Meta>,
    /// A reply taken while waiting, handled at the top of the next turn.
    pending: Option<(Reply, Instant)>,
    last_status: Instant,
    last_checkpoint: Instant,
}

impl<'a, T: Transmit, R: Receive, C: Clock> Engine<'a, T, R, C> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: Job<'a>,
        kind: &'a dyn ProbeKind,
        tuning: &'a RawConfig,
        pacer: Pacer,
        tx: T,
        rx: R,
        clock: C,
        sink: &'a mut dyn EventSink,
    ) -> Self {
        let nports = job.ports.len() as u64;
        let (cursor, planned) = job.remaining();
        let end = job.positions.end;
        let Job {
            targets,
            ports,
            plan,
            progress,
            ..
        } = job;
        let now = clock.now();
        Engine {
            nports,
            cursor,
            end,
            progress,
            stats: RawStats {
                scan: crate::model::ScanStats {
                    planned,
                    ..Default::default()
                },
                ..Default::default()
            },
            win: Window::new(
                tuning.initial_window,
                tuning.min_window,
                tuning.max_window,
                tuning.min_timeout,
                tuning.max_timeout,
            ),
            inflight: HashMap::with_capacity_and_hasher(
                tuning.initial_window * 2,
                foldhash::fast::RandomState::default(),
            ),
            timers: Timers::default(),
            hosts: Hosts::new(
                tuning.initial_window,
                tuning.min_window,
                tuning.max_window,
                tuning.min_timeout,
                tuning.max_timeout,
            )
            .untracked_if_at_most(nports),
            retry: VecDeque::new(),
            deferred: VecDeque::new(),
            cur: Batch::new(),
            pool: Vec::new(),
            handed: Vec::with_capacity(BATCH),
            pending: None,
            last_status: now,
            last_checkpoint: now,
            targets,
            ports,
            plan,
            kind,
            tx,
            rx,
            clock,
            sink,
            tuning,
            pacer,
        }
    }

    /// Run to the end of the job (every probe answered or out of tries) or until `stop`; then
    /// [`Engine::close`].
    pub fn run(&mut self, stop: &AtomicBool) {
        loop {
            if stop.load(Ordering::SeqCst) {
                self.stats.scan.interrupted = true;
                break;
            }
            let now = self.clock.now();
            // Batches the send lanes are done with: failed packets are final, buffers reused.
            while let Some(b) = self.tx.returned() {
                self.reclaim(b);
            }
            self.take_replies();
            self.expire(now);
            let (sent_any, wake) = self.send_what_fits();
            if self.is_done() {
                break;
            }
            self.report_progress();
            if !sent_any {
                self.wait(wake);
            }
        }
        self.stats.host_holds = self.hosts.holds;
    }

    /// After [`Engine::run`]: `shut` stops the send and receive sides (it may add to the stats
    /// and tell the sink), then the last status and checkpoint go to the sink.
    pub fn close(
        mut self,
        shut: impl FnOnce(&mut T, &mut RawStats, &mut dyn EventSink),
    ) -> RawStats {
        shut(&mut self.tx, &mut self.stats, &mut *self.sink);
        self.status(0);
        self.sink.checkpoint(&self.progress);
        self.stats
    }

    fn is_done(&self) -> bool {
        self.inflight.is_empty()
            && self.hosts.held == 0
            && self.retry.is_empty()
            && self.deferred.is_empty()
            && self.cursor >= self.end
            && self.tx.idle()
    }

    /// A port reached its final state: free its host's slot, mark its position done, count it
    /// and tell the sink.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        pos: u64,
        addr: IpAddr,
        port: u16,
        state: PortState,
        reason: Reason,
        rtt: Option<Duration>,
        ttl: Option<u8>,
    ) {
        if self.progress.is_done(pos) {
            // Final already: a port is reported, counted and released exactly once.
            return;
        }
        self.hosts.release(addr);
        self.progress.done(pos);
        self.stats.scan.completed += 1;
        match state {
            PortState::Open => self.stats.scan.open += 1,
            PortState::Closed => self.stats.scan.closed += 1,
            _ => self.stats.scan.filtered += 1,
        }
        self.sink.port(PortEvent {
            addr,
            port,
            proto: self.kind.proto(),
            state,
            reason,
            rtt,
            ttl,
            service: None,
        });
    }

    /// A probe that could not be sent (no route, refused by the kernel) is final: reported
    /// once, as no answer from the host. `why`: the notice, or `None` when it was given once for
    /// all (off-path targets).
    fn give_up(&mut self, pos: u64, addr: IpAddr, port: u16, why: Option<String>) {
        if self.progress.is_done(pos) {
            return;
        }
        if let Some(why) = why {
            self.sink.notice(&why);
        }
        self.inflight.remove(&(addr, port));
        let state = self.kind.unsent();
        self.finish(pos, addr, port, state, Reason::HostUnreach, None, None);
    }

    /// A batch is back (sent here or by a lane): report what the kernel refused, reuse it.
    fn reclaim(&mut self, mut b: Batch) {
        for (i, e) in b.errors.drain(..) {
            let m = b.meta[i];
            self.give_up(
                m.pos,
                m.addr,
                m.port,
                Some(format!("sending to {} failed: {e}", m.addr)),
            );
        }
        b.clear();
        self.pool.push(b);
    }

    /// Replies: each answered probe is final; its round trip feeds the windows.
    fn take_replies(&mut self) {
        while let Some((r, at)) = self.pending.take().or_else(|| self.rx.try_recv()) {
            self.pacer.answered(1);
            // The probe's slot: its port, or which discovery probe of the host it answers.
            let Some(port) = self.kind.slot(&r) else {
                self.stats.late_replies += 1;
                continue;
            };
            let Some(f) = self.inflight.remove(&(r.target, port)) else {
                self.stats.late_replies += 1;
                continue;
            };
            let Some((state, reason)) = self.kind.interpret(r.kind) else {
                // A TCP answer to a UDP probe or the reverse cannot validate; be safe.
                self.inflight.insert((r.target, port), f);
                continue;
            };
            let rtt = at.saturating_duration_since(f.sent);
            // Loss proven on a host whose own window is already the smaller one is that host's
            // problem (a rate limit, its path): it slows that host only. Loss elsewhere slows
            // the whole scan.
            let mut global_loss = f.tries > 1;
            if let Some(h) = self.hosts.window(r.target) {
                if r.icmp_from.is_none() {
                    h.rtt_sample(rtt);
                }
                h.completed(f.tries > 1);
                global_loss &= h.size() >= self.win.size();
            }
            if r.icmp_from.is_none() {
                self.win.rtt_sample(rtt);
            }
            self.win.completed(global_loss);
            self.finish(f.pos, r.target, port, state, reason, Some(rtt), Some(r.ttl));
        }
    }

    /// Timeouts: retransmit, or give up after the last try.
    fn expire(&mut self, now: Instant) {
        while let Some(Timer {
            at,
            addr,
            port,
            tries,
        }) = self.timers.peek()
        {
            if at > now {
                break;
            }
            self.timers.pop();
            // One lookup: the probe's entry is looked at and, when final, removed through it.
            let Entry::Occupied(o) = self.inflight.entry((addr, port)) else {
                continue;
            };
            if o.get().tries != tries {
                continue; // sent again since: a later timer stands
            }
            if o.get().tries < self.kind.max_tries() {
                self.retry.push_back((addr, port));
            } else {
                let f = o.remove();
                self.win.completed(false);
                if let Some(h) = self.hosts.window(addr) {
                    h.completed(false);
                }
                let (state, reason) = self.kind.silent();
                if state == PortState::OpenFiltered {
                    self.stats.udp_unconfirmed += 1;
                }
                self.finish(f.pos, addr, port, state, reason, None, None);
            }
        }
    }

    /// The next probe to send: deferred and retransmissions first (outside the window), then,
    /// while the window has room, probes held for their host, then the plan.
    fn pick(&mut self) -> Option<Pick> {
        loop {
            if let Some(d) = self.deferred.pop_front() {
                // A retransmission waits here with its earlier try still in flight; when that
                // try's answer (or its last timeout, or a refused send) made the port final
                // meanwhile, sending it again would only draw a second answer, reported twice.
                if d.3 > 1 && !self.inflight.contains_key(&(d.1, d.2)) {
                    continue;
                }
                return Some(d);
            }
            if let Some((addr, port)) = self.retry.pop_front() {
                match self.inflight.get(&(addr, port)) {
                    Some(f) => return Some((f.pos, addr, port, f.tries + 1)),
                    None => continue,
                }
            }
            if self.inflight.len() + self.cur.meta.len() >= self.win.size() {
                return None;
            }
            if let Some(h) = self.hosts.next_ready() {
                // A probe held back for its host's window, now that the host has room.
                return Some(h);
            }
            while self.cursor < self.end && self.progress.is_done(self.cursor) {
                self.cursor += 1;
            }
            if self.cursor >= self.end || self.hosts.held >= HELD_CAP {
                return None;
            }
            let pos = self.cursor;
            self.cursor += 1;
            let idx = self.plan.index_at(pos);
            match (
                self.targets.get(idx / self.nports),
                self.ports.get((idx % self.nports) as usize),
            ) {
                // Targets and ports are sets (merged intervals, sorted ports) and the plan a
                // permutation: a position's probe is never already in flight.
                (Some(addr), Some(port)) if !self.targets.is_excluded(addr) => {
                    debug_assert!(!self.inflight.contains_key(&(addr, port)));
                    if self.hosts.reserve(addr) {
                        return Some((pos, addr, port, 1));
                    }
                    self.hosts.hold(addr, pos, port);
                }
                _ => self.progress.done(pos),
            }
        }
    }

    /// Send while the window and the pace allow, in batches. Returns whether anything went out
    /// and when the pace allows the next probe (if it stopped for the pace).
    fn send_what_fits(&mut self) -> (bool, Option<Instant>) {
        let mut wake: Option<Instant> = None;
        let mut sent_any = false;
        while let Some((pos, addr, port, tries)) = self.pick() {
            if let Err(when) = self.pacer.try_take(self.clock.now()) {
                wake = Some(when);
                self.deferred.push_front((pos, addr, port, tries));
                break;
            }
            if !self.cur.meta.is_empty()
                && (self.cur.meta.len() == BATCH || self.cur.v6 != addr.is_ipv6())
            {
                sent_any |= self.flush();
            }
            let src = match self.tx.source(addr) {
                Ok(s) => s,
                Err(e) => {
                    // Off-path targets were announced once, before the scan.
                    let why = (!matches!(e, RawError::OffPath(_)))
                        .then(|| format!("{e}; {addr} skipped"));
                    self.give_up(pos, addr, port, why);
                    continue;
                }
            };
            let nb = self.cur.meta.len();
            let slot = &mut self.cur.arena[nb * SLOT..(nb + 1) * SLOT];
            let Some(len) = self.kind.build(slot, src, addr, port, (tries - 1) as usize) else {
                // No probe for this family pair (cannot happen with a routed source): drop it.
                self.inflight.remove(&(addr, port));
                self.hosts.release(addr);
                self.progress.done(pos);
                continue;
            };
            self.cur.v6 = addr.is_ipv6();
            self.cur.meta.push(Meta {
                pos,
                addr,
                port,
                tries,
                len,
            });
        }
        if !self.cur.meta.is_empty() {
            sent_any |= self.flush();
        }
        if !self.deferred.is_empty() && wake.is_none() {
            // The kernel's queue was full: give it a moment.
            wake = Some(self.clock.now() + Duration::from_micros(200));
        }
        (sent_any, wake)
    }

    /// The retransmission timeout of probes sent now (before any round trip: the initial one).
    fn send_timeout(&self) -> Duration {
        if self.win.has_rtt() {
            self.win.timeout()
        } else {
            self.tuning.initial_timeout.min(self.win.timeout())
        }
    }

    /// Hand the probes built so far to the send side; record what went. Returns whether
    /// anything was sent.
    fn flush(&mut self) -> bool {
        if self.pool.is_empty() {
            // One turn can send many batches (the pace allows more than building them takes):
            // take back what the lanes are done with now, or each batch would be a new one.
            while let Some(b) = self.tx.returned() {
                self.reclaim(b);
            }
        }
        let fresh = match self.pool.pop() {
            Some(b) => b,
            None => {
                self.stats.batches += 1;
                Batch::new()
            }
        };
        let b = std::mem::replace(&mut self.cur, fresh);
        let timeout = self.send_timeout();
        self.handed.clear();
        self.handed.extend_from_slice(&b.meta);
        match self.tx.send(b) {
            Sent::Handed => {
                let t = self.clock.now();
                let handed = std::mem::take(&mut self.handed);
                for m in &handed {
                    self.record_sent(m, t, timeout);
                }
                self.handed = handed;
                true
            }
            Sent::Here { batch, taken } => {
                for m in &batch.meta[taken..] {
                    self.stats.send_full += 1;
                    self.deferred.push_back((m.pos, m.addr, m.port, m.tries));
                }
                let t = self.clock.now();
                let mut any = false;
                for (i, m) in batch.meta[..taken].iter().enumerate() {
                    if batch.errors.iter().any(|(j, _)| *j == i) {
                        continue;
                    }
                    any = true;
                    self.record_sent(m, t, timeout);
                }
                self.reclaim(batch);
                any
            }
        }
    }

    /// A probe went out at `t`: in flight, with a retransmission timer.
    fn record_sent(&mut self, m: &Meta, t: Instant, timeout: Duration) {
        self.stats.scan.sent += 1;
        if m.tries > 1 {
            self.stats.scan.retries += 1;
        }
        self.inflight.insert(
            (m.addr, m.port),
            InFlight {
                pos: m.pos,
                sent: t,
                tries: m.tries,
            },
        );
        let timeout = self.hosts.timeout(m.addr).unwrap_or(timeout);
        self.timers.push(Timer {
            at: t + timeout,
            addr: m.addr,
            port: m.port,
            tries: m.tries,
        });
    }

    /// Status about ten times a second; a checkpoint every `checkpoint_every`.
    fn report_progress(&mut self) {
        let now = self.clock.now();
        if now.saturating_duration_since(self.last_status) >= Duration::from_millis(100) {
            self.last_status = now;
            self.status(self.inflight.len());
        }
        if now.saturating_duration_since(self.last_checkpoint) >= self.tuning.checkpoint_every {
            self.last_checkpoint = now;
            self.sink.checkpoint(&self.progress);
        }
    }

    fn status(&mut self, in_flight: usize) {
        self.sink.status(&Status {
            planned: self.stats.scan.planned,
            completed: self.stats.scan.completed,
            sent: self.stats.scan.sent,
            open: self.stats.scan.open,
            in_flight,
            window: self.win.size(),
            timeout: self.win.timeout(),
        });
    }

    /// Nothing could be sent: wait for a reply, a timer or the pace (5 ms at most).
    fn wait(&mut self, wake: Option<Instant>) {
        let now = self.clock.now();
        let mut until = now + Duration::from_millis(5);
        if let Some(w) = wake {
            until = until.min(w);
        }
        if let Some(t) = self.timers.peek() {
            until = until.min(t.at);
        }
        let wait = until.saturating_duration_since(now);
        if let Some(first) = self.rx.recv_timeout(wait) {
            self.pending = Some(first);
        }
    }
}
