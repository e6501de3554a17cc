//! Probe kinds, one object each (as ZMap's probe modules): how to build a probe, what a
//! validated reply to it means, and what silence means.
//!
//! Validation itself — is this packet an answer to one of our probes? — is the keyed cookie
//! check of [`portolan_wire::reply::classify`], shared by every kind: a SYN carries the cookie in
//! its sequence number, a UDP probe in its source port.

use std::collections::HashMap;
use std::net::IpAddr;

use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::payloads;
use portolan_wire::reply::{Reply, ReplyKind};

use crate::model::{PortState, Protocol, Reason};

/// One kind of raw probe.
pub(crate) trait ProbeKind {
    /// What this kind's replies and silence mean.
    fn meaning(&self) -> &'static Meaning;
    /// Tries per probe (the first and the retransmissions).
    fn max_tries(&self) -> u32;
    /// Build the probe to `dst:port` from `src` into `buf`; its length, or `None` when no probe
    /// can be built (an address-family mismatch). `attempt` counts from 0 (a UDP port with
    /// several payloads sends the next one on each retransmission).
    fn build(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        port: u16,
        attempt: usize,
    ) -> Option<usize>;
    /// Which probe of its target a validated reply answers: the probed port (the default), or
    /// for host discovery the slot of the probe kind the reply answers. `None`: none of ours.
    fn slot(&self, reply: &Reply) -> Option<u16> {
        Some(reply.port)
    }
    /// The transport protocol the results are reported under.
    fn proto(&self) -> Protocol {
        self.meaning().proto
    }
    /// What a validated reply says about the port; `None` when it cannot answer this kind of
    /// probe (a TCP reply to a UDP probe), which is then ignored.
    fn interpret(&self, reply: ReplyKind) -> Option<(PortState, Reason)> {
        let m = self.meaning();
        match reply {
            ReplyKind::Unreachable { code } => Some(unreachable(code)),
            r if r == m.open.0 => Some((PortState::Open, m.open.1)),
            r if r == m.closed.0 => Some((PortState::Closed, m.closed.1)),
            _ => None,
        }
    }
    /// What a port that never answered any try is.
    fn silent(&self) -> (PortState, Reason) {
        (self.meaning().silent, Reason::NoResponse)
    }
    /// What a probe that could not be sent at all is reported as (with `host-unreach`).
    fn unsent(&self) -> PortState {
        self.meaning().silent
    }
}

/// What the replies to one kind of probe, and its silence, say about the port. Any other ICMP
/// destination-unreachable says filtered ([`unreachable`]); every other reply is ignored.
pub(crate) struct Meaning {
    /// The transport protocol the results are reported under.
    proto: Protocol,
    /// The reply that says open, and its reason.
    open: (ReplyKind, Reason),
    /// The reply that says closed, and its reason.
    closed: (ReplyKind, Reason),
    /// What a port that never answered is (reason `no-response`), and what a probe that could
    /// not be sent is reported as.
    silent: PortState,
}

/// What an ICMP destination-unreachable (not port-unreachable) says: filtered, and why.
fn unreachable(code: u8) -> (PortState, Reason) {
    (
        PortState::Filtered,
        if matches!(code, 9 | 10 | 13) {
            Reason::AdminProhibited
        } else {
            Reason::HostUnreach
        },
    )
}

/// A TCP SYN from a fixed source port; the cookie is the sequence number.
pub(crate) struct Syn {
    pub key: CookieKey,
    pub source_port: u16,
    pub ttl: u8,
    pub tries: u32,
}

impl ProbeKind for Syn {
    fn meaning(&self) -> &'static Meaning {
        &Meaning {
            proto: Protocol::Tcp,
            open: (ReplyKind::SynAck, Reason::SynAck),
            closed: (ReplyKind::Rst, Reason::Reset),
            silent: PortState::Filtered,
        }
    }
    fn max_tries(&self) -> u32 {
        self.tries
    }
    fn build(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        port: u16,
        _: usize,
    ) -> Option<usize> {
        // One keyed hash per probe; the IPv4 identification is taken from it too, so it varies
        // per probe as a real stack's does.
        let seq = self.key.tcp_seq(src, dst, self.source_port, port);
        let f = IpFields {
            ttl: self.ttl,
            ident: (seq >> 16) as u16,
        };
        build::syn(buf, src, dst, self.source_port, port, seq, f).ok()
    }
}

