//! Raw packet I/O for the SYN and UDP scans (Linux).
//!
//! - **Send**: one raw IP socket per family (`SOCK_RAW`, `IPPROTO_RAW`: the header is ours). The
//!   kernel routes each packet and resolves the next hop's link address, so the scanner needs no
//!   route or neighbour table of its own and works on every link type (Ethernet, veth, loopback,
//!   tunnels). `--interface` pins the socket to a device (`SO_BINDTODEVICE`).
//! - **Receive**: one `AF_PACKET`/`SOCK_DGRAM` socket for all protocols, which hands over IP
//!   packets from the network layer on, whatever the link, before the kernel's TCP stack sees
//!   them. Our own outgoing packets (`PACKET_OUTGOING`) are skipped.
//! - **Send through the link** (`--send-via link`, `--router-mac`): [`PacketSender`], an
//!   `AF_PACKET`/`SOCK_RAW` socket bound to the route's interface with `PACKET_QDISC_BYPASS`,
//!   puts a 14-byte Ethernet header (next-hop MAC, interface MAC, EtherType) before each IP
//!   packet: no per-packet routing, neighbour lookup, netfilter or qdisc. Ethernet-type links
//!   only (Ethernet, veth, bridges); [`Sender`] wraps either kind behind one `send_batch`.
//! - **Source address**: the preferred source of the kernel's route ([`crate::netlink`]),
//!   else learnt by `connect()`ing a UDP socket (no packet is sent) and reading its local
//!   address; `--source-ip` overrides.
//!
//! Opening the sockets needs `CAP_NET_RAW`; [`RawError::Permission`] says so, and the caller
//! falls back to a connect scan.

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Errors opening or using raw sockets.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("raw sockets need root or CAP_NET_RAW ({0}); run as root, grant the capability (setcap cap_net_raw+ep), or use a connect scan")]
    Permission(io::Error),
    #[error("cannot open a raw socket: {0}")]
    Socket(io::Error),
    #[error("interface {name:?}: {err}")]
    Interface { name: String, err: io::Error },
    #[error("no route to {0}: cannot pick a source address (pass --source-ip)")]
    NoRoute(IpAddr),
    #[error("route to {dst}: {err}")]
    Route {
        dst: IpAddr,
        err: crate::netlink::NetlinkError,
    },
    #[error(
        "the next hop {ip} on {ifname} has no usable entry in the kernel's neighbour table, so its \
         MAC is unknown (portolan sends nothing to learn it): ping it first (ping -c1 {ip}), pass \
         its MAC with --router-mac, or use --send-via ip{}",
        if *on_link { "; the target is on the link itself, and --send-via link sends every probe to one next hop, so scan on-link subnets with --send-via ip" } else { "" }
    )]
    NoNeighbour {
        ip: IpAddr,
        ifname: String,
        on_link: bool,
    },
    #[error("{0} does not route through the link-layer sender's interface and next hop")]
    OffPath(IpAddr),
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn open(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> Result<OwnedFd, RawError> {
    // SAFETY: socket(2) with constant arguments; the returned descriptor is owned below.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => RawError::Permission(e),
            _ => RawError::Socket(e),
        });
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live T of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn bind_device(fd: &OwnedFd, ifname: &str) -> Result<(), RawError> {
    let name = ifname.as_bytes();
    // SAFETY: the pointer and length describe `name`.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    cvt(r).map(|_| ()).map_err(|err| RawError::Interface {
        name: ifname.to_string(),
        err,
    })
}

/// Whether this process can open raw sockets.
pub fn can_open_raw() -> bool {
    open(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW).is_ok()
}

/// The source address the kernel would use to reach `dst` (no packet is sent).
pub fn source_for(dst: IpAddr) -> Result<IpAddr, RawError> {
    let bind: SocketAddr = match dst {
        IpAddr::V4(_) => "0.0.0.0:0".parse().map_err(|_| RawError::NoRoute(dst))?,
        IpAddr::V6(_) => "[::]:0".parse().map_err(|_| RawError::NoRoute(dst))?,
    };
    let s = UdpSocket::bind(bind).map_err(|_| RawError::NoRoute(dst))?;
    s.connect(SocketAddr::new(dst, 9))
        .map_err(|_| RawError::NoRoute(dst))?;
    let local = s.local_addr().map_err(|_| RawError::NoRoute(dst))?;
    Ok(local.ip())
}

