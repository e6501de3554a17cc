//! Raw packet I/O for the SYN and UDP scans (Linux).
//!
//! - **Send**: one raw IP socket per family (`SOCK_RAW`, `IPPROTO_RAW`: the header is ours). The
//!   kernel routes each packet and resolves the next hop's link address, so the scanner needs no
//!   route or neighbour table of its own and works on every link type (Ethernet, veth, loopback,
//!   tunnels). `--interface` pins the socket to a device (`SO_BINDTODEVICE`).
//! - **Receive**: one `AF_PACKET`/`SOCK_DGRAM` socket for all protocols, which hands over IP
//!   packets from the network layer on, whatever the link, before the kernel's TCP stack sees
//!   them. Our own outgoing packets (`PACKET_OUTGOING`) are skipped.
//! - **Source address**: the kernel's choice for the destination, learnt by `connect()`ing a UDP
//!   socket (no packet is sent) and reading its local address; `--source-ip` overrides.
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

/// Sends complete IP packets.
pub struct Sender {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
}

impl Sender {
    /// Open the sockets for the families that will be used.
    pub fn open(v4: bool, v6: bool, interface: Option<&str>) -> Result<Sender, RawError> {
        let mk = |domain| -> Result<OwnedFd, RawError> {
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
        };
        Ok(Sender {
            v4: if v4 { Some(mk(libc::AF_INET)?) } else { None },
            v6: if v6 { Some(mk(libc::AF_INET6)?) } else { None },
        })
    }

    /// Send a batch of packets of one family with one `sendmmsg(2)` call. Returns how many the
    /// kernel took (the rest: queue full, try again later), or the error of the first packet
    /// when it took none.
    pub fn send_batch(&self, v6: bool, items: &[(IpAddr, &[u8])]) -> io::Result<usize> {
        const MAX: usize = 64;
        let items = &items[..items.len().min(MAX)];
        if items.is_empty() {
            return Ok(0);
        }
        let fd = if v6 {
            self.v6.as_ref()
        } else {
            self.v4.as_ref()
        }
        .ok_or_else(|| io::Error::other("no raw socket for this address family"))?;
        // SAFETY: zeroed sockaddr_in6/iovec/mmsghdr are valid values; filled below.
        let mut addrs: [libc::sockaddr_in6; MAX] = unsafe { mem::zeroed() };
        let mut iovs: [libc::iovec; MAX] = unsafe { mem::zeroed() };
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
        let r = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                items.len() as libc::c_uint,
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

    /// Send one packet to `dst`. `Ok(false)` when the kernel's queue is full (try again later).
    pub fn send(&self, dst: IpAddr, packet: &[u8]) -> io::Result<bool> {
        let r = match dst {
            IpAddr::V4(a) => {
                let fd = self
                    .v4
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no IPv4 raw socket"))?;
                // SAFETY: zeroed sockaddr_in is a valid value; fields set below.
                let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
                // SAFETY: buffer and address are valid for the given lengths.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        packet.as_ptr().cast(),
                        packet.len(),
                        libc::MSG_DONTWAIT,
                        (&sa as *const libc::sockaddr_in).cast(),
                        mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    )
                }
            }
            IpAddr::V6(a) => {
                let fd = self
                    .v6
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no IPv6 raw socket"))?;
                // SAFETY: zeroed sockaddr_in6 is a valid value; fields set below.
                let mut sa: libc::sockaddr_in6 = unsafe { mem::zeroed() };
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_addr.s6_addr = a.octets();
                // SAFETY: buffer and address are valid for the given lengths.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        packet.as_ptr().cast(),
                        packet.len(),
                        libc::MSG_DONTWAIT,
                        (&sa as *const libc::sockaddr_in6).cast(),
                        mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    )
                }
            }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(false),
                _ => Err(e),
            }
        } else {
            Ok(true)
        }
    }
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
