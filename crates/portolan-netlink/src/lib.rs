//! The netlink plumbing Portolan's two kernel clients share (Linux): `portolan-scan` asks
//! `NETLINK_ROUTE` for routes, neighbours and links, `portolan-audit` dumps listening sockets
//! through `NETLINK_SOCK_DIAG`. Only the protocol-independent part lives here:
//!
//! - [`Socket`]: an `AF_NETLINK` socket with a receive timeout; [`Socket::send`] to the kernel,
//!   [`Socket::recv`] of one datagram (an oversized datagram is an error, never silently cut),
//!   and [`Socket::exchange`] / [`Socket::collect`]: the receive loop that reads datagrams until
//!   the answer (or the `NLMSG_DONE` that ends a dump) is there.
//! - [`Request`]: the bytes of a request — `nlmsghdr`, the family header, `rtattr`s.
//! - [`messages`]: a bounds-checked iterator over the `nlmsghdr`s of a datagram ([`Message`]),
//!   [`attrs`]: the same over `rtattr`-style attributes ([`Attr`]), and [`check_error`] /
//!   [`check_done`] for `NLMSG_ERROR` and `NLMSG_DONE` payloads.
//!
//! The walkers are pure functions over untrusted bytes: they never panic (property-tested and
//! fuzzed) and stop with [`Error::Malformed`] at the first length that does not fit.
//! Protocol-specific parsing (`rtmsg`, `ndmsg`, `ifinfomsg`, `inet_diag_msg`) stays in the
//! crates that speak the protocol.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `NETLINK_ROUTE` from `<linux/netlink.h>`.
pub const NETLINK_ROUTE: libc::c_int = 0;
/// `NETLINK_SOCK_DIAG` from `<linux/netlink.h>`.
pub const NETLINK_SOCK_DIAG: libc::c_int = 4;
/// `NLM_F_REQUEST`: a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: one part of a multi-part answer.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): dump the whole table.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLMSG_NOOP`: nothing, skip it.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error, or an acknowledgement when its code is 0.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// Size of `struct nlmsghdr`.
pub const NLMSG_HDR: usize = 16;
/// Size of `struct rtattr` / `struct nlattr`.
pub const ATTR_HDR: usize = 4;

/// Errors of the shared netlink plumbing. Each client maps them onto its own error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open a netlink socket: {0}")]
    Open(io::Error),
    #[error("netlink send failed: {0}")]
    Send(io::Error),
    #[error("netlink receive failed: {0}")]
    Recv(io::Error),
    /// The receive timeout passed without a datagram (`EAGAIN`).
    #[error("the kernel sent nothing within the receive timeout: {0}")]
    TimedOut(io::Error),
    /// `recv` returned 0 bytes.
    #[error("the kernel closed the netlink socket")]
    Closed,
    /// A datagram larger than the receive buffer.
    #[error("a {size}-byte datagram does not fit the {buf}-byte buffer")]
    Truncated { size: usize, buf: usize },
    /// `NLMSG_ERROR` (or `NLMSG_DONE`) with a non-zero error code.
    #[error("the kernel refused the request: {0}")]
    Kernel(io::Error),
    #[error("malformed netlink answer: {0}")]
    Malformed(String),
    /// The receive loop read its maximum of datagrams without the answer.
    #[error("the kernel sent no answer to the request")]
    NoAnswer,
}

/// The native-endian `u16` at `at`, if `b` holds it.
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

/// The native-endian `u32` at `at`, if `b` holds it.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// `n` rounded up to netlink's 4-byte alignment (saturating).
pub fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

// ---------------------------------------------------------------------------------------------
// Walking received bytes (pure, never panics)

/// One netlink message of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: the sequence number of the request this answers.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// The bytes after the header, up to `nlmsg_len` (padding excluded).
    pub payload: &'a [u8],
    /// Where the message starts in the datagram.
    pub offset: usize,
}

/// A position in a run of length-prefixed, 4-byte aligned records (messages or attributes).
#[derive(Clone, Debug)]
struct Cursor<'a> {
    buf: &'a [u8],
    off: usize,
    failed: bool,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            off: 0,
            failed: false,
        }
    }

    /// The next record and its offset. `len_of` reads the record's declared length from the
    /// bytes at the cursor (at least `hdr` of them). Fewer than `hdr` bytes left end the walk;
    /// a length below `hdr` or past the end is one error, then the end.
    fn next_record(
        &mut self,
        hdr: usize,
        what: &str,
        len_of: impl Fn(&[u8]) -> Option<usize>,
    ) -> Option<Result<(usize, &'a [u8]), Error>> {
        let off = self.off;
        let rest = self.buf.get(off..)?;
        if self.failed || rest.len() < hdr {
            return None;
        }
        let len = len_of(rest)?;
        if len < hdr || len > rest.len() {
            self.failed = true;
            return Some(Err(Error::Malformed(format!(
                "{what} length {len} out of bounds at byte {off}"
            ))));
        }
        self.off = off.saturating_add(align4(len));
        Some(Ok((off, &rest[..len])))
    }
}