/// A UDP datagram with the port's protocol payload (if it has one); the cookie is the source
/// port.
pub(crate) struct Udp {
    pub key: CookieKey,
    pub ttl: u8,
    pub tries: u32,
    /// Payloads per destination port, built once.
    pub payloads: HashMap<u16, Vec<Vec<u8>>>,
}

impl Udp {
    /// A UDP probe kind with the payloads of `ports`.
    pub fn new(key: CookieKey, ttl: u8, tries: u32, ports: &[u16]) -> Udp {
        let mut map = HashMap::new();
        for &p in ports {
            let v: Vec<Vec<u8>> = payloads::for_port(p).into_iter().map(|x| x.bytes).collect();
            if !v.is_empty() {
                map.insert(p, v);
            }
        }
        Udp {
            key,
            ttl,
            tries,
            payloads: map,
        }
    }
}

impl ProbeKind for Udp {
    fn meaning(&self) -> &'static Meaning {
        &Meaning {
            proto: Protocol::Udp,
            open: (ReplyKind::Udp, Reason::UdpResponse),
            closed: (ReplyKind::PortUnreachable, Reason::PortUnreach),
            silent: PortState::OpenFiltered,
        }
    }
    fn max_tries(&self) -> u32 {
        self.tries
    }
    fn build(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        port: u16,
        attempt: usize,
    ) -> Option<usize> {
        let sport = self.key.udp_sport(src, dst, port);
        let f = IpFields {
            ttl: self.ttl,
            ident: sport.rotate_left(8) ^ port,
        };
        let payload: &[u8] = self
            .payloads
            .get(&port)
            .and_then(|v| v.get(attempt % v.len().max(1)))
            .map_or(&[], |p| p.as_slice());
        build::udp(buf, src, dst, sport, port, payload, f).ok()
    }
}

/// Host discovery: several probe kinds per host, each in its own "port" slot (1, 2, ... in the
/// order of `probes`), so that one permutation walks hosts × probes under the same windows and
/// pace as a port scan. Any validated answer proves the host up (reported `open`, with the
/// reason); silence is `filtered`.
pub(crate) struct Discovery {
    pub key: CookieKey,
    pub probes: Vec<crate::discovery::Probe>,
    /// Source port of SYN pings; ACK pings use the next one.
    pub source_port: u16,
    pub ttl: u8,
    pub tries: u32,
}

impl Discovery {
    fn find(&self, want: impl Fn(&crate::discovery::Probe) -> bool) -> Option<u16> {
        self.probes
            .iter()
            .position(want)
            .and_then(|i| u16::try_from(i + 1).ok())
    }
}