/// How one address family's probes leave the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// The IP raw socket: the kernel routes each packet and resolves the next hop's link
    /// address; `interface` pins the socket to a device.
    Ip { interface: Option<String> },
    /// `AF_PACKET` frames on one Ethernet-type interface to one next-hop MAC.
    Link(LinkPath),
}

/// Where link-layer sending puts frames: the interface and both ends of the Ethernet header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkPath {
    pub ifindex: u32,
    pub ifname: String,
    /// The interface's own MAC (Ethernet source).
    pub src_mac: [u8; 6],
    /// The next hop's MAC (Ethernet destination): the router, or the target when on-link.
    pub dst_mac: [u8; 6],
    /// Largest IP packet the link takes.
    pub mtu: u32,
}

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;

/// The 14-byte Ethernet header of every frame of one family: destination, source, EtherType
/// (0x0800 IPv4, 0x86dd IPv6).
pub fn eth_header(dst: [u8; 6], src: [u8; 6], v6: bool) -> [u8; ETH_HLEN] {
    let mut h = [0u8; ETH_HLEN];
    h[..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&src);
    let ty = if v6 { ETH_P_IPV6 } else { ETH_P_IP };
    h[12..].copy_from_slice(&ty.to_be_bytes());
    h
}

/// Parse a MAC address: six hex pairs separated by `:` or `-` (`02:00:5e:10:00:01`,
/// `02-00-5E-10-00-01`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || {
        format!(
            "invalid MAC address {s:?}: expected six hex byte pairs separated by ':' or '-', \
             e.g. 02:00:5e:10:00:01"
        )
    };
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.trim().split(sep) {
        if n == 6 || part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        out[n] = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        n += 1;
    }
    if n != 6 {
        return Err(bad());
    }
    Ok(out)
}

/// Format a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Sends IP packets of one family as Ethernet frames through an `AF_PACKET`/`SOCK_RAW` socket
/// bound to one interface, past the queueing discipline (`PACKET_QDISC_BYPASS`): no routing,
/// no neighbour lookup, no netfilter, no qdisc per packet. The Ethernet header is the same for
/// every frame of the family, so each frame goes out as two pieces (`iovec`s: header, packet)
/// and nothing is copied or allocated per packet on our side.
pub struct PacketSender {
    fd: OwnedFd,
    hdr: [u8; ETH_HLEN],
    sll: libc::sockaddr_ll,
    mtu: usize,
}

const PACKET_QDISC_BYPASS: libc::c_int = 20;

impl PacketSender {
    /// Open a sender for one family on `path`'s interface.
    pub fn open(path: &LinkPath, v6: bool) -> Result<PacketSender, RawError> {
        // Protocol 0: this socket receives nothing (the receiver has its own).
        let fd = open(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        let iface = |err| RawError::Interface {
            name: path.ifname.clone(),
            err,
        };
        // SAFETY: a zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = i32::try_from(path.ifindex)
            .map_err(|_| iface(io::Error::other("interface index out of range")))?;
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map_err(iface)?;
        let one: libc::c_int = 1;
        // Linux 3.14+; without it frames still go out, through the qdisc.
        let _ = setsockopt(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, &one);
        let big: libc::c_int = 8 << 20;
        let _ = setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &big);
        // Each frame names its EtherType (the socket was opened with protocol 0).
        sll.sll_protocol = if v6 { ETH_P_IPV6 } else { ETH_P_IP }.to_be();
        Ok(PacketSender {
            fd,
            hdr: eth_header(path.dst_mac, path.src_mac, v6),
            sll,
            mtu: path.mtu as usize,
        })
    }

    /// The Ethernet header put before every packet.
    pub fn header(&self) -> &[u8; ETH_HLEN] {
        &self.hdr
    }

