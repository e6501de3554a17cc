//! A pcap of arbitrary packets through the whole detector: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_detect::config::Config;
use portolan_detect::detect::Detector;
use portolan_detect::source::pcap::PcapReader;
use portolan_detect::source::ByteReader;
use portolan_detect::source::PacketSource;

fuzz_target!(|data: &[u8]| {
    let mut cfg = Config::default();
    cfg.limits.max_flows = 64;
    cfg.limits.max_sources = 64;
    cfg.limits.max_services = 64;
    cfg.limits.max_targets = 64;
    let mut d = Detector::new(cfg);
    if let Ok(mut r) = PcapReader::from_byte_reader(ByteReader::with_capacity(data, 4096)) {
        while let Ok(Some(p)) = r.next_packet() {
            d.process_raw(&p);
        }
    }
    d.finish();
    let _ = d.take_alerts();
});
