//! The detectors, fed one decoded packet at a time.
//!
//! * **Connection outcomes.** Each TCP SYN, UDP datagram or stray stealth packet opens a
//!   [`Flow`]; the answer settles it: SYN-ACK (success), RST or ICMP error (failure), nothing
//!   within `timeouts.syn_secs` (failure).
//! * **Threshold Random Walk.** For each source, the outcomes of its *first contacts* (the first
//!   probe to a given destination and port in the window) drive a sequential likelihood-ratio
//!   test: success multiplies the ratio by θ1/θ0, failure by (1−θ1)/(1−θ0). Crossing η1 = β/α
//!   calls the source a scanner; falling below η0 = (1−β)/(1−α) calls it benign and restarts.
//! * **Distinct-count thresholds** per source and window over its *failed* first contacts
//!   (exact up to 32, then HyperLogLog): vertical (ports), horizontal (hosts), block (both); per
//!   target: distributed (sources and ports). Completed connections are never counted: a client
//!   of many open services is not a scanner.
//! * **Flag patterns.** NULL, FIN and Xmas packets with no connection are probes at once; a lone
//!   ACK or FIN/ACK (ACK and Maimon scans) is a probe when answered by RST or by nothing.
//! * **UDP scans** fail their first contacts through ICMP port-unreachable replies.
//! * **SYN floods**: SYNs minus completed handshakes per destination service and window.
//!
//! Alerts are raised once per source and technique (once per service for floods) until the
//! entry has been idle for `timeouts.source_idle_secs`.

use crate::alert::{Alert, DetectorKind, Shape, Technique, MAX_PORTS_LISTED};
use crate::config::Config;
use crate::decode::{self, Addr, IcmpInfo, IcmpKind, PacketInfo, TcpInfo, Transport};
use crate::flow::{Flow, FlowKey, FlowState, FlowTable};
use crate::sketch::{hash_addr, hash_addr_u32, mix64, Bloom, Distinct, Hll};
use crate::source::RawPacket;
use crate::table::LruTable;
use portolan_wire::TcpFlags;

/// Scanners whose probes carry recognisable traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tool {
    Masscan = 1,
    Zmap = 2,
    Nmap = 3,
    Hping3 = 4,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Masscan => "masscan",
            Tool::Zmap => "zmap",
            Tool::Nmap => "nmap",
            Tool::Hping3 => "hping3",
        }
    }
    fn from_u8(v: u8) -> Option<Tool> {
        match v {
            1 => Some(Tool::Masscan),
            2 => Some(Tool::Zmap),
            3 => Some(Tool::Nmap),
            4 => Some(Tool::Hping3),
            _ => None,
        }
    }
}

/// Recognise a scanner from one TCP probe.
///
/// * ZMap: IPv4 identification 54321.
/// * masscan: IPv4 identification = (destination address ⊕ destination port ⊕ sequence number)
///   truncated to 16 bits, window 1024.
/// * nmap raw probes: window 1024, 2048, 3072 or 4096, and either no options or the single
///   option MSS 1460 (its SYN).
/// * hping3: window 512, no options.
pub fn tcp_tool(p: &PacketInfo, t: &TcpInfo) -> Option<Tool> {
    if p.src.is_v4() && p.ip_id == 54321 {
        return Some(Tool::Zmap);
    }
    if let Some(d) = p.dst.as_v4() {
        let dst_lo = u16::from_be_bytes([d[2], d[3]]);
        if t.window == 1024 && p.ip_id == dst_lo ^ t.dport ^ (t.seq as u16) {
            return Some(Tool::Masscan);
        }
    }
    let o = &t.opts;
    let nmap_opts = o.count == 0 || (o.count == 1 && o.mss == Some(1460));
    if matches!(t.window, 1024 | 2048 | 3072 | 4096) && nmap_opts {
        return Some(Tool::Nmap);
    }
    if t.window == 512 && o.count == 0 {
        return Some(Tool::Hping3);
    }
    None
}

/// Recognise a scanner from one UDP probe (`len`: the UDP length field, 8 when empty).
///
/// * ZMap: IPv4 identification 54321, as for its TCP probes.
/// * masscan: its IPv4 UDP template is sent with TTL 255 (its source, `templ-pkt.c`); nothing
///   else of the header is fixed (the identification is destination ⊕ port ⊕ a keyed cookie,
///   the payload is its per-port one or empty), so an initial TTL of 255 — more than 128 left
///   on arrival — is what tells it from nmap.
/// * nmap -sU: an empty datagram with a TTL nmap picks below 64 (so, for IPv4, at most 64 on
///   arrival).
pub fn udp_tool(p: &PacketInfo, len: u16) -> Option<Tool> {
    if p.src.is_v4() {
        if p.ip_id == 54321 {
            return Some(Tool::Zmap);
        }
        if p.ttl > 128 {
            return Some(Tool::Masscan);
        }
        if p.ttl > 64 {
            return None;
        }
    }
    (len == 8).then_some(Tool::Nmap)
}