/// Iterator over the `nlmsghdr`s of a datagram; see [`messages`].
#[derive(Clone, Debug)]
pub struct Messages<'a>(Cursor<'a>);

/// Walk the netlink messages of one datagram. A message whose length is below the header size
/// or past the end of the datagram yields one [`Error::Malformed`] and ends the walk; fewer than
/// [`NLMSG_HDR`] trailing bytes are ignored (as the kernel's `NLMSG_OK` does).
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages(Cursor::new(buf))
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let len_of = |b: &[u8]| u32_at(b, 0).map(|l| l as usize);
        let (offset, m) = match self.0.next_record(NLMSG_HDR, "message", len_of)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Message {
            kind: u16_at(m, 4)?,
            flags: u16_at(m, 6)?,
            seq: u32_at(m, 8)?,
            pid: u32_at(m, 12)?,
            payload: m.get(NLMSG_HDR..)?,
            offset,
        }))
    }
}

/// One `rtattr` / `nlattr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The attribute type without the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits.
    pub kind: u16,
    /// The value (padding excluded).
    pub value: &'a [u8],
}

/// Iterator over the attributes of a payload; see [`attrs`].
#[derive(Clone, Debug)]
pub struct Attrs<'a>(Cursor<'a>);

/// Walk the `rtattr`-style attributes of `b` (the bytes after a family header). An attribute
/// whose length is below its header or past the end yields one [`Error::Malformed`] and ends
/// the walk; fewer than [`ATTR_HDR`] trailing bytes are ignored.
pub fn attrs(b: &[u8]) -> Attrs<'_> {
    Attrs(Cursor::new(b))
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let len_of = |b: &[u8]| u16_at(b, 0).map(usize::from);
        let (_, a) = match self.0.next_record(ATTR_HDR, "attribute", len_of)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Attr {
            kind: u16_at(a, 2)? & 0x3fff,
            value: a.get(ATTR_HDR..)?,
        }))
    }
}

fn kernel_error(code: i32) -> Error {
    Error::Kernel(io::Error::from_raw_os_error(code.saturating_neg()))
}

/// Check an `NLMSG_ERROR` payload: `Ok(())` for an acknowledgement (code 0), otherwise the
/// kernel's error as [`Error::Kernel`].
pub fn check_error(payload: &[u8]) -> Result<(), Error> {
    let e = u32_at(payload, 0).ok_or_else(|| Error::Malformed("truncated error message".into()))?
        as i32;
    if e == 0 {
        Ok(())
    } else {
        Err(kernel_error(e))
    }
}

/// Check an `NLMSG_DONE` payload: some kernels put a negative errno there when a dump failed
/// part way. An empty or short payload, or a code >= 0, is a clean end.
pub fn check_done(payload: &[u8]) -> Result<(), Error> {
    match u32_at(payload, 0).map(|v| v as i32) {
        Some(e) if e < 0 => Err(kernel_error(e)),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Building requests

/// Append one attribute (header, value, padding) to `out`. Values are at most a few hundred
/// bytes in practice; a value too long for the 16-bit length is cut to fit.
pub fn push_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let value = &value[..value.len().min(usize::from(u16::MAX) - ATTR_HDR)];
    let len = (ATTR_HDR + value.len()) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(align4(out.len()), 0);
}

/// The bytes of one netlink message: header, family header, attributes. [`Request::finish`]
/// sets `nlmsg_len`. The port id is 0 (the kernel).
#[derive(Clone, Debug)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// A message of type `kind` with `flags` and sequence number `seq`.
    pub fn new(kind: u16, flags: u16, seq: u32) -> Request {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
        Request { buf }
    }

    /// Append raw bytes (the family header, e.g. `struct rtmsg`).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Request {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Append one attribute.
    pub fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Request {
        push_attr(&mut self.buf, kind, value);
        self
    }

    /// The finished message, padded to 4 bytes, its length set.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.resize(align4(self.buf.len()), 0);
        let len = (self.buf.len() as u32).to_ne_bytes();
        self.buf[..4].copy_from_slice(&len);
        self.buf
    }
}

