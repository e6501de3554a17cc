//! The fast path of `portolan diff` on two nmap XML files: most hosts of two scans of the same
//! network are the same, so only the `<host>` elements that differ need a full parse.
//!
//! Two passes over each file, each file on its own thread if the caller likes:
//!
//! 1. [`index_hosts`] splits the file into `<host>…</host>` elements (memchr/memmem), checks
//!    that the split is the one an XML parser sees (no comment, CDATA section, processing
//!    instruction or DOCTYPE around or inside a host, no `<` inside an attribute value, no
//!    nested `<host>`), and keys each host by its first IP `<address>` (the one the reader
//!    takes) with a keyed hash (SipHash, random key) of its bytes, leaving out the attributes
//!    that change from scan to scan without meaning anything to a diff (`<host starttime
//!    endtime>`, `<times>`, `<uptime>`, `<tcpsequence>`, `<ipidsequence>`, `<tcptssequence>`,
//!    `<hop>`). Memory: one entry per host, never the file.
//! 2. [`identical_hosts`] picks the hosts that occur exactly once in each file with the same
//!    hash; [`OmitHosts`] reads a file again with those `<host>` elements cut out, for the
//!    ordinary reader ([`super::read_nmap_xml`]): what is left is the file's header, its end,
//!    and the hosts that changed, appeared or vanished.
//!
//! A host cut from both files would have been read as the same host with the same ports on
//! both sides: it adds nothing to a diff, so the diff is the one the full parse gives. When a
//! file is anything else than plain nmap XML ([`index_hosts`] gives `None`), the caller reads
//! both files whole. One difference remains, by design: a host element identical in both files
//! is not parsed, so a malformed one that the full parse would refuse is not reported.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::IpAddr;

use memchr::{memchr, memchr3, memmem};

/// A `<host>` element longer than this is not split off (the files are read whole).
const MAX_HOST: usize = 64 << 20;

/// Where a host element is in its file: where the whitespace before it begins (if the element
/// before it is a host; else its first byte), its first byte, and the byte after its last.
type Place = (u64, u64, u64);

/// What [`index_hosts`] learnt of one file.
#[derive(Debug, Default)]
pub struct HostIndex {
    /// (first address, hash, the element's place in the file: where the whitespace before it
    /// begins if the element before it is a host, its first byte, and the one after its
    /// last), one per host element with an address, sorted by address (then place): hosts of
    /// two files are paired by a merge, an address listed twice is two neighbours.
    hosts: Vec<(IpAddr, u64, Place)>,
    /// `<host>` elements in the file.
    pub elements: u32,
}

/// The places (first byte, the one after the last) of the `<host>` elements to leave out of a
/// file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Omit {
    places: Vec<(u64, u64)>,
    hosts: usize,
}

impl Omit {
    /// How many host elements are left out.
    pub fn len(&self) -> usize {
        self.hosts
    }
    pub fn is_empty(&self) -> bool {
        self.hosts == 0
    }
}

/// The hosts of `a` and `b` that need no parse: one element with that address in each file,
/// with the same hash (both indexes made with the same `RandomState`).
pub fn identical_hosts(a: &HostIndex, b: &HostIndex) -> (Omit, Omit) {
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    let (mut ra, mut rb) = (runs(&a.hosts), runs(&b.hosts));
    let (mut x, mut y) = (ra.next(), rb.next());
    while let (Some(xa), Some(yb)) = (x, y) {
        match xa[0].0.cmp(&yb[0].0) {
            std::cmp::Ordering::Less => x = ra.next(),
            std::cmp::Ordering::Greater => y = rb.next(),
            std::cmp::Ordering::Equal => {
                if let ([(_, ha, pa)], [(_, hb, pb)]) = (xa, yb) {
                    if ha == hb {
                        oa.push(*pa);
                        ob.push(*pb);
                    }
                }
                (x, y) = (ra.next(), rb.next());
            }
        }
    }
    (merged(oa), merged(ob))
}

/// The runs of entries with the same address of a sorted index.
fn runs(hosts: &[(IpAddr, u64, Place)]) -> impl Iterator<Item = &[(IpAddr, u64, Place)]> {
    hosts.chunk_by(|p, q| p.0 == q.0)
}