/// Per-source state.
#[derive(Clone, Default)]
struct SourceState {
    addr: Addr,
    first_ns: u64,
    last_ns: u64,
    window_start: u64,
    /// First contacts in the window.
    probes: u64,
    probes_total: u64,
    kind: [u32; 9],
    /// Distinct ports and hosts of the window's first contacts (what the alert reports).
    ports: Distinct,
    hosts: Distinct,
    /// Distinct ports and hosts of the window's *failed* first contacts (what the thresholds
    /// count: completed connections to open services are not scanning evidence).
    failed_ports: Distinct,
    failed_hosts: Distinct,
    seen: Bloom,
    port_list: [u16; MAX_PORTS_LISTED],
    nports: u8,
    last_dst: Addr,
    last_dport: u16,
    last_sport: u16,
    llr: f64,
    half_open: u32,
    completed: u32,
    tool_votes: [u32; 5],
    alerted: u32,
}

/// Per destination service (host, port): SYN-flood accounting.
#[derive(Clone, Default)]
struct ServiceState {
    window_start: u64,
    first_ns: u64,
    syns: u64,
    completed: u64,
    sources: Hll,
    last_src: Addr,
    last_sport: u16,
    alerted: bool,
    last_ns: u64,
}

/// Per target host: distributed-scan accounting.
#[derive(Clone, Default)]
struct TargetState {
    window_start: u64,
    first_ns: u64,
    last_ns: u64,
    probes: u64,
    sources: Distinct,
    ports: Distinct,
    port_list: [u16; MAX_PORTS_LISTED],
    nports: u8,
    last_src: Addr,
    kind: [u32; 9],
    alerted: bool,
}

/// Counters of what was seen.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub ip_packets: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub not_ip: u64,
    pub malformed: u64,
    pub unsupported_linktype: u64,
    pub allowed_probes: u64,
    pub flows_evicted: u64,
    pub sources_evicted: u64,
    pub alerts: u64,
}

/// The detection engine.
pub struct Detector {
    cfg: Config,
    seed: u64,
    flows: FlowTable,
    sources: LruTable<Addr, SourceState>,
    services: LruTable<(Addr, u16), ServiceState>,
    targets: LruTable<Addr, TargetState>,
    now: u64,
    syn_timeout: u64,
    udp_timeout: u64,
    flow_idle: u64,
    source_idle: u64,
    window: u64,
    flood_window: u64,
    trw_up: f64,
    trw_down: f64,
    trw_ok: f64,
    trw_fail: f64,
    stats: Stats,
    out: Vec<Alert>,
    /// Decoded packets waiting to be processed together (see [`Detector::process_raw`]).
    batch: Vec<PacketInfo>,
}

/// Packets decoded before their flow buckets are looked up together.
pub const BATCH: usize = 64;

const SWEEP_PER_PACKET: usize = 1;

/// The flow key of a TCP or UDP packet.
#[inline]
fn flow_key(p: &PacketInfo) -> Option<(FlowKey, bool)> {
    match p.transport {
        Transport::Tcp(ref t) => Some(FlowKey::new(p.src, t.sport, p.dst, t.dport, 6)),
        Transport::Udp { sport, dport, .. } => Some(FlowKey::new(p.src, sport, p.dst, dport, 17)),
        _ => None,
    }
}

fn secs(s: f64) -> u64 {
    (s * 1e9) as u64
}

fn is_group(a: &Addr) -> bool {
    match a.as_v4() {
        Some(v) => v[0] >= 224 || v == [255, 255, 255, 255] || v[3] == 255,
        None => a.0[0] == 0xff,
    }
}

