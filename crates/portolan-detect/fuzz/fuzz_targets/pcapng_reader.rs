//! Any byte stream through the pcapng reader: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_detect::source::pcapng::PcapngReader;
use portolan_detect::source::{ByteReader, PacketSource};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = PcapngReader::from_byte_reader(ByteReader::with_capacity(data, 4096)) {
        while let Ok(Some(p)) = r.next_packet() {
            let _ = (p.linktype, p.data.len());
        }
    }
});
