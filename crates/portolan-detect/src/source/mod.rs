//! Packet sources: pcap and pcapng readers over any `Read` (files, gzip streams, stdin), a
//! directory of rotated captures, and live capture with AF_PACKET on Linux.
//!
//! Readers are *lending*: [`PacketSource::next_packet`] returns a [`RawPacket`] whose bytes borrow
//! the reader's buffer, valid until the next call. Records are parsed in place inside a large
//! read buffer; nothing is copied per packet.

mod buf;
pub mod live;
mod open;
pub mod pcap;
pub mod pcapng;

pub use buf::ByteReader;
pub use open::{open_path, open_reader, AnySource, DirSource, SourceKind};

use std::path::PathBuf;

/// One captured frame, borrowed from the reader.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of `data` (see [`crate::decode::linktype`]).
    pub linktype: u32,
    /// The capture interface: its index in a pcapng section (0 for pcap and live capture).
    pub interface: u32,
    /// Length of the packet on the wire (may exceed `data.len()` when cut by the snap length).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A stream of captured packets.
pub trait PacketSource {
    /// The next packet, `Ok(None)` at the end. After an error the source is finished.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;

    /// True when `next_packet` will return a packet or an error (not the end). Used to chain
    /// sources without the borrow of a returned packet outliving the check.
    fn has_packet(&mut self) -> Result<bool, CaptureError>;
}

/// Why a capture could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read error at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("not a pcap or pcapng capture (first bytes {magic:02x?}); give a .pcap, .pcapng or a gzip of one")]
    UnknownFormat { magic: Vec<u8> },
    #[error("capture is empty")]
    Empty,
    #[error("capture truncated at byte {offset}: {what} needs {need} bytes, only {have} left (the file was cut short; packets before this point were read)")]
    Truncated {
        offset: u64,
        what: &'static str,
        need: u64,
        have: u64,
    },
    #[error("corrupt capture at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<CaptureError>,
    },
    #[error("live capture: {0}")]
    Live(String),
}

impl CaptureError {
    /// Attach the file name.
    pub fn in_file(self, path: impl Into<PathBuf>) -> CaptureError {
        match self {
            e @ (CaptureError::InFile { .. } | CaptureError::Open { .. }) => e,
            e => CaptureError::InFile {
                path: path.into(),
                source: Box::new(e),
            },
        }
    }
}

/// Read a small text file (a configuration, a filter program) whole, but never more than
/// `limit` bytes: `/dev/zero`, a FIFO fed forever or a huge file by mistake fail with
/// [`TextFileError::TooLarge`] after `limit + 1` bytes instead of eating memory.
pub fn read_text_capped(path: &std::path::Path, limit: u64) -> Result<String, TextFileError> {
    use std::io::Read;
    let io = |e| TextFileError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(TextFileError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    String::from_utf8(buf).map_err(|e| TextFileError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Why a small text input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {limit} bytes, the limit for this input: is it the right file?", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{} is not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotText { path: PathBuf, offset: usize },
}

impl TextFileError {
    /// The file concerned.
    pub fn path(&self) -> &std::path::Path {
        match self {
            TextFileError::Io { path, .. }
            | TextFileError::TooLarge { path, .. }
            | TextFileError::NotText { path, .. } => path,
        }
    }
}

/// Largest filter program file (`--filter @FILE`) read: 1 MiB, far above the 4096
/// instructions the kernel accepts in `tcpdump -dd` form.
pub const MAX_FILTER_FILE: u64 = 1 << 20;

/// Largest record accepted (a sanity bound against corrupt length fields).
pub const MAX_RECORD: usize = 256 * 1024 * 1024;