    /// Send up to 64 IP packets as frames with one `sendmmsg(2)` call; same contract as
    /// [`Sender::send_batch`]. A packet larger than the link's MTU is refused (`EMSGSIZE`).
    pub fn send_batch(&self, items: &[(IpAddr, &[u8])]) -> io::Result<usize> {
        const MAX: usize = 64;
        let items = &items[..items.len().min(MAX)];
        if items.is_empty() {
            return Ok(0);
        }
        if items[0].1.len() > self.mtu {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        // Stop before the first oversized packet: the kernel takes what comes before it.
        let n = items
            .iter()
            .position(|(_, p)| p.len() > self.mtu)
            .unwrap_or(items.len());
        // SAFETY: zeroed iovec/mmsghdr are valid values; filled below.
        let mut iovs: [[libc::iovec; 2]; MAX] = unsafe { mem::zeroed() };
        // SAFETY: as above, all-zero mmsghdrs are valid (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; MAX] = unsafe { mem::zeroed() };
        for (i, (_, pkt)) in items[..n].iter().enumerate() {
            // The kernel only reads through these pointers (a send).
            iovs[i][0].iov_base = self.hdr.as_ptr() as *mut libc::c_void;
            iovs[i][0].iov_len = ETH_HLEN;
            iovs[i][1].iov_base = pkt.as_ptr() as *mut libc::c_void;
            iovs[i][1].iov_len = pkt.len();
            msgs[i].msg_hdr.msg_name = (&self.sll as *const libc::sockaddr_ll) as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = iovs[i].as_mut_ptr();
            msgs[i].msg_hdr.msg_iovlen = 2;
        }
        // SAFETY: msgs[..n] point to live iovecs, the socket address and the packet buffers.
        unsafe { sendmmsg_nonblocking(&self.fd, &mut msgs[..n]) }
    }
}

/// `sendmmsg(2)` without blocking: how many messages the kernel took; 0 when its queue is full.
///
/// # Safety
/// Every message must point to live buffers (and addresses) of the lengths it gives.
unsafe fn sendmmsg_nonblocking(fd: &OwnedFd, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    // SAFETY: the caller guarantees the messages; the length is the slice's.
    let r = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            msgs.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(0),
            _ => Err(e),
        };
    }
    Ok(r as usize)
}

/// One family's socket.
enum Out {
    Ip(OwnedFd),
    Packet(PacketSender),
}

/// Sends complete IP packets, per family through the IP raw socket or as Ethernet frames
/// ([`Via`]); the same [`Sender::send_batch`] either way.
pub struct Sender {
    v4: Option<Out>,
    v6: Option<Out>,
}

fn open_ip(domain: libc::c_int, interface: Option<&str>) -> Result<OwnedFd, RawError> {
    let fd = open(domain, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
    if domain == libc::AF_INET6 {
        // IPV6_HDRINCL (Linux 4.5+): the IPv6 header is ours too.
        let one: libc::c_int = 1;
        setsockopt(&fd, libc::IPPROTO_IPV6, 36, &one).map_err(RawError::Socket)?;
    }
    let big: libc::c_int = 8 << 20;
    let _ = setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &big);
    if let Some(i) = interface {
        bind_device(&fd, i)?;
    }
    Ok(fd)
}

impl Sender {
    /// Open IP raw sockets for the families that will be used.
    pub fn open(v4: bool, v6: bool, interface: Option<&str>) -> Result<Sender, RawError> {
        let via = Via::Ip {
            interface: interface.map(str::to_string),
        };
        Sender::open_via(v4.then_some(&via), v6.then_some(&via))
    }

    /// Open one socket per family that will be used, each the way its [`Via`] says.
    pub fn open_via(v4: Option<&Via>, v6: Option<&Via>) -> Result<Sender, RawError> {
        let mk = |via: &Via, is6: bool| -> Result<Out, RawError> {
            Ok(match via {
                Via::Ip { interface } => Out::Ip(open_ip(
                    if is6 { libc::AF_INET6 } else { libc::AF_INET },
                    interface.as_deref(),
                )?),
                Via::Link(path) => Out::Packet(PacketSender::open(path, is6)?),
            })
        };
        Ok(Sender {
            v4: v4.map(|v| mk(v, false)).transpose()?,
            v6: v6.map(|v| mk(v, true)).transpose()?,
        })
    }

    /// Whether this family's packets go out as Ethernet frames.
    pub fn is_link(&self, v6: bool) -> bool {
        matches!(if v6 { &self.v6 } else { &self.v4 }, Some(Out::Packet(_)))
    }

    /// Send a batch of packets of one family with one `sendmmsg(2)` call. Returns how many the
    /// kernel took (the rest: queue full, try again later), or the error of the first packet
    /// when it took none.
    pub fn send_batch(&self, v6: bool, items: &[(IpAddr, &[u8])]) -> io::Result<usize> {
        match if v6 { &self.v6 } else { &self.v4 } {
            Some(Out::Ip(fd)) => ip_send_batch(fd, items),
            Some(Out::Packet(p)) => p.send_batch(items),
            None => Err(io::Error::other("no raw socket for this address family")),
        }
    }

    /// Send one packet to `dst`. `Ok(false)` when the kernel's queue is full (try again later).
    pub fn send(&self, dst: IpAddr, packet: &[u8]) -> io::Result<bool> {
        Ok(self.send_batch(dst.is_ipv6(), &[(dst, packet)])? == 1)
    }
}