// ---------------------------------------------------------------------------------------------
// I/O

/// An `AF_NETLINK` socket of one netlink protocol, closed on drop.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Open a socket of netlink `protocol` (e.g. [`NETLINK_ROUTE`]) whose receives give up
    /// after `timeout` ([`Error::TimedOut`]): the kernel answers at once, the bound keeps a
    /// confused kernel from hanging the caller.
    pub fn open(protocol: libc::c_int, timeout: Duration) -> Result<Socket, Error> {
        // SAFETY: socket(2) with plain integer arguments; the result is checked and the
        // descriptor owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(Error::Open(io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
        };
        // SAFETY: tv is a live timeval of the size passed; fd is open.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(Error::Open(io::Error::last_os_error()));
        }
        Ok(Socket { fd })
    }

    /// Send `req` to the kernel.
    pub fn send(&self, req: &[u8]) -> Result<(), Error> {
        // SAFETY: sockaddr_nl is plain data; all zeroes (pid 0: the kernel) is valid.
        let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: req and sa are live for the call and valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(Error::Send(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Receive one datagram into `buf`. `EINTR` is retried; the timeout is
    /// [`Error::TimedOut`], 0 bytes [`Error::Closed`], and a datagram larger than `buf`
    /// [`Error::Truncated`] (`MSG_TRUNC` reports the real size).
    pub fn recv<'a>(&self, buf: &'a mut [u8]) -> Result<&'a [u8], Error> {
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => Err(Error::TimedOut(e)),
                    _ => Err(Error::Recv(e)),
                };
            }
            let n = n as usize;
            if n == 0 {
                return Err(Error::Closed);
            }
            if n > buf.len() {
                return Err(Error::Truncated {
                    size: n,
                    buf: buf.len(),
                });
            }
            return Ok(&buf[..n]);
        }
    }

    /// Send `req`, then read datagrams (into a buffer of `buf_len` bytes) and hand each to
    /// `answer` until it returns `Some`: that is the result. At most `max_reads` datagrams are
    /// read; then it is [`Error::NoAnswer`]. Errors of `answer` end the exchange.
    pub fn exchange<T, E: From<Error>>(
        &self,
        req: &[u8],
        buf_len: usize,
        max_reads: usize,
        mut answer: impl FnMut(&[u8]) -> Result<Option<T>, E>,
    ) -> Result<T, E> {
        self.send(req)?;
        let mut buf = vec![0u8; buf_len];
        for _ in 0..max_reads {
            let got = self.recv(&mut buf)?;
            if let Some(t) = answer(got)? {
                return Ok(t);
            }
        }
        Err(Error::NoAnswer.into())
    }

    /// Send a dump request and collect the items of every datagram until the dump ends.
    /// `parse` returns one datagram's items and whether it held the `NLMSG_DONE`.
    pub fn collect<T, E: From<Error>>(
        &self,
        req: &[u8],
        buf_len: usize,
        max_reads: usize,
        mut parse: impl FnMut(&[u8]) -> Result<(Vec<T>, bool), E>,
    ) -> Result<Vec<T>, E> {
        let mut all = Vec::new();
        self.exchange(req, buf_len, max_reads, |got| {
            let (items, done) = parse(got)?;
            all.extend(items);
            Ok::<_, E>(done.then_some(()))
        })?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn msg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut r = Request::new(kind, NLM_F_MULTI, seq);
        r.push(payload);
        r.finish()
    }

    #[test]
    fn walks_messages_and_attributes() {
        let mut p = vec![7u8; 5]; // a 5-byte family header, not aligned
        p.resize(8, 0);
        push_attr(&mut p, 1, &[10, 0, 0, 1]);
        push_attr(&mut p, 0x8000 | 3, b"eth0\0");
        let mut buf = msg(24, 9, &p);
        buf.extend(msg(NLMSG_DONE, 9, &0u32.to_ne_bytes()));
        let ms: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!((ms[0].kind, ms[0].flags, ms[0].seq), (24, NLM_F_MULTI, 9));
        assert_eq!(ms[0].payload, &p[..]);
        assert_eq!(ms[1].kind, NLMSG_DONE);
        assert_eq!(ms[1].offset, NLMSG_HDR + p.len());
        assert!(check_done(ms[1].payload).is_ok());
        let at: Vec<_> = attrs(&ms[0].payload[8..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            at,
            vec![
                Attr {
                    kind: 1,
                    value: &[10, 0, 0, 1]
                },
                Attr {
                    kind: 3,
                    value: b"eth0\0"
                }
            ]
        );
    }

    #[test]
    fn lying_lengths_are_one_error_then_the_end() {
        let mut buf = msg(24, 1, &[0u8; 8]);
        buf[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        let mut it = messages(&buf);
        assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
        assert!(it.next().is_none());
        buf[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(matches!(messages(&buf).next(), Some(Err(_))));
        let mut a = Vec::new();
        push_attr(&mut a, 1, &[1, 2, 3, 4]);
        a[0..2].copy_from_slice(&200u16.to_ne_bytes());
        let mut it = attrs(&a);
        assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
        assert!(it.next().is_none());
        a[0..2].copy_from_slice(&2u16.to_ne_bytes());
        assert!(matches!(attrs(&a).next(), Some(Err(_))));
        // Short tails are ignored, not errors.
        assert_eq!(messages(&[0u8; 15]).count(), 0);
        assert_eq!(attrs(&[0u8; 3]).count(), 0);
    }

    #[test]
    fn error_and_done_codes() {
        assert!(check_error(&0i32.to_ne_bytes()).is_ok());
        match check_error(&(-libc::EPERM).to_ne_bytes()) {
            Err(Error::Kernel(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(check_error(&[0, 0]), Err(Error::Malformed(_))));
        assert!(check_done(&[]).is_ok());
        assert!(matches!(
            check_done(&i32::MIN.to_ne_bytes()),
            Err(Error::Kernel(_))
        ));
    }

    #[test]
    fn requests_are_well_formed() {
        let mut r = Request::new(26, NLM_F_REQUEST, 4);
        r.push(&[2, 32, 0]).attr(1, &[127, 0, 0, 1]);
        let b = r.finish();
        assert_eq!(b.len() % 4, 0);
        assert_eq!(u32_at(&b, 0).unwrap() as usize, b.len());
        assert_eq!(u16_at(&b, 4), Some(26));
        assert_eq!(u16_at(&b, 6), Some(NLM_F_REQUEST));
        assert_eq!(u32_at(&b, 8), Some(4));
        let m = messages(&b).next().unwrap().unwrap();
        assert_eq!(&m.payload[..3], &[2, 32, 0]);
    }

    #[test]
    fn live_route_dump_of_loopback_ends() {
        // Asks this machine's kernel for its IPv4 routes (no packet is sent): the dump must
        // end with NLMSG_DONE through the shared receive loop.
        let s = Socket::open(NETLINK_ROUTE, Duration::from_secs(2)).unwrap();
        let mut r = Request::new(26, NLM_F_REQUEST | NLM_F_DUMP, 77);
        r.push(&[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let routes = s
            .collect(&r.finish(), 64 * 1024, 4096, |got| {
                let mut items = Vec::new();
                for m in messages(got) {
                    let m = m?;
                    match m.kind {
                        NLMSG_DONE => return Ok::<_, Error>((items, true)),
                        NLMSG_ERROR => check_error(m.payload)?,
                        24 => items.push(m.payload.len()),
                        _ => {}
                    }
                }
                Ok((items, false))
            })
            .unwrap();
        // The local table always holds 127.0.0.0/8 and friends.
        assert!(!routes.is_empty());
        assert!(routes.iter().all(|&l| l >= 12));
    }

    proptest! {
        #[test]
        fn walkers_never_panic_and_stay_in_bounds(buf in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let mut n = 0usize;
            for m in messages(&buf) {
                n += 1;
                let Ok(m) = m else { break };
                prop_assert!(m.offset + NLMSG_HDR + m.payload.len() <= buf.len());
                let _ = check_error(m.payload);
                let _ = check_done(m.payload);
                for a in attrs(m.payload) {
                    if a.is_err() { break; }
                }
            }
            // Each message takes at least a header: the walk ends.
            prop_assert!(n <= buf.len() / NLMSG_HDR + 1);
            prop_assert!(attrs(&buf).count() <= buf.len() / ATTR_HDR + 1);
        }

        #[test]
        fn built_attributes_walk_back(values in proptest::collection::vec(
            (0u16..0x3fff, proptest::collection::vec(any::<u8>(), 0..40)), 0..12)) {
            let mut r = Request::new(100, 0, 1);
            r.push(&[0u8; 4]);
            for (k, v) in &values {
                r.attr(*k, v);
            }
            let b = r.finish();
            let m = messages(&b).next().unwrap().unwrap();
            let back: Vec<_> = attrs(&m.payload[4..]).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back.len(), values.len());
            for (a, (k, v)) in back.iter().zip(&values) {
                prop_assert_eq!(a.kind, *k);
                prop_assert_eq!(a.value, &v[..]);
            }
        }
    }
}