impl ProbeKind for Discovery {
    fn meaning(&self) -> &'static Meaning {
        &Meaning {
            proto: Protocol::Tcp,
            open: (ReplyKind::EchoReply, Reason::EchoReply),
            closed: (ReplyKind::Rst, Reason::Reset),
            silent: PortState::Filtered,
        }
    }
    fn max_tries(&self) -> u32 {
        self.tries
    }
    fn build(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        slot: u16,
        _: usize,
    ) -> Option<usize> {
        use crate::discovery::Probe;
        use portolan_wire::icmp;
        let probe = self.probes.get(usize::from(slot).checked_sub(1)?)?;
        let f = |cookie: u32| IpFields {
            ttl: self.ttl,
            ident: (cookie >> 16) as u16,
        };
        match *probe {
            Probe::Echo => {
                let req = if dst.is_ipv6() {
                    icmp::v6::ECHO_REQUEST
                } else {
                    icmp::v4::ECHO_REQUEST
                };
                let (id, seq) = self.key.icmp_id_seq(src, dst, req);
                build::icmp_echo(buf, src, dst, id, seq, f(u32::from(seq) << 16)).ok()
            }
            Probe::Timestamp => {
                let (id, seq) = self.key.icmp_id_seq(src, dst, icmp::v4::TIMESTAMP);
                build::icmp_timestamp(buf, src, dst, id, seq, f(u32::from(seq) << 16)).ok()
            }
            Probe::Syn(port) => {
                let seq = self.key.tcp_seq(src, dst, self.source_port, port);
                build::syn(buf, src, dst, self.source_port, port, seq, f(seq)).ok()
            }
            Probe::Ack(port) => {
                let sport = self.source_port.wrapping_add(1);
                let ack = self.key.tcp_seq(src, dst, sport, port);
                build::tcp_ack(buf, src, dst, sport, port, ack, f(ack)).ok()
            }
            // Link probes go out through crate::onlink, never through the IP engine.
            Probe::Arp | Probe::Nd => None,
        }
    }
    fn slot(&self, reply: &Reply) -> Option<u16> {
        use crate::discovery::Probe;
        match reply.kind {
            ReplyKind::EchoReply => self.find(|p| *p == Probe::Echo),
            ReplyKind::TimestampReply => self.find(|p| *p == Probe::Timestamp),
            ReplyKind::SynAck | ReplyKind::Rst => self.find(|p| *p == Probe::Syn(reply.port)),
            ReplyKind::AckReset => self.find(|p| *p == Probe::Ack(reply.port)),
            _ => None,
        }
    }
    fn interpret(&self, reply: ReplyKind) -> Option<(PortState, Reason)> {
        let reason = match reply {
            ReplyKind::EchoReply => Reason::EchoReply,
            ReplyKind::TimestampReply => Reason::TimestampReply,
            ReplyKind::SynAck => Reason::SynAck,
            ReplyKind::Rst | ReplyKind::AckReset => Reason::Reset,
            _ => return None,
        };
        Some((PortState::Open, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portolan_wire::reply::{classify, Verdict};

    #[test]
    fn discovery_slots_map_replies_back_to_their_probe() {
        use crate::discovery::Probe;
        let key = CookieKey::new(3, 4);
        let d = Discovery {
            key,
            probes: vec![
                Probe::Echo,
                Probe::Syn(443),
                Probe::Ack(80),
                Probe::Timestamp,
            ],
            source_port: 61_234,
            ttl: 64,
            tries: 2,
        };
        let (src, dst) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let mut buf = [0u8; 256];
        for slot in 1..=4u16 {
            let n = d.build(&mut buf, src, dst, slot, 0).unwrap();
            assert!(n >= 28, "slot {slot}: {n} bytes");
        }
        // No slot 0 or 5; no timestamp over IPv6 (ICMPv6 echo is fine).
        assert_eq!(d.build(&mut buf, src, dst, 0, 0), None);
        assert_eq!(d.build(&mut buf, src, dst, 5, 0), None);
        let six = (
            IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 1]),
            IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 2]),
        );
        assert_eq!(d.build(&mut buf, six.0, six.1, 4, 0), None);
        assert!(d.build(&mut buf, six.0, six.1, 1, 0).is_some());
        let reply = |kind, port| Reply {
            target: dst,
            port,
            transport: Protocol::Tcp,
            kind,
            ttl: 60,
            icmp_from: None,
        };
        assert_eq!(d.slot(&reply(ReplyKind::EchoReply, 0)), Some(1));
        assert_eq!(d.slot(&reply(ReplyKind::SynAck, 443)), Some(2));
        assert_eq!(d.slot(&reply(ReplyKind::Rst, 443)), Some(2));
        assert_eq!(d.slot(&reply(ReplyKind::AckReset, 80)), Some(3));
        assert_eq!(d.slot(&reply(ReplyKind::TimestampReply, 0)), Some(4));
        // A RST from a port we did not ping, an unreachable: no slot.
        assert_eq!(d.slot(&reply(ReplyKind::Rst, 22)), None);
        assert_eq!(
            d.slot(&reply(ReplyKind::Unreachable { code: 1 }, 443)),
            None
        );
        assert_eq!(
            d.interpret(ReplyKind::AckReset),
            Some((PortState::Open, Reason::Reset))
        );
        assert_eq!(
            d.interpret(ReplyKind::EchoReply),
            Some((PortState::Open, Reason::EchoReply))
        );
        assert_eq!(d.interpret(ReplyKind::Unreachable { code: 1 }), None);
        // Our own SYN ping is not a reply to itself.
        let n = d.build(&mut buf, src, dst, 2, 0).unwrap();
        assert!(!matches!(classify(&buf[..n], &key), Verdict::Reply(_)));
    }

    #[test]
    fn each_kind_reads_only_its_own_replies() {
        let key = CookieKey::new(1, 2);
        let syn = Syn {
            key,
            source_port: 61_234,
            ttl: 64,
            tries: 3,
        };
        let udp = Udp::new(key, 64, 2, &[53]);
        assert_eq!(
            syn.interpret(ReplyKind::SynAck),
            Some((PortState::Open, Reason::SynAck))
        );
        assert_eq!(syn.interpret(ReplyKind::Udp), None);
        assert_eq!(udp.interpret(ReplyKind::Rst), None);
        assert_eq!(
            udp.interpret(ReplyKind::PortUnreachable),
            Some((PortState::Closed, Reason::PortUnreach))
        );
        for k in [&syn as &dyn ProbeKind, &udp] {
            assert_eq!(
                k.interpret(ReplyKind::Unreachable { code: 13 }),
                Some((PortState::Filtered, Reason::AdminProhibited))
            );
            assert_eq!(
                k.interpret(ReplyKind::Unreachable { code: 1 }),
                Some((PortState::Filtered, Reason::HostUnreach))
            );
        }
        // Every reply kind, for both kinds: open, closed, filtered or ignored.
        let replies = [
            ReplyKind::SynAck,
            ReplyKind::Rst,
            ReplyKind::Udp,
            ReplyKind::PortUnreachable,
            ReplyKind::Unreachable { code: 9 },
        ];
        let filtered = Some((PortState::Filtered, Reason::AdminProhibited));
        let syn_says = [
            Some((PortState::Open, Reason::SynAck)),
            Some((PortState::Closed, Reason::Reset)),
            None,
            None,
            filtered,
        ];
        let udp_says = [
            None,
            None,
            Some((PortState::Open, Reason::UdpResponse)),
            Some((PortState::Closed, Reason::PortUnreach)),
            filtered,
        ];
        for (r, (s, u)) in replies.into_iter().zip(syn_says.into_iter().zip(udp_says)) {
            assert_eq!(syn.interpret(r), s, "SYN probe, reply {r:?}");
            assert_eq!(udp.interpret(r), u, "UDP probe, reply {r:?}");
        }
        assert_eq!((syn.proto(), udp.proto()), (Protocol::Tcp, Protocol::Udp));
        assert_eq!(syn.silent(), (PortState::Filtered, Reason::NoResponse));
        assert_eq!(udp.silent(), (PortState::OpenFiltered, Reason::NoResponse));
        assert_eq!(syn.unsent(), PortState::Filtered);
        assert_eq!(udp.unsent(), PortState::OpenFiltered);
        assert_eq!(syn.silent().0, PortState::Filtered);
        assert_eq!(udp.silent().0, PortState::OpenFiltered);
        // DNS on 53 gets its payload; a retransmission cycles through the port's payloads.
        let (src, dst) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let mut buf = [0u8; 1536];
        let n = udp.build(&mut buf, src, dst, 53, 0).unwrap();
        assert!(n > 28, "a DNS query, not an empty datagram");
        let n = syn.build(&mut buf, src, dst, 80, 0).unwrap();
        assert!(n >= 40, "IPv4 and TCP headers: {n}");
        // A family mismatch builds nothing.
        assert_eq!(
            syn.build(&mut buf, src, IpAddr::from([0u16; 8]), 80, 0),
            None
        );
        // Our own probe is not a reply to itself.
        assert!(!matches!(
            classify(&buf[..40], &CookieKey::new(1, 2)),
            Verdict::Reply(_)
        ));
    }
}
