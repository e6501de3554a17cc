//! Live capture on Linux: an AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring and
//! an optional classic BPF filter.
//!
//! The kernel fills 1 MiB blocks of the ring with packets and hands a block over when it is full
//! or after 100 ms; we walk the packets of each block in place (no copy, no system call per
//! packet) and give the block back. A named interface is opened `SOCK_RAW` (link-layer frames:
//! Ethernet, loopback, or raw IP for tunnels); `any` is opened `SOCK_DGRAM` (network-layer
//! packets from every interface).
//!
//! Filters are classic BPF programs: [`compile_filter`] runs `tcpdump -ddd` on a tcpdump
//! expression, or reads a file of `tcpdump -dd` / `-ddd` output.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{CaptureError, RawPacket};
use crate::decode::linktype;

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Parse `tcpdump -dd` (`{ 0x28, 0, 0, 0x0000000c },`) or `tcpdump -ddd` (a count, then
/// `40 0 0 12` lines) output.
pub fn parse_bpf(text: &str) -> Result<Vec<BpfInsn>, CaptureError> {
    let bad = |l: &str| {
        CaptureError::Live(format!(
            "BPF program line {l:?} is not tcpdump -dd or -ddd output"
        ))
    };
    let mut prog = Vec::new();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let ddd = lines
        .first()
        .is_some_and(|l| l.split_whitespace().count() == 1);
    for (n, l) in lines.iter().enumerate() {
        if ddd && n == 0 {
            continue;
        }
        let cleaned = l
            .trim_start_matches('{')
            .trim_end_matches(',')
            .trim_end_matches('}');
        let parts: Vec<&str> = if ddd {
            l.split_whitespace().collect()
        } else {
            cleaned
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        };
        if parts.len() != 4 {
            return Err(bad(l));
        }
        let num = |s: &str| -> Result<u64, CaptureError> {
            let r = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse::<u64>(),
            };
            r.map_err(|_| bad(l))
        };
        prog.push(BpfInsn {
            code: u16::try_from(num(parts[0])?).map_err(|_| bad(l))?,
            jt: u8::try_from(num(parts[1])?).map_err(|_| bad(l))?,
            jf: u8::try_from(num(parts[2])?).map_err(|_| bad(l))?,
            k: u32::try_from(num(parts[3])?).map_err(|_| bad(l))?,
        });
    }
    if ddd {
        let declared: usize = lines
            .first()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| bad(lines.first().copied().unwrap_or("")))?;
        if declared != prog.len() {
            return Err(CaptureError::Live(format!(
                "BPF program says {declared} instructions but has {}",
                prog.len()
            )));
        }
    }
    if prog.is_empty() || prog.len() > 4096 {
        return Err(CaptureError::Live(
            "a BPF program has 1 to 4096 instructions".into(),
        ));
    }
    Ok(prog)
}

