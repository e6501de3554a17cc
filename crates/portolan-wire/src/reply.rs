//! What one received packet says about our probes.
//!
//! [`classify`] takes an IP packet (IPv4 or IPv6, from the IP header on), checks it against the
//! scan's [`CookieKey`], and returns a [`Verdict`]: a validated [`Reply`], a packet that looks like
//! a reply but fails validation (counted and ignored by the scanner), or one that is unrelated.

use std::net::IpAddr;

/// The transport protocol a reply answers: the registry's one type, re-exported here.
pub use portolan_registry::Protocol;

use crate::cookie::CookieKey;
use crate::{ip, ipproto, tcp, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpFlags, TcpPacket, UdpPacket};

/// What a validated reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// TCP SYN-ACK: the port is open.
    SynAck,
    /// TCP RST: the port is closed.
    Rst,
    /// A UDP datagram from the probed port: open.
    Udp,
    /// ICMP port unreachable quoting our UDP probe: closed.
    PortUnreachable,
    /// Another ICMP destination-unreachable quoting our probe (host, net, admin-prohibited...):
    /// filtered. `code` is the ICMP code.
    Unreachable { code: u8 },
    /// ICMP / ICMPv6 echo reply repeating our request's cookie: the host is up (host discovery).
    EchoReply,
    /// ICMP timestamp reply repeating our request's cookie: the host is up.
    TimestampReply,
    /// A TCP RST without ACK whose sequence number is the acknowledgement number of our ACK
    /// probe (RFC 793): the host is up, whatever the port (nmap's ACK ping).
    AckReset,
}

/// A reply that answers one of our probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The probed address (the source of a direct reply; the quoted destination of an ICMP error).
    pub target: IpAddr,
    /// The probed port (0 for the ICMP queries of host discovery: echo, timestamp).
    pub port: u16,
    /// The probe's transport protocol (only `Tcp` and `Udp` are classified; the ICMP query
    /// replies of host discovery say `Tcp` here, which means nothing: read `kind`).
    pub transport: Protocol,
    pub kind: ReplyKind,
    /// TTL / hop limit of the packet that carried the reply.
    pub ttl: u8,
    /// Who sent an ICMP error (a router on the path, or the target itself).
    pub icmp_from: Option<IpAddr>,
}

/// The outcome of looking at one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reply(Reply),
    /// Looks like an answer to a probe (right protocol, to us) but fails the cookie check.
    Invalid,
    /// Nothing to do with the scan.
    Unrelated,
}

struct Ip<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ttl: u8,
    payload: &'a [u8],
    first_fragment: bool,
}

#[inline(always)]
fn parse_ip(b: &[u8]) -> Option<Ip<'_>> {
    match b.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(b).ok()?;
            if p.total_len() == 0 {
                // Only captures of TSO traffic say 0; no reply to a probe does.
                return None;
            }
            Some(Ip {
                src: p.src_addr().into(),
                dst: p.dst_addr().into(),
                proto: p.protocol(),
                ttl: p.ttl(),
                payload: p.payload(),
                first_fragment: p.frag_offset() == 0,
            })
        }
        6 => {
            let p = Ipv6Packet::new_checked(b).ok()?;
            // A zero payload length (jumbogram, TSO) carries no reply to a probe: read nothing.
            let after = if p.payload_len() == 0 {
                &[][..]
            } else {
                p.payload()
            };
            let ul = ip::upper_layer(p.next_header(), after).ok()?;
            Some(Ip {
                src: p.src_addr().into(),
                dst: p.dst_addr().into(),
                // A later fragment has no upper-layer header: "no next header".
                proto: if ul.later_fragment {
                    ipproto::NONE
                } else {
                    ul.protocol
                },
                ttl: p.hop_limit(),
                payload: ul.payload,
                first_fragment: !ul.later_fragment,
            })
        }
        _ => None,
    }
}

/// The request type an ICMP query reply answers, and what the reply says: echo replies (ICMPv4
/// and ICMPv6) and ICMPv4 timestamp replies.
fn query_reply(msg_type: u8, v6: bool) -> Option<(u8, ReplyKind)> {
    use crate::icmp::{v4, v6 as six};
    match (v6, msg_type) {
        (false, v4::ECHO_REPLY) => Some((v4::ECHO_REQUEST, ReplyKind::EchoReply)),
        (false, v4::TIMESTAMP_REPLY) => Some((v4::TIMESTAMP, ReplyKind::TimestampReply)),
        (true, six::ECHO_REPLY) => Some((six::ECHO_REQUEST, ReplyKind::EchoReply)),
        _ => None,
    }
}

