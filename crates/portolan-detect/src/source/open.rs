//! Opening captures: format sniffing (pcap / pcapng, optionally gzip-compressed), standard
//! input, and directories of rotated captures read in natural order.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::pcap::PcapReader;
use super::pcapng::PcapngReader;
use super::{ByteReader, CaptureError, PacketSource, RawPacket};

type BoxRead = Box<dyn Read + Send>;

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Pcap,
    Pcapng,
}

/// A pcap or pcapng reader over any byte stream.
pub enum AnySource {
    Pcap(PcapReader<BoxRead>),
    Pcapng(PcapngReader<BoxRead>),
}

impl AnySource {
    pub fn kind(&self) -> SourceKind {
        match self {
            AnySource::Pcap(_) => SourceKind::Pcap,
            AnySource::Pcapng(_) => SourceKind::Pcapng,
        }
    }
}

impl PacketSource for AnySource {
    fn has_packet(&mut self) -> Result<bool, CaptureError> {
        match self {
            AnySource::Pcap(r) => r.has_packet(),
            AnySource::Pcapng(r) => r.has_packet(),
        }
    }

    #[inline]
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self {
            AnySource::Pcap(r) => r.next_packet(),
            AnySource::Pcapng(r) => r.next_packet(),
        }
    }
}

fn read_magic(r: &mut dyn Read) -> Result<Vec<u8>, CaptureError> {
    let mut magic = vec![0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CaptureError::Io {
                    offset: got as u64,
                    source: e,
                })
            }
        }
    }
    magic.truncate(got);
    Ok(magic)
}

/// Sniff the format of a stream (gunzipping it when it starts with the gzip magic) and open a
/// reader for it.
pub fn open_reader(mut r: BoxRead) -> Result<AnySource, CaptureError> {
    let mut magic = read_magic(&mut r)?;
    if magic.is_empty() {
        return Err(CaptureError::Empty);
    }
    let mut stream: BoxRead = Box::new(Cursor::new(magic.clone()).chain(r));
    if magic.starts_with(&[0x1f, 0x8b]) {
        let mut gz: BoxRead = Box::new(MultiGzDecoder::new(std::io::BufReader::with_capacity(
            1 << 16,
            stream,
        )));
        magic = read_magic(&mut gz)?;
        if magic.is_empty() {
            return Err(CaptureError::Empty);
        }
        stream = Box::new(Cursor::new(magic.clone()).chain(gz));
    }
    if magic.len() < 4 {
        return Err(CaptureError::Truncated {
            offset: 0,
            what: "capture header",
            need: 4,
            have: magic.len() as u64,
        });
    }
    let m = [magic[0], magic[1], magic[2], magic[3]];
    let le = u32::from_le_bytes(m);
    let be = u32::from_be_bytes(m);
    let pcap_magics = [super::pcap::MAGIC_US, super::pcap::MAGIC_NS];
    if pcap_magics.contains(&le) || pcap_magics.contains(&be) {
        Ok(AnySource::Pcap(PcapReader::from_byte_reader(
            ByteReader::new(stream),
        )?))
    } else if le == super::pcapng::BLOCK_SHB {
        Ok(AnySource::Pcapng(PcapngReader::from_byte_reader(
            ByteReader::new(stream),
        )?))
    } else {
        Err(CaptureError::UnknownFormat { magic })
    }
}

/// Open a capture file, `-` for standard input, or a directory of captures.
pub fn open_path(path: &Path) -> Result<Box<dyn PacketSource + Send>, CaptureError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(open_reader(Box::new(std::io::stdin()))?));
    }
    let meta = std::fs::metadata(path).map_err(|e| CaptureError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_dir() {
        return Ok(Box::new(DirSource::new(path)?));
    }
    let f = File::open(path).map_err(|e| CaptureError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    open_reader(Box::new(f))
        .map(|s| Box::new(s) as Box<dyn PacketSource + Send>)
        .map_err(|e| e.in_file(path))
}

/// Compare file names so that `cap2` sorts before `cap10` (digit runs compare as numbers).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let ta = na.iter().skip_while(|&&c| c == b'0').count();
                let tb = nb.iter().skip_while(|&&c| c == b'0').count();
                let ord = ta
                    .cmp(&tb)
                    .then_with(|| na[da - ta..].cmp(&nb[db - tb..]))
                    .then_with(|| da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// The capture files of a directory, in natural name order (how tcpdump `-C`/`-G` and dumpcap
/// ring buffers name their rotations). Hidden files are skipped. A file that cannot be read ends
/// the stream with an error naming it.
pub struct DirSource {
    files: Vec<PathBuf>,
    next: usize,
    current: Option<AnySource>,
}

impl DirSource {
    pub fn new(dir: &Path) -> Result<DirSource, CaptureError> {
        let rd = std::fs::read_dir(dir).map_err(|e| CaptureError::Open {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let mut files = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| CaptureError::Open {
                path: dir.to_path_buf(),
                source: e,
            })?;
            let p = ent.path();
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if p.is_file() && !hidden {
                files.push(p);
            }
        }
        files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        Ok(DirSource {
            files,
            next: 0,
            current: None,
        })
    }

    /// The files, in the order they are read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl PacketSource for DirSource {
    fn has_packet(&mut self) -> Result<bool, CaptureError> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.get(self.next).cloned() else {
                    return Ok(false);
                };
                self.next += 1;
                let f = File::open(&path).map_err(|e| CaptureError::Open {
                    path: path.clone(),
                    source: e,
                })?;
                match open_reader(Box::new(f)) {
                    Ok(s) => self.current = Some(s),
                    // an empty file (a rotation just started) is skipped
                    Err(CaptureError::Empty) => continue,
                    Err(e) => return Err(e.in_file(path)),
                }
            }
            let idx = self.next - 1;
            if let Some(cur) = self.current.as_mut() {
                match cur.has_packet() {
                    Ok(true) => return Ok(true),
                    Ok(false) => self.current = None,
                    Err(e) => {
                        self.current = None;
                        return Err(e.in_file(&self.files[idx]));
                    }
                }
            }
        }
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if !self.has_packet()? {
            return Ok(None);
        }
        let idx = self.next - 1;
        let path = &self.files[idx];
        match self.current.as_mut() {
            Some(cur) => cur.next_packet().map_err(|e| e.in_file(path)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_of_rotations() {
        let mut v = vec![
            "cap10",
            "cap2",
            "cap1",
            "cap",
            "cap_00003_x",
            "cap_00001_x",
            "cap02",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "cap",
                "cap1",
                "cap2",
                "cap02",
                "cap10",
                "cap_00001_x",
                "cap_00003_x"
            ]
        );
    }

    #[test]
    fn directory_is_read_in_natural_order_skipping_hidden_files() {
        let d = tempfile::tempdir().unwrap();
        for n in ["c10", "c9", ".partial"] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        let s = DirSource::new(d.path()).unwrap();
        let names: Vec<_> = s
            .files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["c9", "c10"]);
    }

    #[test]
    fn unknown_and_empty_streams() {
        assert!(matches!(
            open_reader(Box::new(Cursor::new(Vec::new()))),
            Err(CaptureError::Empty)
        ));
        assert!(matches!(
            open_reader(Box::new(Cursor::new(b"GET / HTTP/1.1".to_vec()))),
            Err(CaptureError::UnknownFormat { .. })
        ));
    }
}