/// The places to leave out, in file order, two that only whitespace parts made one (the reader
/// ignores whitespace between hosts): one seek for a run of hosts, not two system calls each.
fn merged(mut places: Vec<Place>) -> Omit {
    places.sort_unstable_by_key(|p| p.1);
    let hosts = places.len();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(places.len());
    for (gap, start, end) in places {
        match out.last_mut() {
            Some(last) if last.1 == gap => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    Omit { places: out, hosts }
}

/// What the splitter hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Bytes outside any `<host>` element (or a host cut short by the end of the file).
    Other,
    /// One whole `<host …>…</host>` element.
    Host,
}

/// Splits a stream into [`Kind::Other`] pieces and whole [`Kind::Host`] elements.
struct Splitter<R> {
    r: R,
    /// `<host` and `</host`, searched for with finders built once.
    open: memmem::Finder<'static>,
    close: memmem::Finder<'static>,
    /// The offset in the stream of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<R: Read> Splitter<R> {
    fn new(r: R) -> Self {
        Splitter {
            r,
            open: memmem::Finder::new(b"<host"),
            close: memmem::Finder::new(b"</host"),
            base: 0,
            buf: vec![0; 1 << 18],
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    /// Read more (after moving what is left to the front, and growing the buffer if full).
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.base += self.pos as u64;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() > MAX_HOST {
                return Err(io::Error::other("a <host> element is too long"));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next piece, as a range of `self.buf` valid until the next call.
    fn next(&mut self) -> io::Result<Option<(Kind, std::ops::Range<usize>)>> {
        loop {
            let avail = &self.buf[self.pos..self.end];
            if avail.is_empty() {
                if self.eof {
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            let (kind, len) = match self.open.find(avail) {
                None => {
                    // Keep the last bytes back: they may begin a "<host" cut by the buffer.
                    let keep = if self.eof { 0 } else { avail.len().min(4) };
                    if avail.len() == keep {
                        self.fill()?;
                        continue;
                    }
                    (Kind::Other, avail.len() - keep)
                }
                Some(i) if i > 0 => (Kind::Other, i),
                Some(_) => match avail.get(5) {
                    None if !self.eof => {
                        self.fill()?;
                        continue;
                    }
                    None => (Kind::Other, avail.len()),
                    Some(&c) if !(is_space(c) || c == b'>') => (Kind::Other, 5),
                    Some(_) => match host_end(&self.close, avail) {
                        Some(n) => (Kind::Host, n),
                        None if !self.eof => {
                            self.fill()?;
                            continue;
                        }
                        // A host cut short by the end of the file.
                        None => (Kind::Other, avail.len()),
                    },
                },
            };
            let r = self.pos..self.pos + len;
            self.pos += len;
            return Ok(Some((kind, r)));
        }
    }
}

/// The length of the element `<host…>…</host>` at the start of `b`, if `b` holds its end.
fn host_end(close: &memmem::Finder<'_>, b: &[u8]) -> Option<usize> {
    let mut from = 5;
    loop {
        let i = from + close.find(&b[from..])?;
        let mut j = i + 6;
        while b.get(j).copied().is_some_and(is_space) {
            j += 1;
        }
        match b.get(j)? {
            b'>' => return Some(j + 1),
            _ => from = i + 6,
        }
    }
}

/// The markup state between pieces outside hosts: a host may begin only outside any markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outside {
    Text,
    /// After `<`.
    Lt,
    /// In a tag; the quote of the attribute value it is in.
    Tag(Option<u8>),
    /// After `<!`, these many bytes of it read.
    Bang(u8),
    /// In a comment, after so many `-`.
    Comment(u8),
    /// In a processing instruction; after a `?`.
    Pi(bool),
    /// In a CDATA section, after so many `]`.
    Cdata(u8),
    /// In a DOCTYPE (no internal subset); the quote it is in.
    Doctype(Option<u8>),
}

/// Why a file does not suit the fast path.
struct Unsuited;

impl Outside {
    fn feed(mut self, bytes: &[u8]) -> Result<Outside, Unsuited> {
        use Outside::*;
        for &c in bytes {
            self = match self {
                Text => {
                    if c == b'<' {
                        Lt
                    } else {
                        Text
                    }
                }
                Lt => match c {
                    b'!' => Bang(0),
                    b'?' => Pi(false),
                    b'<' => return Err(Unsuited),
                    _ => Tag(None),
                },
                Tag(None) => match c {
                    b'"' | b'\'' => Tag(Some(c)),
                    b'>' => Text,
                    b'<' => return Err(Unsuited),
                    _ => Tag(None),
                },
                Tag(Some(q)) => {
                    if c == q {
                        Tag(None)
                    } else if c == b'<' {
                        return Err(Unsuited);
                    } else {
                        Tag(Some(q))
                    }
                }
                Bang(0) => match c {
                    b'-' => Bang(1),
                    b'[' => Cdata(0),
                    _ => Doctype(None),
                },
                Bang(_) => {
                    if c == b'-' {
                        Comment(0)
                    } else {
                        return Err(Unsuited);
                    }
                }
                Comment(n) => match (c, n) {
                    (b'-', n) => Comment((n + 1).min(2)),
                    (b'>', 2) => Text,
                    _ => Comment(0),
                },
                Pi(q) => match c {
                    b'>' if q => Text,
                    b'?' => Pi(true),
                    _ => Pi(false),
                },
                Cdata(n) => match (c, n) {
                    (b']', n) => Cdata((n + 1).min(2)),
                    (b'>', 2) => Text,
                    _ => Cdata(0),
                },
                Doctype(None) => match c {
                    b'"' | b'\'' => Doctype(Some(c)),
                    b'>' => Text,
                    // An internal subset may declare entities: not plain nmap XML.
                    b'[' | b'<' => return Err(Unsuited),
                    _ => Doctype(None),
                },
                Doctype(Some(q)) => {
                    if c == q {
                        Doctype(None)
                    } else {
                        Doctype(Some(q))
                    }
                }
            };
        }
        Ok(self)
    }
}

/// Tags whose attributes change from scan to scan and mean nothing to a diff (the reader
/// ignores them, or keeps them only in what a diff does not compare).
const VOLATILE: [&[u8]; 7] = [
    b"host",
    b"times",
    b"uptime",
    b"tcpsequence",
    b"ipidsequence",
    b"tcptssequence",
    b"hop",
];

/// The bytes that matter inside a tag: quotes, its end, and `<` (never in a tag).
static IN_TAG: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'>' as usize] = true;
    t[b'<' as usize] = true;
    t
};

/// One `<host>` element: its first IP address (none: the reader will refuse it, or it has
/// none) and its hash. One walk over the bytes (tags are short: a loop beats a search per
/// attribute).
fn lex_host(b: &[u8], hasher: &RandomState) -> Result<(Option<IpAddr>, u64), Unsuited> {
    let mut h = hasher.build_hasher();
    let mut addr: Option<IpAddr> = None;
    // Bytes from `kept` on are still to be hashed.
    let mut kept = 0;
    let mut i = 0;
    let mut first = true;
    let n = b.len();
    loop {
        // Text up to the next tag.
        while i < n && b[i] != b'<' {
            i += 1;
        }
        if i == n {
            break;
        }
        i += 1;
        let c = *b.get(i).ok_or(Unsuited)?;
        if c == b'!' || c == b'?' {
            return Err(Unsuited);
        }
        let end_tag = c == b'/';
        let name_start = if end_tag { i + 1 } else { i };
        let mut j = name_start;
        while j < n
            && !matches!(
                b[j],
                b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/' | b'<' | b':'
            )
        {
            j += 1;
        }
        let name = &b[name_start..j];
        if name.is_empty() || matches!(b.get(j), Some(b'<' | b':')) {
            return Err(Unsuited);
        }
        if end_tag {
            let gt = memchr(b'>', &b[j..]).ok_or(Unsuited)?;
            i = j + gt + 1;
            if name == b"host" {
                // The element's end: it must be where the splitter put it.
                if i != n {
                    return Err(Unsuited);
                }
                break;
            }
            continue;
        }
        if name == b"host" && !first {
            return Err(Unsuited);
        }
        first = false;
        let volatile = VOLATILE.contains(&name);
        let is_address = name == b"address" && addr.is_none();
        if volatile {
            // Hash up to the name; the attributes are left out (a marker stands for them).
            h.write(&b[kept..j]);
            h.write_u8(0);
        }
        // The attributes, up to the tag's `>`: first eight bytes at a time (a tag with no
        // `'` and no `<` before its first `>`, and an even number of `"`, ends at that `>`:
        // every `"` before it opens or closes a value), else quote-aware, a byte at a time.
        let k = match tag_end(b, j) {
            Some(k) => k,
            None => tag_end_quoted(b, j)?,
        };
        if is_address {
            if let Some(a) = address(&b[j..k - 1])? {
                addr = Some(a);
            }
        }
        if volatile {
            kept = k - 1;
        }
        i = k;
    }
    h.write(&b[kept..]);
    Ok((addr, h.finish()))
}

/// Bytes of `w` (little-endian) equal to `c`: the high bit of each such byte set, no other
/// bit (exact: no false positive from a borrow).
#[inline(always)]
fn bytes_eq(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let y = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    !(((y & LOW7) + LOW7) | y | LOW7)
}

/// The byte after the `>` that ends the tag whose attributes begin at `from`, when the
/// bytes before the first `>` hold no `'`, no `<` and an even number of `"` (then that `>`
/// is outside any quoted value: the quote-aware walk ends there too). `None`: ask
/// [`tag_end_quoted`].
#[inline]
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    let mut quotes = 0u32;
    while let Some(w) = b.get(k..k + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let w = u64::from_le_bytes(a);
        let gt = bytes_eq(w, b'>');
        // The bytes before the first `>` of the word (all of them if there is none).
        let before = if gt == 0 {
            u64::MAX
        } else {
            (gt & gt.wrapping_neg()) - 1
        };
        if (bytes_eq(w, b'\'') | bytes_eq(w, b'<')) & before != 0 {
            return None;
        }
        // How many high bits (one a byte): summed by a multiply, no popcount instruction
        // needed (the baseline x86-64 has none).
        quotes +=
            (((bytes_eq(w, b'"') & before) >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32;
        if gt != 0 {
            let end = k + (gt.trailing_zeros() / 8) as usize + 1;
            return (quotes % 2 == 0).then_some(end);
        }
        k += 8;
    }
    // The last few bytes of the element.
    for (i, &c) in b.get(k..)?.iter().enumerate() {
        match c {
            b'>' => return (quotes % 2 == 0).then_some(k + i + 1),
            b'"' => quotes += 1,
            b'\'' | b'<' => return None,
            _ => {}
        }
    }
    None
}

/// The byte after the `>` that ends the tag whose attributes begin at `from`, quote-aware:
/// the bytes that matter are found by a table (one load and one test a byte). A `<` in the
/// tag (in a value or not) or no end: not plain nmap XML.
fn tag_end_quoted(b: &[u8], from: usize) -> Result<usize, Unsuited> {
    let n = b.len();
    let mut k = from;
    let mut quote = 0u8;
    loop {
        while k < n && !IN_TAG[b[k] as usize] {
            k += 1;
        }
        let c = *b.get(k).ok_or(Unsuited)?;
        k += 1;
        if quote != 0 {
            if c == quote {
                quote = 0;
            } else if c == b'<' {
                return Err(Unsuited);
            }
        } else if c == b'"' || c == b'\'' {
            quote = c;
        } else if c == b'>' {
            return Ok(k);
        } else if c == b'<' {
            return Err(Unsuited);
        }
    }
}

/// The attributes of an `<address>` tag (`attrs`: after its name, before its `>`): the IP
/// address the reader takes from it, if it takes one (`addrtype` ipv4 or ipv6).
fn address(attrs: &[u8]) -> Result<Option<IpAddr>, Unsuited> {
    let (mut a_addr, mut a_type): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut k = 0;
    while let Some(m) = memchr3(b'"', b'\'', b'=', &attrs[k..]).map(|m| k + m) {
        if attrs[m] != b'=' {
            return Err(Unsuited);
        }
        let name = attrs[k..m].trim_ascii();
        let rest = &attrs[m + 1..];
        let open = rest
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .ok_or(Unsuited)?;
        let q = rest[open];
        if q != b'"' && q != b'\'' {
            return Err(Unsuited);
        }
        let close = open + 1 + memchr(q, &rest[open + 1..]).ok_or(Unsuited)?;
        let value = &rest[open + 1..close];
        if name.contains(&b':') || name.contains(&b'&') || value.contains(&b'&') {
            return Err(Unsuited);
        }
        match name {
            b"addr" if a_addr.is_none() => a_addr = Some(value),
            b"addrtype" if a_type.is_none() => a_type = Some(value),
            _ => {}
        }
        k = m + 1 + close + 1;
    }
    if !matches!(a_type, Some(b"ipv4" | b"ipv6")) {
        return Ok(None);
    }
    // The address the reader takes. Not an address: the reader refuses the file, and says
    // why when it reads it whole.
    a_addr
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or(Unsuited)
}

/// Pass 1: split `r` (an nmap XML file) into its `<host>` elements and index them. `None`:
/// the file is not plain enough for the fast path (read it whole).
pub fn index_hosts(r: impl Read, hasher: &RandomState) -> io::Result<Option<HostIndex>> {
    let mut s = Splitter::new(r);
    let mut idx = HostIndex::default();
    let mut outside = Outside::Text;
    // The end of the last host element, and whether only whitespace followed it.
    let mut last_end: Option<u64> = None;
    let mut blank = true;
    while let Some((kind, range)) = match s.next() {
        Ok(x) => x,
        // A host too long to split off: read the files whole.
        Err(e) if e.kind() == io::ErrorKind::Other => return Ok(None),
        Err(e) => return Err(e),
    } {
        let bytes = &s.buf[range.clone()];
        match kind {
            Kind::Other => {
                blank = blank && bytes.iter().all(|&c| is_space(c));
                match outside.feed(bytes) {
                    Ok(o) => outside = o,
                    Err(Unsuited) => return Ok(None),
                }
            }
            Kind::Host => {
                if outside != Outside::Text {
                    return Ok(None);
                }
                let Ok((addr, hash)) = lex_host(bytes, hasher) else {
                    return Ok(None);
                };
                idx.elements += 1;
                let (start, end) = (s.base + range.start as u64, s.base + range.end as u64);
                let gap = match last_end {
                    Some(e) if blank => e,
                    _ => start,
                };
                (last_end, blank) = (Some(end), true);
                let place = (gap, start, end);
                if let Some(a) = addr {
                    idx.hosts.push((a, hash, place));
                }
            }
        }
    }
    // Sorted here, on the thread that indexed the file: pairing two files is then a merge.
    idx.hosts
        .sort_unstable_by(|p, q| p.0.cmp(&q.0).then(p.2 .1.cmp(&q.2 .1)));
    Ok(Some(idx))
}

/// Pass 2: the file again, without the `<host>` elements `omit` names (by place, as
/// [`index_hosts`] found them: give it the same bytes). They are skipped with a seek, never
/// read: this pass reads what changed, and the file's header and end.
pub struct OmitHosts<R> {
    r: R,
    omit: Vec<(u64, u64)>,
    next: usize,
    /// Where in the stream `r` is.
    pos: u64,
}

impl<R: Read + Seek> OmitHosts<R> {
    pub fn new(r: R, omit: Omit) -> Self {
        OmitHosts {
            r,
            omit: omit.places,
            next: 0,
            pos: 0,
        }
    }
}

impl<R: Read + Seek> Read for OmitHosts<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut want = out.len();
        while let Some(&(start, end)) = self.omit.get(self.next) {
            if self.pos < start {
                want = want.min(usize::try_from(start - self.pos).unwrap_or(usize::MAX));
                break;
            }
            // At (or, in a file that changed since, past) an element to leave out.
            self.pos = self.r.seek(SeekFrom::Start(end.max(self.pos)))?;
            self.next += 1;
        }
        let n = self.r.read(&mut out[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &[u8], chunk: usize) -> Vec<(Kind, Vec<u8>)> {
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Splitter::new(Slow(text, chunk));
        let mut out: Vec<(Kind, Vec<u8>)> = Vec::new();
        while let Some((k, r)) = s.next().unwrap() {
            match out.last_mut() {
                Some((lk, b)) if *lk == Kind::Other && k == Kind::Other => {
                    b.extend_from_slice(&s.buf[r])
                }
                _ => out.push((k, s.buf[r].to_vec())),
            }
        }
        out
    }

    #[test]
    fn splits_hosts_whatever_the_reads() {
        let text = b"<nmaprun><hosthint><address addr=\"1.2.3.4\"/></hosthint>\n\
            <host starttime=\"1\"><address addr=\"1.2.3.4\" addrtype=\"ipv4\"/></host >\n\
            <host><hostnames/></host>\n<runstats/></nmaprun>";
        for chunk in [1, 2, 3, 5, 7, 64, 1 << 20] {
            let p = pieces(text, chunk);
            let kinds: Vec<Kind> = p.iter().map(|x| x.0).collect();
            assert_eq!(
                kinds,
                vec![
                    Kind::Other,
                    Kind::Host,
                    Kind::Other,
                    Kind::Host,
                    Kind::Other
                ],
                "reads of {chunk}"
            );
            assert!(p[1].1.starts_with(b"<host starttime"));
            assert!(p[1].1.ends_with(b"</host >"));
            assert_eq!(p[3].1, b"<host><hostnames/></host>");
            let all: Vec<u8> = p.into_iter().flat_map(|x| x.1).collect();
            assert_eq!(all, text.to_vec());
        }
    }

    proptest::proptest! {
        /// The eight-bytes-at-a-time end of a tag is the quote-aware walk's, whenever it
        /// gives one (over bytes drawn mostly from the markup characters).
        #[test]
        fn the_fast_tag_end_is_the_quote_aware_one(
            bytes in proptest::collection::vec(proptest::sample::select(b"<>\"' a=/x".to_vec()), 0..40),
            from in 0usize..8,
        ) {
            let from = from.min(bytes.len());
            if let Some(end) = tag_end(&bytes, from) {
                proptest::prop_assert_eq!(tag_end_quoted(&bytes, from).ok(), Some(end));
            }
        }
    }

    #[test]
    fn tag_ends_found_eight_bytes_at_a_time() {
        let b = br#" name="ssh" product="OpenSSH" version="9.2p1"/><cpe>"#;
        let end = b.iter().position(|&c| c == b'>').unwrap() + 1;
        assert_eq!(tag_end(b, 0), Some(end));
        // A `>` inside a value, a `'`, a `<`: the quote-aware walk decides.
        assert_eq!(tag_end(br#" a="x>y" b="1">"#, 0), None);
        assert_eq!(tag_end_quoted(br#" a="x>y" b="1">"#, 0).ok(), Some(15));
        assert_eq!(tag_end(b" a='1'>", 0), None);
        assert!(tag_end_quoted(br#" a="<b">"#, 0).is_err());
        assert_eq!(tag_end(b" a=\"1\">", 0), Some(7));
        assert_eq!(tag_end(b" a=\"1\"", 0), None, "no end");
    }

    #[test]
    fn volatile_attributes_do_not_change_the_hash() {
        let rs = RandomState::new();
        let a = b"<host starttime=\"1\" endtime=\"2\"><address addr=\"10.0.0.1\" addrtype=\"ipv4\"/><times srtt=\"5\"/></host>";
        let b = b"<host starttime=\"9\" endtime=\"10\"><address addr=\"10.0.0.1\" addrtype=\"ipv4\"/><times srtt=\"7\"/></host>";
        let c = b"<host starttime=\"9\" endtime=\"10\"><address addr=\"10.0.0.1\" addrtype=\"ipv4\"/></host>";
        let (ka, ha) = lex_host(a, &rs).ok().unwrap();
        let (kb, hb) = lex_host(b, &rs).ok().unwrap();
        let (_, hc) = lex_host(c, &rs).ok().unwrap();
        assert_eq!(ka, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ka, kb);
        assert_eq!(ha, hb);
        assert_ne!(ha, hc, "a <times> element that went is a difference");
    }

    #[test]
    fn markup_that_hides_hosts_is_not_split() {
        let rs = RandomState::new();
        for text in [
            &b"<nmaprun><!-- <host><address addr=\"1.1.1.1\" addrtype=\"ipv4\"/></host> --></nmaprun>"[..],
            b"<nmaprun args=\"<host></host>\"></nmaprun>",
            b"<nmaprun><?pi <host></host> ?></nmaprun>",
            b"<nmaprun><![CDATA[<host></host>]]></nmaprun>",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><nmaprun></nmaprun>",
            b"<nmaprun><host><port x=\"</host>\"/></host></nmaprun>",
            b"<nmaprun><host><host></host></host></nmaprun>",
            b"<nmaprun><host><!-- x --></host></nmaprun>",
        ] {
            assert!(
                index_hosts(text, &rs).unwrap().is_none(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let plain = b"<?xml version=\"1.0\"?><!DOCTYPE nmaprun><?xml-stylesheet href=\"a\"?>\
            <!-- nmap --><nmaprun><host><address addr=\"1.1.1.1\" addrtype=\"ipv4\"/></host></nmaprun>";
        let idx = index_hosts(&plain[..], &rs).unwrap().unwrap();
        assert_eq!(idx.elements, 1);
    }
}