/// Classify one IP packet received while scanning.
pub fn classify(packet: &[u8], key: &CookieKey) -> Verdict {
    let Some(ip) = parse_ip(packet) else {
        return Verdict::Unrelated;
    };
    if !ip.first_fragment {
        return Verdict::Unrelated;
    }
    match ip.proto {
        ipproto::TCP => {
            let Ok(t) = TcpPacket::new_checked(ip.payload) else {
                return Verdict::Unrelated;
            };
            let flags = t.flags();
            // Our probe went dst=ip.src, dport=t.src_port; from ip.dst, sport=t.dst_port.
            if flags.has(TcpFlags::RST) && !flags.has(TcpFlags::ACK) {
                // The answer to an ACK probe: a RST whose sequence number is our ACK number.
                let cookie = key.tcp_seq(ip.dst, ip.src, t.dst_port(), t.src_port());
                if t.seq_number() != cookie {
                    return Verdict::Invalid;
                }
                return Verdict::Reply(Reply {
                    target: ip.src,
                    port: t.src_port(),
                    transport: Protocol::Tcp,
                    kind: ReplyKind::AckReset,
                    ttl: ip.ttl,
                    icmp_from: None,
                });
            }
            let kind = if flags.has(TcpFlags::SYN | TcpFlags::ACK) {
                ReplyKind::SynAck
            } else if flags.has(TcpFlags::RST) {
                ReplyKind::Rst
            } else {
                return Verdict::Unrelated;
            };
            let seq = key.tcp_seq(ip.dst, ip.src, t.dst_port(), t.src_port());
            if t.ack_number() != seq.wrapping_add(1) {
                return Verdict::Invalid;
            }
            Verdict::Reply(Reply {
                target: ip.src,
                port: t.src_port(),
                transport: Protocol::Tcp,
                kind,
                ttl: ip.ttl,
                icmp_from: None,
            })
        }
        ipproto::UDP => {
            let Ok(u) = UdpPacket::new_checked(ip.payload) else {
                return Verdict::Unrelated;
            };
            if !(crate::cookie::UDP_SPORT_LO..=crate::cookie::UDP_SPORT_HI).contains(&u.dst_port())
            {
                return Verdict::Unrelated;
            }
            if key.udp_sport(ip.dst, ip.src, u.src_port()) != u.dst_port() {
                return Verdict::Invalid;
            }
            Verdict::Reply(Reply {
                target: ip.src,
                port: u.src_port(),
                transport: Protocol::Udp,
                kind: ReplyKind::Udp,
                ttl: ip.ttl,
                icmp_from: None,
            })
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            let v6 = ip.proto == ipproto::ICMPV6;
            let Ok(icmp) = IcmpPacket::new_checked(ip.payload, v6) else {
                return Verdict::Unrelated;
            };
            if let Some((request, kind)) = query_reply(icmp.msg_type(), v6) {
                // An echo or timestamp reply repeats the identifier and sequence number of the
                // request: from us (ip.dst) to the host (ip.src). Another cookie is someone
                // else's ping (ping(8) on this host shares the socket's view): unrelated.
                let (id, seq) = key.icmp_id_seq(ip.dst, ip.src, request);
                if icmp.rest_of_header() != (u32::from(id) << 16 | u32::from(seq)) {
                    return Verdict::Unrelated;
                }
                return Verdict::Reply(Reply {
                    target: ip.src,
                    port: 0,
                    transport: Protocol::Tcp,
                    kind,
                    ttl: ip.ttl,
                    icmp_from: None,
                });
            }
            if !icmp.is_unreachable() {
                return Verdict::Unrelated;
            }
            let Some(q) = parse_ip(icmp.data()) else {
                return Verdict::Invalid;
            };
            // The quoted packet is our probe: from us (q.src) to the target (q.dst).
            let (transport, port, valid) = match q.proto {
                ipproto::TCP => match tcp::quoted(q.payload) {
                    Ok((sport, dport, seq)) => (
                        Protocol::Tcp,
                        dport,
                        key.tcp_seq(q.src, q.dst, sport, dport) == seq,
                    ),
                    Err(_) => return Verdict::Invalid,
                },
                ipproto::UDP => {
                    let Some((sport, dport)) = crate::ports(q.payload) else {
                        return Verdict::Invalid;
                    };
                    (
                        Protocol::Udp,
                        dport,
                        key.udp_sport(q.src, q.dst, dport) == sport,
                    )
                }
                _ => return Verdict::Unrelated,
            };
            if !valid {
                return Verdict::Invalid;
            }
            let kind = if icmp.is_port_unreachable() && transport == Protocol::Udp {
                ReplyKind::PortUnreachable
            } else {
                ReplyKind::Unreachable {
                    code: icmp.msg_code(),
                }
            };
            Verdict::Reply(Reply {
                target: q.dst,
                port,
                transport,
                kind,
                ttl: ip.ttl,
                icmp_from: Some(ip.src),
            })
        }
        _ => Verdict::Unrelated,
    }
}
