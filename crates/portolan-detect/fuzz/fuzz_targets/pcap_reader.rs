//! Any byte stream through format sniffing and the pcap reader: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_detect::source::pcap::PcapReader;
use portolan_detect::source::ByteReader;
use portolan_detect::source::{open_reader, PacketSource};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = PcapReader::from_byte_reader(ByteReader::with_capacity(data, 4096)) {
        while let Ok(Some(p)) = r.next_packet() {
            let _ = p.data.len();
        }
    }
    if let Ok(mut r) = open_reader(Box::new(std::io::Cursor::new(data.to_vec()))) {
        while let Ok(Some(_)) = r.next_packet() {}
    }
});
