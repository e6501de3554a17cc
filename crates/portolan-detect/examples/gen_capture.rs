//! Generate a large, realistic pcap for the `portolan detect` benchmark (bench/detect.sh).
//!
//! Usage: `gen_capture [--packets N] [--seed S] [-o FILE]` (standard output by default).
//!
//! The mix, at about one million packets per second of capture time:
//! * benign TCP: 65,536 clients on 10.1.0.0/16 open connections (Linux SYN options, full
//!   handshake) to five services on 10.2.0.0/24, exchange data and close them; a few attempts hit
//!   closed ports;
//! * DNS: UDP queries and answers;
//! * scans, about 8% of packets: vertical SYN scans (nmap-like) answered by RSTs, horizontal
//!   sweeps of port 23 (ZMap-like, mostly unanswered), UDP scans drawing ICMP port-unreachables,
//!   FIN scans; each scanner has a fresh address and stops after 300-1,000 probes, so the number
//!   of sources grows with the capture;
//! * SYN floods: bursts of 3,000 SYNs from spoofed sources to one service (about 3% of packets).
//!
//! Frames are written by `portolan_detect::synth` (over `portolan_wire`'s `Repr`s), with every
//! IP, TCP, UDP and ICMP checksum right, so tools that check them (Snort, Suricata) see them all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

use std::io::{BufWriter, Write};

use portolan_detect::source::pcap::PcapWriter;
use portolan_detect::synth::{self, Rng, Tcp, LINUX_SYN_OPTIONS};
use portolan_wire::tcpflags::{ACK, FIN, PSH, RST, SYN};

#[derive(Clone, Copy)]
struct Conn {
    client: [u8; 4],
    server: [u8; 4],
    cport: u16,
    sport: u16,
    cseq: u32,
    sseq: u32,
}

#[derive(Clone, Copy)]
enum ScanKind {
    Vertical,
    Horizontal,
    Udp,
    Fin,
}

struct Scanner {
    src: [u8; 4],
    kind: ScanKind,
    target: [u8; 4],
    next: u32,
    left: u32,
}

const SERVICES: [u16; 5] = [80, 443, 22, 25, 3306];

