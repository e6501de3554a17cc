//! Property tests: the readers and decoders never panic on any input, decoding round-trips
//! what the builder wrote, and a cut capture yields exactly the packets before the cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use portolan_detect::config::Config;
use portolan_detect::decode::{decode, linktype, Addr, Transport};
use portolan_detect::detect::Detector;
use portolan_detect::source::pcap::{PcapReader, PcapWriter};
use portolan_detect::source::pcapng::{build, PcapngReader};
use portolan_detect::source::{open_reader, PacketSource, RawPacket};
use portolan_detect::synth::{self, Tcp};

const LINKTYPES: [u32; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147];

fn drain(src: &mut dyn PacketSource) -> (usize, bool) {
    let mut n = 0;
    loop {
        match src.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, false),
            Err(_) => return (n, true),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics(lt in prop::sample::select(LINKTYPES.to_vec()), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(lt, 0, &bytes);
    }

    #[test]
    fn decode_never_panics_on_ip_looking_bytes(v6 in any::<bool>(), mut bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        if let Some(b) = bytes.first_mut() {
            *b = if v6 { 0x60 } else { 0x45 };
        }
        let _ = decode(linktype::RAW, 0, &bytes);
    }

    #[test]
    fn tcp_round_trip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), sport in any::<u16>(), dport in any::<u16>(),
                      flags in any::<u8>(), seq in any::<u32>(), window in any::<u16>(), ip_id in any::<u16>(), payload in 0usize..64) {
        let mut buf = Vec::new();
        let t = Tcp { sport, dport, flags, seq, ack: 0, window, options: &[2, 4, 5, 0xb4], payload_len: payload };
        synth::tcp4(&mut buf, src, dst, ip_id, 64, &t);
        let p = decode(linktype::ETHERNET, 5, &buf).unwrap();
        prop_assert_eq!(p.src, Addr::v4(src));
        prop_assert_eq!(p.dst, Addr::v4(dst));
        prop_assert_eq!(p.ip_id, ip_id);
        match p.transport {
            Transport::Tcp(ti) => {
                prop_assert_eq!((ti.sport, ti.dport, ti.flags.0, ti.seq, ti.window), (sport, dport, flags, seq, window));
                prop_assert_eq!(usize::from(ti.payload_len), payload);
                if flags & 0x02 != 0 {
                    prop_assert_eq!(ti.opts.mss, Some(1460));
                }
            }
            other => prop_assert!(false, "not TCP: {:?}", other),
        }
        // every truncation decodes or errors, never panics
        for cut in 0..buf.len() {
            let _ = decode(linktype::ETHERNET, 0, &buf[..cut]);
        }
    }

    #[test]
    fn readers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(mut r) = PcapReader::new(&bytes[..]) { drain(&mut r); }
        if let Ok(mut r) = PcapngReader::new(&bytes[..]) { drain(&mut r); }
        if let Ok(mut r) = open_reader(Box::new(std::io::Cursor::new(bytes.clone()))) { drain(&mut r); }
    }

    #[test]
    fn pcapng_with_mutated_bytes_never_panics(pos in 0usize..200, val in any::<u8>(), cut in 0usize..220) {
        let mut f = build::shb();
        f.extend(build::idb(1, Some(9)));
        f.extend(build::epb(0, 10, &[0x45; 40]));
        f.extend(build::spb(&[0x60; 30]));
        f.extend(build::epb(0, 20, &[1, 2, 3]));
        if pos < f.len() { f[pos] = val; }
        f.truncate(cut.min(f.len()));
        if let Ok(mut r) = PcapngReader::new(&f[..]) { drain(&mut r); }
    }

    #[test]
    fn a_cut_pcap_yields_the_packets_before_the_cut(sizes in prop::collection::vec(0usize..100, 1..20), cut_frac in 0.0f64..1.0) {
        let mut w = PcapWriter::new(Vec::new(), 1, 65535).unwrap();
        let mut ends = Vec::new();
        let mut at = 24usize;
        for (i, s) in sizes.iter().enumerate() {
            w.write(i as u64, &vec![0xab; *s]).unwrap();
            at += 16 + s;
            ends.push(at);
        }
        let file = w.into_inner();
        let cut = 24 + ((file.len() - 24) as f64 * cut_frac) as usize;
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let mut r = PcapReader::new(&file[..cut]).unwrap();
        let (n, err) = drain(&mut r);
        prop_assert_eq!(n, whole);
        prop_assert_eq!(err, !ends.contains(&cut) && cut != 24);
    }

    #[test]
    fn detector_never_panics(frames in prop::collection::vec((prop::sample::select(LINKTYPES.to_vec()), prop::collection::vec(any::<u8>(), 0..90)), 0..60)) {
        let mut cfg = Config::default();
        cfg.limits.max_flows = 64;
        cfg.limits.max_sources = 64;
        cfg.limits.max_services = 64;
        cfg.limits.max_targets = 64;
        let mut d = Detector::new(cfg);
        for (i, (lt, mut bytes)) in frames.into_iter().enumerate() {
            if lt == linktype::RAW && !bytes.is_empty() { bytes[0] = 0x45; }
            d.process_raw(&RawPacket { ts_ns: i as u64 * 1_000_000_000, linktype: lt, interface: 0, orig_len: 0, data: &bytes });
        }
        d.finish();
        let _ = d.take_alerts();
    }
}