/// `sendmmsg(2)` on an IP raw socket, each packet addressed to its destination.
fn ip_send_batch(fd: &OwnedFd, items: &[(IpAddr, &[u8])]) -> io::Result<usize> {
    const MAX: usize = 64;
    let items = &items[..items.len().min(MAX)];
    if items.is_empty() {
        return Ok(0);
    }
    // SAFETY: zeroed sockaddr_in6/iovec/mmsghdr are valid values; filled below.
    let mut addrs: [libc::sockaddr_in6; MAX] = unsafe { mem::zeroed() };
    // SAFETY: all-zero iovecs are valid (null pointer, zero length).
    let mut iovs: [libc::iovec; MAX] = unsafe { mem::zeroed() };
    // SAFETY: all-zero mmsghdrs are valid (null pointers, zero lengths).
    let mut msgs: [libc::mmsghdr; MAX] = unsafe { mem::zeroed() };
    for (i, (dst, pkt)) in items.iter().enumerate() {
        let salen = match dst {
            IpAddr::V4(a) => {
                let sa = (&mut addrs[i] as *mut libc::sockaddr_in6).cast::<libc::sockaddr_in>();
                // SAFETY: sockaddr_in fits inside sockaddr_in6 storage.
                unsafe {
                    (*sa).sin_family = libc::AF_INET as libc::sa_family_t;
                    (*sa).sin_addr.s_addr = u32::from_ne_bytes(a.octets());
                }
                mem::size_of::<libc::sockaddr_in>()
            }
            IpAddr::V6(a) => {
                addrs[i].sin6_family = libc::AF_INET6 as libc::sa_family_t;
                addrs[i].sin6_addr.s6_addr = a.octets();
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        iovs[i].iov_base = pkt.as_ptr() as *mut libc::c_void;
        iovs[i].iov_len = pkt.len();
        msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_in6).cast();
        msgs[i].msg_hdr.msg_namelen = salen as libc::socklen_t;
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: msgs[..n] point to live iovecs, addresses and packet buffers.
    unsafe { sendmmsg_nonblocking(fd, &mut msgs[..items.len()]) }
}

/// Receives IP packets from every interface (or one).
pub struct Receiver {
    fd: OwnedFd,
}

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

impl Receiver {
    /// Open the capture socket. `timeout` bounds each [`Receiver::recv`] so the caller can
    /// check for the end of the scan.
    pub fn open(interface: Option<&str>, timeout: Duration) -> Result<Receiver, RawError> {
        let fd = open(
            libc::AF_PACKET,
            libc::SOCK_DGRAM,
            i32::from(ETH_P_ALL.to_be()),
        )?;
        // Our own probes are not replies: don't even copy them to this socket (Linux 4.20+;
        // older kernels deliver them and `recv` skips them).
        let one: libc::c_int = 1;
        let _ = setsockopt(
            &fd,
            libc::SOL_PACKET,
            23, /* PACKET_IGNORE_OUTGOING */
            &one,
        );
        let big: libc::c_int = 64 << 20;
        // SO_RCVBUFFORCE (root) first, then the ordinary limit.
        if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &big).is_err() {
            let _ = setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &big);
        }
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv).map_err(RawError::Socket)?;
        if let Some(name) = interface {
            let cname = std::ffi::CString::new(name).map_err(|_| RawError::Interface {
                name: name.to_string(),
                err: io::Error::other("interface name contains a NUL byte"),
            })?;
            // SAFETY: cname is a valid NUL-terminated string.
            let idx = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            if idx == 0 {
                return Err(RawError::Interface {
                    name: name.to_string(),
                    err: io::Error::last_os_error(),
                });
            }
            // SAFETY: zeroed sockaddr_ll is valid; fields set below.
            let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ALL.to_be();
            sll.sll_ifindex = idx as i32;
            // SAFETY: sll is a valid sockaddr_ll of the given size.
            cvt(unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            })
            .map_err(|err| RawError::Interface {
                name: name.to_string(),
                err,
            })?;
        }
        Ok(Receiver { fd })
    }

    /// Receive up to `lens.len()` packets with one `recvmmsg(2)` call into `bufs`, cut in slots of
    /// `bufs.len() / lens.len()` bytes (a longer packet is truncated: replies are judged by their
    /// headers). Sets `lens[i]` to the length of each IP packet, 0 for a packet to skip (not IP,
    /// or our own outgoing one); returns how many slots were filled (0 on timeout). Without
    /// `wait` the call never blocks.
    pub fn recv_batch(&self, bufs: &mut [u8], lens: &mut [usize], wait: bool) -> io::Result<usize> {
        const MAX: usize = 64;
        let n = lens.len().min(MAX);
        if n == 0 {
            return Ok(0);
        }
        let slot = bufs.len() / n;
        // SAFETY: zeroed iovec/mmsghdr/sockaddr_ll are valid values; filled below.
        let mut iovs: [libc::iovec; MAX] = unsafe { mem::zeroed() };
        let mut msgs: [libc::mmsghdr; MAX] = unsafe { mem::zeroed() };
        let mut addrs: [libc::sockaddr_ll; MAX] = unsafe { mem::zeroed() };
        for i in 0..n {
            iovs[i].iov_base = bufs[i * slot..].as_mut_ptr().cast();
            iovs[i].iov_len = slot;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_ll).cast();
            msgs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        }
        // SAFETY: msgs[..n] point to live buffers and addresses of the sizes given.
        let r = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                if wait {
                    libc::MSG_WAITFORONE
                } else {
                    libc::MSG_DONTWAIT
                },
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        let got = r as usize;
        for i in 0..got {
            let proto = u16::from_be(addrs[i].sll_protocol);
            lens[i] = if addrs[i].sll_pkttype == libc::PACKET_OUTGOING
                || (proto != ETH_P_IP && proto != ETH_P_IPV6)
            {
                0
            } else {
                (msgs[i].msg_len as usize).min(slot)
            };
        }
        Ok(got)
    }

    /// Receive one IP packet into `buf`: its length, or `None` on timeout / a packet that is not
    /// IP or is our own outgoing one.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: zeroed sockaddr_ll is valid; the kernel fills it.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and sll are valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        if sll.sll_pkttype == libc::PACKET_OUTGOING {
            return Ok(None);
        }
        let proto = u16::from_be(sll.sll_protocol);
        if proto != ETH_P_IP && proto != ETH_P_IPV6 {
            return Ok(None);
        }
        Ok(Some(n as usize))
    }
}