/// Compile a filter for `ifname`: `@FILE` reads `tcpdump -dd`/`-ddd` output, anything else is a
/// tcpdump expression compiled by running `tcpdump -ddd` for the interface's link type.
pub fn compile_filter(filter: &str, ifname: &str) -> Result<Vec<BpfInsn>, CaptureError> {
    if let Some(path) = filter.strip_prefix('@') {
        let text = super::read_text_capped(std::path::Path::new(path), super::MAX_FILTER_FILE)
            .map_err(|e| CaptureError::Live(format!("--filter @FILE: {e}")))?;
        return parse_bpf(&text);
    }
    let dlt = match link_of(ifname)? {
        (linktype::ETHERNET, _) => "EN10MB",
        _ => "RAW",
    };
    let out = std::process::Command::new("tcpdump")
        .args(["-y", dlt, "-ddd", "--", filter])
        .output()
        .map_err(|e| {
            CaptureError::Live(format!(
                "cannot run tcpdump to compile the filter ({e}); install tcpdump or pass @FILE with `tcpdump -dd` output"
            ))
        })?;
    if !out.status.success() {
        return Err(CaptureError::Live(format!(
            "tcpdump rejected the filter {filter:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_bpf(&String::from_utf8_lossy(&out.stdout))
}

/// The link type frames of `ifname` will have, and whether to open it `SOCK_DGRAM`.
pub fn link_of(ifname: &str) -> Result<(u32, bool), CaptureError> {
    if ifname == "any" {
        return Ok((linktype::RAW, true));
    }
    if ifname.is_empty() || ifname.contains('/') || ifname.len() > 15 {
        return Err(CaptureError::Live(format!(
            "{ifname:?} is not an interface name"
        )));
    }
    let ty = std::fs::read_to_string(format!("/sys/class/net/{ifname}/type")).map_err(|_| {
        CaptureError::Live(format!(
            "no interface {ifname:?} (see `ip link`; use \"any\" for all interfaces)"
        ))
    })?;
    match ty.trim() {
        // ARPHRD_ETHER, ARPHRD_LOOPBACK (Linux loopback frames carry a zero Ethernet header)
        "1" | "772" => Ok((linktype::ETHERNET, false)),
        // ARPHRD_NONE (tun, wireguard), ARPHRD_SIT, ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_IPGRE
        "65534" | "776" | "768" | "769" | "778" => Ok((linktype::RAW, true)),
        other => Err(CaptureError::Live(format!(
            "interface {ifname} has hardware type {other}, which is not supported; try --interface any"
        ))),
    }
}

/// When a live capture stops (besides the caller's stop flag).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveLimits {
    /// After this many packets.
    pub count: Option<u64>,
    /// At this instant.
    pub deadline: Option<std::time::Instant>,
}

/// Feed `det` from `cap` until `stop` is set, or a limit is reached, handing every batch of
/// alerts to `on_alerts` as soon as they are raised; then settle what is pending
/// ([`crate::detect::Detector::finish`]) and hand over the last alerts.
///
/// The library installs no signal handler: the caller owns `stop` and decides what sets it
/// (the `portolan` binary registers SIGINT and SIGTERM onto it). The flag is checked at least
/// every 100 ms.
#[cfg(target_os = "linux")]
pub fn watch<E>(
    cap: &mut LiveCapture,
    det: &mut crate::detect::Detector,
    stop: &AtomicBool,
    limits: LiveLimits,
    mut on_alerts: impl FnMut(Vec<crate::alert::Alert>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<CaptureError>,
{
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if limits
            .deadline
            .is_some_and(|dl| std::time::Instant::now() >= dl)
            || limits.count.is_some_and(|c| n >= c)
        {
            break;
        }
        let got = cap.poll_batch(100, |p| {
            n += 1;
            det.process_raw(p);
        })?;
        if got == 0 {
            det.tick(now_ns());
        } else {
            // process what the batch holds now: live alerts should not wait for more traffic
            det.flush();
        }
        if det.has_alerts() {
            on_alerts(det.take_alerts())?;
        }
    }
    det.finish();
    on_alerts(det.take_alerts())
}

/// Wall-clock time in nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
pub use imp::LiveCapture;

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::{fence, Ordering};

    use super::{link_of, BpfInsn, CaptureError, RawPacket};
    use crate::decode::linktype;

    const BLOCK_SIZE: u32 = 1 << 20;
    const BLOCK_NR: u32 = 32;
    const FRAME_SIZE: u32 = 2048;
    const RETIRE_TOV_MS: u32 = 100;
    const TP_STATUS_KERNEL: u32 = 0;
    const TP_STATUS_USER: u32 = 1;
    const TPACKET_V3: libc::c_int = 2;
    const PACKET_VERSION: libc::c_int = 10;
    const PACKET_RX_RING: libc::c_int = 5;
    const PACKET_STATISTICS: libc::c_int = 6;
    const ETH_P_ALL: u16 = 0x0003;
    /// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): where struct sockaddr_ll follows.
    const HDR3_ALIGNED: usize = 48;

    #[repr(C)]
    struct TpacketReq3 {
        block_size: u32,
        block_nr: u32,
        frame_size: u32,
        frame_nr: u32,
        retire_blk_tov: u32,
        sizeof_priv: u32,
        feature_req_word: u32,
    }

    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const BpfInsn,
    }

    #[repr(C)]
    #[derive(Default)]
    struct StatsV3 {
        packets: u32,
        drops: u32,
        freeze_q_cnt: u32,
    }

    /// An open AF_PACKET socket with its mapped ring.
    pub struct LiveCapture {
        fd: libc::c_int,
        ring: *mut u8,
        ring_len: usize,
        block: u32,
        dgram: bool,
        linktype: u32,
        packets: u64,
        drops: u64,
    }

    // SAFETY: the ring is owned by this value alone; nothing else maps it.
    unsafe impl Send for LiveCapture {}

    fn os_err(what: &str) -> CaptureError {
        let e = std::io::Error::last_os_error();
        let hint = if e.raw_os_error() == Some(libc::EPERM) {
            " (live capture needs root or CAP_NET_RAW)"
        } else {
            ""
        };
        CaptureError::Live(format!("{what}: {e}{hint}"))
    }

    fn rd_u32(p: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
    }
    fn rd_u16(p: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([p[at], p[at + 1]])
    }

    impl LiveCapture {
        /// Open `ifname` ("any" for every interface) with an optional BPF filter.
        pub fn open(ifname: &str, filter: Option<&[BpfInsn]>) -> Result<LiveCapture, CaptureError> {
            Self::open_with_delay(ifname, filter, RETIRE_TOV_MS)
        }

        /// [`LiveCapture::open`], with the kernel handing a partly filled block over after
        /// `max_delay_ms` (at least 1) instead of 100 ms: packets reach the detector within a
        /// few milliseconds (an IPS that bans at once), at the cost of more wake-ups.
        pub fn open_with_delay(
            ifname: &str,
            filter: Option<&[BpfInsn]>,
            max_delay_ms: u32,
        ) -> Result<LiveCapture, CaptureError> {
            let (lt, dgram) = link_of(ifname)?;
            let ifindex = if ifname == "any" {
                0
            } else {
                let c = std::ffi::CString::new(ifname)
                    .map_err(|_| CaptureError::Live("bad interface name".into()))?;
                // SAFETY: c is a valid NUL-terminated string.
                let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
                if i == 0 {
                    return Err(os_err(&format!("interface {ifname}")));
                }
                i as libc::c_int
            };
            let ty = if dgram {
                libc::SOCK_DGRAM
            } else {
                libc::SOCK_RAW
            };
            // Protocol 0: receive nothing until bind(), after the filter is in place.
            // SAFETY: plain system call.
            let fd = unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(os_err("socket(AF_PACKET)"));
            }
            let mut cap = LiveCapture {
                fd,
                ring: std::ptr::null_mut(),
                ring_len: 0,
                block: 0,
                dgram,
                linktype: lt,
                packets: 0,
                drops: 0,
            };
            let v: libc::c_int = TPACKET_V3;
            cap.setsockopt(
                libc::SOL_PACKET,
                PACKET_VERSION,
                &v,
                "PACKET_VERSION TPACKET_V3",
            )?;
            let req = TpacketReq3 {
                block_size: BLOCK_SIZE,
                block_nr: BLOCK_NR,
                frame_size: FRAME_SIZE,
                frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCK_NR,
                retire_blk_tov: max_delay_ms.max(1),
                sizeof_priv: 0,
                feature_req_word: 0,
            };
            cap.setsockopt(libc::SOL_PACKET, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
            let len = (BLOCK_SIZE * BLOCK_NR) as usize;
            // SAFETY: mapping the ring the kernel just allocated for this socket.
            let ring = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_LOCKED,
                    fd,
                    0,
                )
            };
            let ring = if ring == libc::MAP_FAILED {
                // MAP_LOCKED can fail under a low RLIMIT_MEMLOCK; retry without it.
                // SAFETY: as above.
                let r = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    )
                };
                if r == libc::MAP_FAILED {
                    return Err(os_err("mmap of the packet ring"));
                }
                r
            } else {
                ring
            };
            cap.ring = ring.cast();
            cap.ring_len = len;
            if let Some(prog) = filter {
                let fprog = SockFprog {
                    len: u16::try_from(prog.len())
                        .map_err(|_| CaptureError::Live("BPF program too long".into()))?,
                    filter: prog.as_ptr(),
                };
                cap.setsockopt(
                    libc::SOL_SOCKET,
                    libc::SO_ATTACH_FILTER,
                    &fprog,
                    "SO_ATTACH_FILTER",
                )?;
            }
            // SAFETY: zeroed sockaddr_ll is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ALL.to_be();
            sll.sll_ifindex = ifindex;
            // SAFETY: sll is a valid sockaddr_ll of the given size.
            let r = unsafe {
                libc::bind(
                    fd,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(os_err(&format!("bind to {ifname}")));
            }
            Ok(cap)
        }

        fn setsockopt<T>(
            &self,
            level: libc::c_int,
            name: libc::c_int,
            v: &T,
            what: &str,
        ) -> Result<(), CaptureError> {
            // SAFETY: v points to a live value of the size given.
            let r = unsafe {
                libc::setsockopt(
                    self.fd,
                    level,
                    name,
                    (v as *const T).cast(),
                    std::mem::size_of::<T>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(os_err(what));
            }
            Ok(())
        }

        /// The link type of the frames (for a `SOCK_DGRAM` socket, per packet: raw IPv4/IPv6).
        pub fn linktype(&self) -> u32 {
            self.linktype
        }

        /// (packets received, packets dropped) by the kernel so far.
        pub fn stats(&mut self) -> (u64, u64) {
            let mut st = StatsV3::default();
            let mut len = std::mem::size_of::<StatsV3>() as libc::socklen_t;
            // SAFETY: st is a valid buffer of len bytes.
            let r = unsafe {
                libc::getsockopt(
                    self.fd,
                    libc::SOL_PACKET,
                    PACKET_STATISTICS,
                    (&mut st as *mut StatsV3).cast(),
                    &mut len,
                )
            };
            if r == 0 {
                self.packets += u64::from(st.packets);
                self.drops += u64::from(st.drops);
            }
            (self.packets, self.drops)
        }

        fn block_bytes(&self, b: u32) -> &[u8] {
            // SAFETY: the ring is BLOCK_NR blocks of BLOCK_SIZE bytes, mapped for our lifetime.
            unsafe {
                std::slice::from_raw_parts(
                    self.ring.add((b * BLOCK_SIZE) as usize),
                    BLOCK_SIZE as usize,
                )
            }
        }

        fn block_status(&self, b: u32) -> u32 {
            // SAFETY: offset 8 (block_status) lies inside the block; the kernel writes it.
            let s = unsafe {
                std::ptr::read_volatile(self.ring.add((b * BLOCK_SIZE) as usize + 8).cast::<u32>())
            };
            fence(Ordering::Acquire);
            s
        }

        fn release_block(&self, b: u32) {
            fence(Ordering::Release);
            // SAFETY: as in block_status.
            unsafe {
                std::ptr::write_volatile(
                    self.ring.add((b * BLOCK_SIZE) as usize + 8).cast::<u32>(),
                    TP_STATUS_KERNEL,
                )
            };
        }

        /// Wait up to `timeout_ms` for packets and hand every packet of every ready block to
        /// `f`. Returns the number of packets handled (0 on timeout or a signal).
        pub fn poll_batch(
            &mut self,
            timeout_ms: i32,
            mut f: impl FnMut(&RawPacket<'_>),
        ) -> Result<u64, CaptureError> {
            if self.block_status(self.block) & TP_STATUS_USER == 0 {
                let mut pfd = libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN | libc::POLLERR,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        return Ok(0);
                    }
                    return Err(CaptureError::Live(format!("poll: {e}")));
                }
            }
            let mut n = 0u64;
            while self.block_status(self.block) & TP_STATUS_USER != 0 {
                let b = self.block_bytes(self.block);
                let num = rd_u32(b, 12);
                let mut off = rd_u32(b, 16) as usize;
                for _ in 0..num {
                    if off == 0 || off + HDR3_ALIGNED + 20 > b.len() {
                        break;
                    }
                    let h = &b[off..];
                    let next = rd_u32(h, 0) as usize;
                    let sec = rd_u32(h, 4);
                    let nsec = rd_u32(h, 8);
                    let snaplen = rd_u32(h, 12) as usize;
                    let len = rd_u32(h, 16);
                    let mac = usize::from(rd_u16(h, 24));
                    let net = usize::from(rd_u16(h, 26));
                    let start = if self.dgram { net } else { mac };
                    if start + snaplen <= h.len() {
                        let lt = if self.dgram {
                            // struct sockaddr_ll follows the header: sll_protocol at +2
                            match u16::from_be_bytes([h[HDR3_ALIGNED + 2], h[HDR3_ALIGNED + 3]]) {
                                0x0800 => linktype::IPV4,
                                0x86dd => linktype::IPV6,
                                _ => 0xffff_ffff,
                            }
                        } else {
                            self.linktype
                        };
                        if lt != 0xffff_ffff {
                            f(&RawPacket {
                                ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
                                linktype: lt,
                                interface: 0,
                                orig_len: len,
                                data: &h[start..start + snaplen],
                            });
                        }
                        n += 1;
                    }
                    if next == 0 {
                        break;
                    }
                    off += next;
                }
                self.release_block(self.block);
                self.block = (self.block + 1) % BLOCK_NR;
            }
            Ok(n)
        }
    }

    impl Drop for LiveCapture {
        fn drop(&mut self) {
            // SAFETY: unmapping what we mapped, closing what we opened.
            unsafe {
                if !self.ring.is_null() {
                    libc::munmap(self.ring.cast(), self.ring_len);
                }
                libc::close(self.fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dd_and_ddd() {
        let dd = "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n";
        let ddd = "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n";
        let a = parse_bpf(dd).unwrap();
        let b = parse_bpf(ddd).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a[1],
            BpfInsn {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: 0x800
            }
        );
        assert!(parse_bpf("3\n40 0 0 12\n").is_err());
        assert!(parse_bpf("hello world").is_err());
        assert!(parse_bpf("").is_err());
    }
}