impl Detector {
    pub fn new(cfg: Config) -> Detector {
        let seed = cfg.limits.hash_key;
        Detector {
            flows: FlowTable::new(cfg.limits.max_flows, seed),
            sources: LruTable::new(cfg.limits.max_sources),
            services: LruTable::new(cfg.limits.max_services),
            targets: LruTable::new(cfg.limits.max_targets),
            now: 0,
            syn_timeout: secs(cfg.timeouts.syn_secs),
            udp_timeout: secs(cfg.timeouts.udp_secs),
            flow_idle: secs(cfg.timeouts.flow_idle_secs),
            source_idle: secs(cfg.timeouts.source_idle_secs),
            window: secs(cfg.thresholds.window_secs),
            flood_window: secs(cfg.flood.window_secs),
            trw_up: cfg.trw.upper(),
            trw_down: cfg.trw.lower(),
            trw_ok: cfg.trw.success_step(),
            trw_fail: cfg.trw.failure_step(),
            stats: Stats::default(),
            out: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            seed,
            cfg,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.flows_evicted = self.flows.evictions;
        s.sources_evicted = self.sources.evictions;
        s
    }

    /// Alerts raised since the last call (processing any batched packets first).
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        self.flush();
        std::mem::take(&mut self.out)
    }

    /// True when alerts are waiting (alerts of queued packets appear once they are processed).
    #[inline]
    pub fn has_alerts(&self) -> bool {
        !self.out.is_empty()
    }

    /// Decode one captured frame and queue it; packets are processed in batches of [`BATCH`]
    /// so that their flow-table lookups overlap. [`Detector::take_alerts`], [`Detector::tick`]
    /// and [`Detector::finish`] process what is queued.
    #[inline]
    pub fn process_raw(&mut self, raw: &RawPacket<'_>) {
        self.stats.packets += 1;
        match decode::decode(raw.linktype, raw.ts_ns, raw.data) {
            Ok(p) => {
                self.batch.push(p);
                if self.batch.len() == BATCH {
                    self.flush();
                }
            }
            Err(decode::DecodeError::NotIp) => self.stats.not_ip += 1,
            Err(decode::DecodeError::UnsupportedLinkType(_)) => {
                self.stats.unsupported_linktype += 1
            }
            Err(decode::DecodeError::Wire(_)) => self.stats.malformed += 1,
        }
    }