/// Drop every capability once the raw sockets are open: the rest of the scan needs none.
/// Best effort; returns whether it worked.
pub fn drop_privileges() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let d = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a valid v3 header and two data structs, as the ABI requires.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) };
    r == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ethernet_header_layout() {
        let dst = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
        let src = [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];
        let h = eth_header(dst, src, false);
        assert_eq!(&h[..6], &dst);
        assert_eq!(&h[6..12], &src);
        assert_eq!(&h[12..], &[0x08, 0x00]);
        assert_eq!(&eth_header(dst, src, true)[12..], &[0x86, 0xdd]);
    }

    #[test]
    fn frame_is_header_then_packet() {
        // What a PacketSender hands the kernel: its header, then the untouched IP packet.
        let mut pkt = [0u8; 64];
        let n = portolan_wire::build::syn_v4(
            &mut pkt,
            "10.78.0.1".parse().unwrap(),
            "10.78.0.2".parse().unwrap(),
            40000,
            80,
            1,
            portolan_wire::build::IpFields { ttl: 64, ident: 7 },
        )
        .unwrap();
        let hdr = eth_header([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], false);
        let frame: Vec<u8> = hdr.iter().chain(&pkt[..n]).copied().collect();
        assert_eq!(frame.len(), ETH_HLEN + n);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        assert_eq!(
            frame[ETH_HLEN] >> 4,
            4,
            "IPv4 header right after the Ethernet header"
        );
        assert_eq!(&frame[ETH_HLEN + 16..ETH_HLEN + 20], &[10, 78, 0, 2]);
    }

    #[test]
    fn mac_parsing() {
        let want = [0x02, 0x00, 0x5e, 0x10, 0xab, 0xff];
        assert_eq!(parse_mac("02:00:5e:10:ab:ff").unwrap(), want);
        assert_eq!(parse_mac("02-00-5E-10-AB-FF").unwrap(), want);
        assert_eq!(format_mac(&want), "02:00:5e:10:ab:ff");
        for bad in [
            "",
            "02:00:5e:10:ab",
            "02:00:5e:10:ab:ff:00",
            "02:00:5e:10:ab:fg",
            "2:00:5e:10:ab:ff",
            "0200.5e10.abff",
            "02:00-5e:10:ab:ff",
            "02::00:5e:10:ab",
            "+2:00:5e:10:ab:ff",
        ] {
            let e = parse_mac(bad).unwrap_err();
            assert!(e.contains("invalid MAC address"), "{bad}: {e}");
            assert!(e.contains("02:00:5e:10:00:01"), "{e}");
        }
    }
}