fn main() {
    let mut packets: u64 = 10_000_000;
    let mut seed: u64 = 1;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--packets" | "-n" => {
                packets = args.next().expect("--packets N").parse().expect("a number")
            }
            "--seed" => seed = args.next().expect("--seed S").parse().expect("a number"),
            "-o" => out = args.next(),
            _ => panic!("usage: gen_capture [--packets N] [--seed S] [-o FILE]"),
        }
    }
    let sink: Box<dyn Write> = match out {
        Some(p) => Box::new(std::fs::File::create(p).expect("create output")),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w =
        PcapWriter::new(BufWriter::with_capacity(1 << 20, sink), 1, 256).expect("write header");
    let mut rng = Rng::new(seed);
    let mut ts: u64 = 1_764_000_000_000_000_000;
    let mut buf = Vec::with_capacity(512);
    let mut n: u64 = 0;
    let mut conns: Vec<Conn> = Vec::with_capacity(20_000);
    let mut scanners: Vec<Scanner> = Vec::new();
    let mut scanner_seq: u32 = 0;
    let mut flood_left: u32 = 0;
    let mut flood_target = [10, 2, 0, 1];

    macro_rules! emit {
        () => {{
            ts += 500 + rng.below(1000);
            w.write(ts, &buf).expect("write");
            buf.clear();
            n += 1;
        }};
    }

    while n < packets {
        if flood_left > 0 {
            flood_left -= 1;
            let src = (rng.next_u64() as u32 | 0x0100_0000).to_be_bytes();
            let t = Tcp {
                sport: rng.below(60000) as u16 + 1024,
                dport: 80,
                seq: rng.next_u64() as u32,
                window: 512,
                ..Tcp::default()
            };
            synth::tcp4(&mut buf, src, flood_target, rng.next_u64() as u16, 64, &t);
            emit!();
            continue;
        }
        let r = rng.below(100_000);
        if r < 3_000 || conns.is_empty() {
            // a new benign connection: SYN, SYN-ACK, ACK
            let c = Conn {
                client: [10, 1, rng.below(256) as u8, rng.below(256) as u8],
                server: [10, 2, 0, 1 + rng.below(50) as u8],
                cport: 32768 + rng.below(28000) as u16,
                sport: SERVICES[rng.below(SERVICES.len() as u64) as usize],
                cseq: rng.next_u64() as u32,
                sseq: rng.next_u64() as u32,
            };
            let syn = Tcp {
                sport: c.cport,
                dport: c.sport,
                flags: SYN,
                seq: c.cseq,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            };
            synth::tcp4(
                &mut buf,
                c.client,
                c.server,
                rng.next_u64() as u16,
                64,
                &syn,
            );
            emit!();
            let synack = Tcp {
                sport: c.sport,
                dport: c.cport,
                flags: SYN | ACK,
                seq: c.sseq,
                ack: c.cseq + 1,
                window: 65160,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            };
            synth::tcp4(&mut buf, c.server, c.client, 0, 64, &synack);
            emit!();
            let ack = Tcp {
                sport: c.cport,
                dport: c.sport,
                flags: ACK,
                seq: c.cseq + 1,
                ack: c.sseq + 1,
                window: 502,
                ..Tcp::default()
            };
            synth::tcp4(
                &mut buf,
                c.client,
                c.server,
                rng.next_u64() as u16,
                64,
                &ack,
            );
            emit!();
            if conns.len() < 20_000 {
                conns.push(c);
            } else {
                let i = rng.below(conns.len() as u64) as usize;
                conns[i] = c;
            }
        } else if r < 4_000 {
            // close a connection
            let i = rng.below(conns.len() as u64) as usize;
            let c = conns.swap_remove(i);
            for (from_client, flags) in [
                (true, FIN | ACK),
                (false, ACK),
                (false, FIN | ACK),
                (true, ACK),
            ] {
                let (s, d, sp, dp) = if from_client {
                    (c.client, c.server, c.cport, c.sport)
                } else {
                    (c.server, c.client, c.sport, c.cport)
                };
                let t = Tcp {
                    sport: sp,
                    dport: dp,
                    flags,
                    seq: c.cseq,
                    ack: c.sseq,
                    window: 502,
                    ..Tcp::default()
                };
                synth::tcp4(&mut buf, s, d, 0, 64, &t);
                emit!();
            }
        } else if r < 8_000 {
            // DNS
            let client = [10, 1, rng.below(256) as u8, rng.below(256) as u8];
            let resolver = [10, 3, 0, 53];
            let cport = 32768 + rng.below(28000) as u16;
            synth::udp4(&mut buf, client, resolver, cport, 53, 30);
            emit!();
            synth::udp4(&mut buf, resolver, client, 53, cport, 90);
            emit!();
        } else if r < 8_200 {
            // a benign failure: a closed port
            let client = [10, 1, rng.below(256) as u8, rng.below(256) as u8];
            let server = [10, 2, 0, 1 + rng.below(50) as u8];
            let cport = 32768 + rng.below(28000) as u16;
            let syn = Tcp {
                sport: cport,
                dport: 8081,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            };
            synth::tcp4(&mut buf, client, server, 1, 64, &syn);
            emit!();
            let rst = Tcp {
                sport: 8081,
                dport: cport,
                flags: RST | ACK,
                window: 0,
                ..Tcp::default()
            };
            synth::tcp4(&mut buf, server, client, 0, 64, &rst);
            emit!();
        } else if r < 92_000 {
            // data on an open connection
            let i = rng.below(conns.len() as u64) as usize;
            let c = &mut conns[i];
            let len = rng.below(100) as usize;
            if rng.below(2) == 0 {
                let t = Tcp {
                    sport: c.cport,
                    dport: c.sport,
                    flags: PSH | ACK,
                    seq: c.cseq,
                    ack: c.sseq,
                    window: 502,
                    payload_len: len,
                    ..Tcp::default()
                };
                c.cseq = c.cseq.wrapping_add(len as u32);
                let (s, d) = (c.client, c.server);
                synth::tcp4(&mut buf, s, d, 0, 64, &t);
            } else {
                let t = Tcp {
                    sport: c.sport,
                    dport: c.cport,
                    flags: PSH | ACK,
                    seq: c.sseq,
                    ack: c.cseq,
                    window: 509,
                    payload_len: len,
                    ..Tcp::default()
                };
                c.sseq = c.sseq.wrapping_add(len as u32);
                let (s, d) = (c.server, c.client);
                synth::tcp4(&mut buf, s, d, 0, 64, &t);
            }
            emit!();
        } else if r < 99_999 {
            // scanning
            if scanners.len() < 4 {
                scanner_seq += 1;
                let kind = match rng.below(4) {
                    0 => ScanKind::Vertical,
                    1 => ScanKind::Horizontal,
                    2 => ScanKind::Udp,
                    _ => ScanKind::Fin,
                };
                scanners.push(Scanner {
                    src: (0xc000_0000u32 | (scanner_seq.wrapping_mul(2_654_435_761) >> 2))
                        .to_be_bytes(),
                    kind,
                    target: [10, 2, 0, 1 + rng.below(50) as u8],
                    next: 1,
                    left: 300 + rng.below(700) as u32,
                });
            }
            let i = rng.below(scanners.len() as u64) as usize;
            let s = &mut scanners[i];
            let (src, kind, target, k) = (s.src, s.kind, s.target, s.next);
            s.next += 1;
            s.left -= 1;
            if s.left == 0 {
                scanners.swap_remove(i);
            }
            match kind {
                ScanKind::Vertical => {
                    let port = k as u16;
                    let t = Tcp {
                        sport: 51000,
                        dport: port,
                        seq: 0xdead_beef,
                        window: 1024,
                        options: &[2, 4, 5, 0xb4],
                        ..Tcp::default()
                    };
                    synth::tcp4(&mut buf, src, target, rng.next_u64() as u16, 45, &t);
                    emit!();
                    let rst = Tcp {
                        sport: port,
                        dport: 51000,
                        flags: RST | ACK,
                        ack: 0xdead_bef0,
                        window: 0,
                        ..Tcp::default()
                    };
                    synth::tcp4(&mut buf, target, src, 0, 64, &rst);
                    emit!();
                }
                ScanKind::Horizontal => {
                    let dst = [10, 4, (k >> 8) as u8, k as u8];
                    let t = Tcp {
                        sport: 40000 + (k % 1000) as u16,
                        dport: 23,
                        seq: rng.next_u64() as u32,
                        window: 65535,
                        ..Tcp::default()
                    };
                    synth::tcp4(&mut buf, src, dst, 54321, 255, &t);
                    emit!();
                }
                ScanKind::Udp => {
                    let port = k as u16;
                    synth::udp4(&mut buf, src, target, 41000, port, 0);
                    emit!();
                    synth::icmp4_port_unreachable(&mut buf, target, src, 41000, port);
                    emit!();
                }
                ScanKind::Fin => {
                    let t = Tcp {
                        sport: 52000,
                        dport: k as u16,
                        flags: FIN,
                        window: 1024,
                        ..Tcp::default()
                    };
                    synth::tcp4(&mut buf, src, target, rng.next_u64() as u16, 50, &t);
                    emit!();
                }
            }
        } else {
            // start a SYN flood burst
            flood_left = 3000;
            flood_target = [10, 2, 0, 1 + rng.below(50) as u8];
        }
    }
    w.into_inner().flush().expect("flush");
}