    /// Process the queued packets: first start loading every flow bucket, then process.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let mut hashes = [0u64; BATCH];
        for (p, h) in batch.iter().zip(hashes.iter_mut()) {
            if let Some(key) = flow_key(p) {
                *h = self.flows.hash_of(&key.0);
                self.flows.prefetch_tags(*h);
            }
        }
        for h in hashes.iter().take(batch.len()) {
            self.flows.prefetch_slot(*h);
        }
        for (p, h) in batch.iter().zip(hashes.iter()) {
            self.process_hashed(p, Some(*h));
        }
        let mut batch = batch;
        batch.clear();
        self.batch = batch;
    }

    /// Advance the clock without a packet (live capture when idle): expire what is due.
    pub fn tick(&mut self, now_ns: u64) {
        self.flush();
        if now_ns > self.now {
            self.now = now_ns;
        }
        let n = (self.flows.capacity() / 64).max(SWEEP_PER_PACKET);
        self.sweep(n);
    }

    /// Process one decoded packet now (after any queued ones).
    pub fn process(&mut self, p: &PacketInfo) {
        self.flush();
        self.process_hashed(p, None);
    }

    #[inline]
    fn process_hashed(&mut self, p: &PacketInfo, h: Option<u64>) {
        self.stats.ip_packets += 1;
        if p.ts_ns > self.now {
            self.now = p.ts_ns;
        }
        match p.transport {
            Transport::Tcp(ref t) => {
                self.stats.tcp += 1;
                self.tcp(p, t, h);
            }
            Transport::Udp { sport, dport, len } => {
                self.stats.udp += 1;
                self.udp(p, sport, dport, len, h);
            }
            Transport::Icmp(ref i) => {
                self.stats.icmp += 1;
                self.icmp(p, i);
            }
            Transport::Other(_) => {}
        }
        self.sweep(SWEEP_PER_PACKET);
    }

    /// Settle everything still pending (end of a capture): unanswered SYNs fail.
    pub fn finish(&mut self) {
        self.flush();
        let idx: Vec<usize> = self.flows.used().collect();
        for i in idx {
            let f = *self.flows.get(i);
            if f.state.pending() {
                self.settle_timeout(&f);
                self.flows.get_mut(i).state = match f.state {
                    FlowState::UdpSent => FlowState::UdpSilent,
                    FlowState::SynAck => FlowState::Established,
                    _ => FlowState::NoAnswer,
                };
            }
        }
    }

    fn sweep(&mut self, n: usize) {
        let now = self.now;
        for _ in 0..n {
            let Some(i) = self.flows.sweep_next() else {
                continue;
            };
            let f = *self.flows.get(i);
            let age = now.saturating_sub(f.last_ns);
            let limit = match f.state {
                FlowState::UdpSent => self.udp_timeout,
                s if s.pending() => self.syn_timeout,
                _ => self.flow_idle,
            };
            if age <= limit {
                continue;
            }
            if f.state.pending() {
                // settled: keep the entry (to recognise retransmissions) until idle
                self.flows.get_mut(i).state = match f.state {
                    FlowState::UdpSent => FlowState::UdpSilent,
                    FlowState::SynAck => FlowState::Established,
                    _ => FlowState::NoAnswer,
                };
                self.settle_timeout(&f);
            } else {
                self.flows.remove(i);
            }
        }
    }

    /// A pending flow got no answer.
    fn settle_timeout(&mut self, f: &Flow) {
        let (client, cport) = f.client();
        let (server, sport) = f.server();
        match f.state {
            FlowState::SynSent if f.first_contact => {
                self.failed(f, f.last_ns, true);
            }
            // Unanswered UDP is no evidence for TRW (open UDP services often stay silent), but
            // it is no successful contact either: the distinct-count thresholds count it.
            FlowState::UdpSent if f.first_contact => {
                self.failed(f, f.last_ns, false);
            }
            // The server accepted and the client went quiet: count it as a success.
            FlowState::SynAck if f.first_contact => {
                self.outcome(client, true, f.last_ns);
            }
            FlowState::Midstream => {
                let kind = Technique::from_index(usize::from(f.probe));
                self.probe(
                    kind,
                    client,
                    cport,
                    server,
                    sport,
                    f.last_ns,
                    Tool::from_u8(f.tool),
                );
            }
            _ => {}
        }
    }

    fn new_flow(
        &mut self,
        h: u64,
        key: FlowKey,
        src_is_a: bool,
        state: FlowState,
        now: u64,
    ) -> usize {
        let (idx, old) = self.flows.claim(h);
        if let Some(old) = old {
            if old.state.pending() {
                self.settle_timeout(&old);
            }
        }
        self.flows.put(
            idx,
            Flow {
                key,
                state,
                client_is_a: src_is_a,
                first_contact: false,
                probe: 0,
                tool: 0,
                first_ns: now,
                last_ns: now,
            },
        );
        idx
    }

    fn tcp(&mut self, p: &PacketInfo, t: &TcpInfo, h: Option<u64>) {
        let (key, src_is_a) = FlowKey::new(p.src, t.sport, p.dst, t.dport, 6);
        let now = p.ts_ns;
        let fl = t.flags;
        let core = fl.core();
        let h = h.unwrap_or_else(|| self.flows.hash_of(&key));
        match self.flows.find_h(&key, h) {
            Some(i) => {
                self.flows.touch(i, now);
                let f = self.flows.get_mut(i);
                let from_client = f.client_is_a == src_is_a;
                let state = f.state;
                let first = f.first_contact;
                match (state, from_client) {
                    (FlowState::SynSent, false) if fl.has(TcpFlags::SYN | TcpFlags::ACK) => {
                        // The outcome waits for the client: completing the handshake is a
                        // success, resetting it (a half-open probe) a failure.
                        f.state = FlowState::SynAck;
                    }
                    (FlowState::SynSent, false) if fl.has(TcpFlags::RST) => {
                        f.state = FlowState::Refused;
                        let f = *f;
                        if first {
                            self.failed(&f, now, true);
                        }
                    }
                    (FlowState::SynAck, true) if fl.has(TcpFlags::RST) => {
                        f.state = FlowState::HalfOpen;
                        let f = *f;
                        self.half_open(p.src);
                        if first {
                            self.failed(&f, now, true);
                        }
                    }
                    (FlowState::SynAck, true) if fl.has(TcpFlags::ACK) => {
                        f.state = FlowState::Established;
                        self.completed(p.src, p.dst, t.dport);
                        if first {
                            self.outcome(p.src, true, now);
                        }
                    }
                    (FlowState::Midstream, false) => {
                        let f = *f;
                        if fl.has(TcpFlags::RST) {
                            self.flows.get_mut(i).state = FlowState::Refused;
                            let (c, cp) = f.client();
                            let kind = Technique::from_index(usize::from(f.probe));
                            self.probe(kind, c, cp, p.src, t.sport, now, Tool::from_u8(f.tool));
                        } else {
                            self.flows.get_mut(i).state = FlowState::Established;
                        }
                    }
                    (FlowState::NoAnswer | FlowState::Refused, true) if core == TcpFlags::SYN => {
                        // a retransmitted SYN after we gave up: nothing new
                    }
                    _ => {}
                }
            }
            None => {
                if core & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) == TcpFlags::SYN {
                    // a new connection attempt
                    let idx = self.new_flow(h, key, src_is_a, FlowState::SynSent, now);
                    let kind = if t.opts.sack_permitted || t.opts.timestamp {
                        Technique::TcpConnect
                    } else {
                        Technique::TcpSyn
                    };
                    let tool = tcp_tool(p, t);
                    let first = self.probe(kind, p.src, t.sport, p.dst, t.dport, now, tool);
                    let f = self.flows.get_mut(idx);
                    f.first_contact = first;
                    f.probe = kind.index() as u8;
                    self.syn_to_service(p.src, t.sport, p.dst, t.dport, now);
                } else if core & (TcpFlags::SYN | TcpFlags::RST) != 0 {
                    // SYN-ACK or RST with no flow: backscatter or a flow we missed; ignore
                } else {
                    let no_ack = core & TcpFlags::ACK == 0;
                    let stealth = if core == 0 {
                        Some(Technique::TcpNull)
                    } else if no_ack && fl.has(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG) {
                        Some(Technique::TcpXmas)
                    } else if no_ack && core & TcpFlags::FIN != 0 {
                        Some(Technique::TcpFin)
                    } else {
                        None
                    };
                    if let Some(kind) = stealth {
                        let idx = self.new_flow(h, key, src_is_a, FlowState::Stealth, now);
                        self.flows.get_mut(idx).probe = kind.index() as u8;
                        let tool = tcp_tool(p, t);
                        self.probe(kind, p.src, t.sport, p.dst, t.dport, now, tool);
                    } else if t.payload_len == 0
                        && (core == TcpFlags::ACK || core == TcpFlags::ACK | TcpFlags::FIN)
                    {
                        // a lone ACK / FIN-ACK: an ACK or Maimon probe if answered by RST or
                        // by nothing, a connection we joined late otherwise
                        let kind = if core & TcpFlags::FIN != 0 {
                            Technique::TcpMaimon
                        } else {
                            Technique::TcpAck
                        };
                        let idx = self.new_flow(h, key, src_is_a, FlowState::Midstream, now);
                        let tool = tcp_tool(p, t).map_or(0, |t| t as u8);
                        let f = self.flows.get_mut(idx);
                        f.probe = kind.index() as u8;
                        f.tool = tool;
                    } else {
                        // data on a connection that started before the capture
                        self.new_flow(h, key, src_is_a, FlowState::Established, now);
                    }
                }
            }
        }
    }

    fn udp(&mut self, p: &PacketInfo, sport: u16, dport: u16, len: u16, h: Option<u64>) {
        let (key, src_is_a) = FlowKey::new(p.src, sport, p.dst, dport, 17);
        let now = p.ts_ns;
        let h = h.unwrap_or_else(|| self.flows.hash_of(&key));
        match self.flows.find_h(&key, h) {
            Some(i) => {
                self.flows.touch(i, now);
                let f = self.flows.get_mut(i);
                if f.client_is_a != src_is_a && f.state == FlowState::UdpSent {
                    f.state = FlowState::UdpAnswered;
                    if f.first_contact {
                        self.outcome(p.dst, true, now);
                    }
                }
            }
            None => {
                let idx = self.new_flow(h, key, src_is_a, FlowState::UdpSent, now);
                // A datagram from a well-known port to a high one looks like a reply to a
                // request sent before the capture started: not a probe.
                let looks_like_reply = sport < 1024 && dport >= 1024;
                if !looks_like_reply {
                    let tool = udp_tool(p, len);
                    let first = self.probe(Technique::Udp, p.src, sport, p.dst, dport, now, tool);
                    let f = self.flows.get_mut(idx);
                    f.first_contact = first;
                    f.probe = Technique::Udp.index() as u8;
                }
            }
        }
    }

    fn icmp(&mut self, p: &PacketInfo, i: &IcmpInfo) {
        let Some(q) = i.quoted else { return };
        if !matches!(
            i.kind,
            IcmpKind::PortUnreachable | IcmpKind::Prohibited | IcmpKind::Unreachable
        ) {
            return;
        }
        // The error goes back to whoever sent the quoted packet.
        if p.dst != q.src {
            return;
        }
        let (key, _) = FlowKey::new(q.src, q.sport, q.dst, q.dport, q.protocol);
        let Some(idx) = self.flows.find(&key) else {
            return;
        };
        let f = *self.flows.get(idx);
        let (client, cport) = f.client();
        if client != q.src {
            return;
        }
        let now = p.ts_ns;
        match f.state {
            FlowState::SynSent | FlowState::UdpSent => {
                self.flows.touch(idx, now);
                self.flows.get_mut(idx).state = FlowState::Unreachable;
                if f.first_contact {
                    self.failed(&f, now, true);
                }
            }
            FlowState::Midstream => {
                self.flows.get_mut(idx).state = FlowState::Unreachable;
                let (server, sport) = f.server();
                let kind = Technique::from_index(usize::from(f.probe));
                self.probe(
                    kind,
                    client,
                    cport,
                    server,
                    sport,
                    now,
                    Tool::from_u8(f.tool),
                );
            }
            _ => {}
        }
    }

    /// Look up (creating) a source, resetting it when idle and rolling its window.
    fn source(&mut self, src: Addr, now: u64) -> usize {
        let h = hash_addr(self.seed, &src);
        let (i, new) = self.sources.get_or_insert(&src, h, now);
        let idle = self.source_idle;
        let window = self.window;
        let s = self.sources.value_mut(i);
        if new || now.saturating_sub(s.last_ns) > idle {
            *s = SourceState {
                addr: src,
                first_ns: now,
                last_ns: now,
                window_start: now,
                ..SourceState::default()
            };
        }
        if now.saturating_sub(s.window_start) > window {
            s.window_start = now;
            s.probes = 0;
            s.kind = [0; 9];
            s.ports.clear();
            s.hosts.clear();
            s.failed_ports.clear();
            s.failed_hosts.clear();
            s.seen.clear();
        }
        s.last_ns = s.last_ns.max(now);
        i
    }

    /// Account one probe; true when it was the source's first contact with (dst, port).
    #[allow(clippy::too_many_arguments)]
    fn probe(
        &mut self,
        kind: Technique,
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
        now: u64,
        tool: Option<Tool>,
    ) -> bool {
        if is_group(&dst) {
            return false;
        }
        if !self.cfg.allow.is_empty() && self.cfg.allowed(&src) {
            self.stats.allowed_probes += 1;
            return false;
        }
        let seed = self.seed;
        let i = self.source(src, now);
        let s = self.sources.value_mut(i);
        let key = u32::from(dport) | ((kind.index() as u32) << 16);
        if !s.seen.insert(hash_addr_u32(seed, &dst, key)) {
            return false;
        }
        s.probes += 1;
        s.probes_total += 1;
        let heavy = s.probes_total > 1 || s.alerted != 0;
        s.kind[kind.index()] += 1;
        s.ports.add(mix64(seed ^ u64::from(dport)));
        s.hosts.add(hash_addr(seed, &dst));
        if usize::from(s.nports) < MAX_PORTS_LISTED
            && !s.port_list[..usize::from(s.nports)].contains(&dport)
        {
            s.port_list[usize::from(s.nports)] = dport;
            s.nports += 1;
        }
        s.last_dst = dst;
        s.last_dport = dport;
        s.last_sport = sport;
        if let Some(t) = tool {
            s.tool_votes[t as usize] += 1;
        }
        if heavy {
            self.sources.set_weight(i, 1);
        }
        let s = self.sources.value_mut(i);
        let th = self.cfg.thresholds;
        // A stealth packet is a probe by itself (no connection can start that way); ACK and
        // Maimon probes reach here only once answered by RST or by nothing.
        if kind.is_stealth() {
            let few = s.probes <= 3;
            if u64::from(s.kind[kind.index()]) >= th.stealth_probes {
                self.alert_source(i, kind, DetectorKind::Flags, now);
            }
            if few {
                self.target_probe(src, dst, dport, kind, now);
            }
        }
        true
    }

    /// A first contact failed: refused (RST), unreachable (ICMP), unanswered, or reset by the
    /// client after the server accepted (half-open). This, not the probe itself, is scanning
    /// evidence (TRW; Zeek's scan policy likewise counts failed attempts): a client that
    /// completes connections to many open services is not a scanner. `trw` is false for
    /// unanswered UDP, which feeds only the distinct-count thresholds.
    fn failed(&mut self, f: &Flow, now: u64, trw: bool) {
        let (client, _) = f.client();
        let (server, port) = f.server();
        let kind = Technique::from_index(usize::from(f.probe));
        if trw {
            self.outcome(client, false, now);
        }
        let h = hash_addr(self.seed, &client);
        if self.sources.find(&client, h).is_none() {
            return;
        }
        let seed = self.seed;
        let i = self.source(client, now);
        let th = self.cfg.thresholds;
        let s = self.sources.value_mut(i);
        s.failed_ports.add(mix64(seed ^ u64::from(port)));
        s.failed_hosts.add(hash_addr(seed, &server));
        let ports = s.failed_ports.count();
        let hosts = s.failed_hosts.count();
        let few = s.probes <= 3;
        let hit = (ports >= th.vertical_ports && hosts < th.block_hosts)
            || (hosts >= th.horizontal_hosts && ports < th.block_ports)
            || (ports >= th.block_ports && hosts >= th.block_hosts);
        if hit {
            let tech = self.dominant(i);
            self.alert_source(i, tech, DetectorKind::Threshold, now);
        }
        // Distributed scans are made of sources that each probe little: only their first few
        // probes count towards the target.
        if few {
            self.target_probe(client, server, port, kind, now);
        }
    }

    /// The technique a source mostly used.
    fn dominant(&self, i: usize) -> Technique {
        let s = self.sources.value(i);
        let mut best = 0;
        for k in 0..s.kind.len() {
            if s.kind[k] > s.kind[best] {
                best = k;
            }
        }
        let t = Technique::from_index(best);
        if t == Technique::TcpConnect && s.half_open > s.completed {
            Technique::TcpSyn
        } else {
            t
        }
    }

    fn outcome(&mut self, client: Addr, success: bool, now: u64) {
        let h = hash_addr(self.seed, &client);
        let Some(i) = self.sources.find(&client, h) else {
            return;
        };
        let (up, down) = (self.trw_up, self.trw_down);
        let step = if success { self.trw_ok } else { self.trw_fail };
        let s = self.sources.value_mut(i);
        s.llr += step;
        if s.llr >= up {
            let tech = self.dominant(i);
            self.alert_source(i, tech, DetectorKind::Trw, now);
        } else if s.llr <= down {
            s.llr = 0.0;
        }
    }

    fn half_open(&mut self, client: Addr) {
        let h = hash_addr(self.seed, &client);
        if let Some(i) = self.sources.find(&client, h) {
            let s = self.sources.value_mut(i);
            s.half_open += 1;
        }
    }

    fn completed(&mut self, client: Addr, server: Addr, port: u16) {
        let h = hash_addr(self.seed, &client);
        if let Some(i) = self.sources.find(&client, h) {
            self.sources.value_mut(i).completed += 1;
        }
        let key = (server, port);
        let h = hash_addr_u32(self.seed, &server, u32::from(port));
        if let Some(i) = self.services.find(&key, h) {
            self.services.value_mut(i).completed += 1;
        }
    }

    fn syn_to_service(&mut self, src: Addr, sport: u16, dst: Addr, dport: u16, now: u64) {
        if !self.cfg.allow.is_empty() && self.cfg.allowed(&src) {
            return;
        }
        let key = (dst, dport);
        let h = hash_addr_u32(self.seed, &dst, u32::from(dport));
        let (i, new) = self.services.get_or_insert(&key, h, now);
        let (win, idle, seed) = (self.flood_window, self.source_idle, self.seed);
        let s = self.services.value_mut(i);
        if new || now.saturating_sub(s.last_ns) > idle {
            *s = ServiceState {
                window_start: now,
                first_ns: now,
                ..ServiceState::default()
            };
        }
        if now.saturating_sub(s.window_start) > win {
            s.window_start = now;
            s.syns = 0;
            s.completed = 0;
            s.sources.clear();
        }
        s.last_ns = now;
        s.syns += 1;
        s.sources.add(hash_addr(seed, &src));
        s.last_src = src;
        s.last_sport = sport;
        let half_open = s.syns.saturating_sub(s.completed);
        if half_open >= self.cfg.flood.half_open && !s.alerted {
            s.alerted = true;
            let sources = s.sources.estimate();
            let single = sources <= 1;
            let a = Alert {
                ts_ns: now,
                technique: Technique::SynFlood,
                shape: Shape::Flood,
                detector: DetectorKind::SynFlood,
                src,
                src_port: single.then_some(sport),
                dst,
                dst_port: Some(dport),
                tool: None,
                ports: vec![dport],
                distinct_ports: 1,
                distinct_hosts: 1,
                distinct_sources: Some(sources),
                probes: s.syns,
                half_open: Some(half_open),
                trw_llr: None,
                first_seen_ns: s.first_ns,
                last_seen_ns: now,
            };
            self.emit(a);
        }
    }

    fn target_probe(&mut self, src: Addr, dst: Addr, dport: u16, kind: Technique, now: u64) {
        let h = hash_addr(self.seed, &dst);
        let (i, new) = self.targets.get_or_insert(&dst, h, now);
        let (win, idle, seed) = (self.window, self.source_idle, self.seed);
        let th = self.cfg.thresholds;
        let t = self.targets.value_mut(i);
        if new || now.saturating_sub(t.last_ns) > idle {
            *t = TargetState {
                window_start: now,
                first_ns: now,
                ..TargetState::default()
            };
        }
        if now.saturating_sub(t.window_start) > win {
            t.window_start = now;
            t.probes = 0;
            t.sources.clear();
            t.ports.clear();
            t.kind = [0; 9];
        }
        t.last_ns = now;
        t.probes += 1;
        t.kind[kind.index()] += 1;
        t.sources.add(hash_addr(seed, &src));
        t.ports.add(mix64(seed ^ u64::from(dport)));
        let np = usize::from(t.nports);
        if np < MAX_PORTS_LISTED && !t.port_list[..np].contains(&dport) {
            t.port_list[np] = dport;
            t.nports += 1;
        }
        t.last_src = src;
        if t.alerted {
            return;
        }
        let sources = t.sources.count();
        let ports = t.ports.count();
        // Distributed: many sources, many ports, and no single source carrying the scan.
        if sources >= th.distributed_sources
            && ports >= th.distributed_ports
            && t.probes / sources.max(1) < th.vertical_ports
        {
            t.alerted = true;
            let mut best = 0;
            for k in 0..t.kind.len() {
                if t.kind[k] > t.kind[best] {
                    best = k;
                }
            }
            let a = Alert {
                ts_ns: now,
                technique: Technique::from_index(best),
                shape: Shape::Distributed,
                detector: DetectorKind::Distributed,
                src,
                src_port: None,
                dst,
                dst_port: None,
                tool: None,
                ports: t.port_list[..usize::from(t.nports)].to_vec(),
                distinct_ports: ports,
                distinct_hosts: 1,
                distinct_sources: Some(sources),
                probes: t.probes,
                half_open: None,
                trw_llr: None,
                first_seen_ns: t.first_ns,
                last_seen_ns: now,
            };
            self.emit(a);
        }
    }

    fn alert_source(&mut self, i: usize, tech: Technique, det: DetectorKind, now: u64) {
        let s = self.sources.value_mut(i);
        let bit = 1u32 << tech.index();
        if s.alerted & bit != 0 {
            return;
        }
        s.alerted |= bit;
        let ports = s.ports.count().max(1);
        let hosts = s.hosts.count().max(1);
        let shape = if hosts <= 2 || (ports > 2 * hosts && hosts < 5) {
            Shape::Vertical
        } else if ports <= 2 {
            Shape::Horizontal
        } else {
            Shape::Block
        };
        let mut best = 0;
        for k in 1..s.tool_votes.len() {
            if s.tool_votes[k] > s.tool_votes[best] {
                best = k;
            }
        }
        let votes = u64::from(s.tool_votes[best]);
        let tool = (votes > 0 && votes * 2 >= s.probes_total)
            .then(|| Tool::from_u8(best as u8))
            .flatten()
            .map(Tool::name);
        let a = Alert {
            ts_ns: now,
            technique: tech,
            shape,
            detector: det,
            src: s.addr,
            src_port: Some(s.last_sport),
            dst: s.last_dst,
            dst_port: (shape == Shape::Horizontal).then_some(s.last_dport),
            tool,
            ports: s.port_list[..usize::from(s.nports)].to_vec(),
            distinct_ports: ports,
            distinct_hosts: hosts,
            distinct_sources: None,
            probes: s.probes_total,
            half_open: None,
            trw_llr: (det == DetectorKind::Trw).then_some(s.llr),
            first_seen_ns: s.first_ns,
            last_seen_ns: s.last_ns.max(now),
        };
        self.emit(a);
    }

    fn emit(&mut self, a: Alert) {
        self.stats.alerts += 1;
        self.out.push(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-entry sizes the documentation quotes for `[limits]` (memory is fixed by them).
    #[test]
    fn table_entries_stay_small() {
        let (s, t) = (
            std::mem::size_of::<SourceState>(),
            std::mem::size_of::<TargetState>(),
        );
        eprintln!("SourceState {s} bytes, TargetState {t} bytes");
        assert!(s <= 1024, "SourceState is {s} bytes");
        assert!(t <= 512, "TargetState is {t} bytes");
    }
}
