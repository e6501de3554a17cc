//! SMB null session: does the server let anyone in without a name or a password?
//!
//! One connection, written from MS-SMB2 (§2.2: NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CREATE,
//! IOCTL), MS-NLMP (§2.2.1: the NTLM NEGOTIATE, CHALLENGE and anonymous AUTHENTICATE messages,
//! §3.1.5.1.2 for the anonymous form), RFC 4178 (SPNEGO wrapping), C706 and MS-RPCE (DCE/RPC
//! bind and request over a named pipe) and MS-SRVS §3.1.4.8 (`NetrShareEnum`, opnum 15, level 1):
//!
//! 1. NEGOTIATE (SMB 2.0.2 and 2.1);
//! 2. SESSION_SETUP with an NTLM NEGOTIATE; the server's CHALLENGE names the machine, its
//!    domain and the OS version it claims (read into the report, whatever follows);
//! 3. SESSION_SETUP with an anonymous AUTHENTICATE (empty user, domain and responses, flag
//!    `NTLMSSP_NEGOTIATE_ANONYMOUS`) — no credential of any kind is sent;
//! 4. TREE_CONNECT to `IPC$`: success is the null session (`smb-null-session`): through it the
//!    shares and often users and policies can be listed;
//! 5. the `srvsvc` pipe: a DCE/RPC bind and one `NetrShareEnum` call list the shares; each disk
//!    share (at most [`MAX_SHARE_TRIES`]) gets one TREE_CONNECT, and one that grants read access
//!    to the anonymous session is a readable share (`smb-anonymous-share`). No file is opened.
//!
//! Every parser here takes the server's bytes with strict bounds and is fuzzed
//! (`fuzz/fuzz_targets/smb.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::checks::finding;
use crate::engine::{connect, Options};
use crate::report::{ServiceReport, Severity};

/// NTSTATUS values (MS-ERREF §2.3.1).
pub const STATUS_SUCCESS: u32 = 0;
pub const STATUS_PENDING: u32 = 0x0000_0103;
pub const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;

/// SMB2 commands (MS-SMB2 §2.2.1.2).
const NEGOTIATE: u16 = 0;
const SESSION_SETUP: u16 = 1;
const TREE_CONNECT: u16 = 3;
const CREATE: u16 = 5;
const IOCTL: u16 = 0x0b;

/// SESSION_SETUP response flags (MS-SMB2 §2.2.6).
pub const SESSION_FLAG_IS_GUEST: u16 = 0x0001;
pub const SESSION_FLAG_IS_NULL: u16 = 0x0002;

/// Largest SMB2 message read (the direct-TCP length field allows 16 MiB).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Disk shares tried for anonymous read access, at most.
pub const MAX_SHARE_TRIES: usize = 8;
/// Shares listed, at most.
pub const MAX_SHARES: usize = 256;
/// Longest name or remark kept, in UTF-16 units.
const MAX_TEXT: usize = 256;

/// `FSCTL_PIPE_TRANSCEIVE` (MS-FSCC §2.3.49).
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;

/// NTLM negotiate flags (MS-NLMP §2.2.2.5).
const NTLM_UNICODE: u32 = 0x0000_0001;
const NTLM_REQUEST_TARGET: u32 = 0x0000_0004;
const NTLM_NTLM: u32 = 0x0000_0200;
const NTLM_ANONYMOUS: u32 = 0x0000_0800;
const NTLM_ALWAYS_SIGN: u32 = 0x0000_8000;
const NTLM_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const NTLM_TARGET_INFO: u32 = 0x0080_0000;
const NTLM_VERSION: u32 = 0x0200_0000;
const NTLM_128: u32 = 0x2000_0000;
const NTLM_56: u32 = 0x8000_0000;
const NTLM_FLAGS: u32 = NTLM_UNICODE
    | NTLM_REQUEST_TARGET
    | NTLM_NTLM
    | NTLM_ALWAYS_SIGN
    | NTLM_EXTENDED_SESSIONSECURITY
    | NTLM_TARGET_INFO
    | NTLM_VERSION
    | NTLM_128
    | NTLM_56;

/// One SMB2 response: the fields of the header this check uses, the body after the 64-byte
/// header, and the whole message (buffer offsets count from its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub status: u32,
    pub command: u16,
    pub flags: u32,
    pub tree_id: u32,
    pub session_id: u64,
    pub body: &'a [u8],
    pub msg: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `len` bytes at `off` in `b`, or `None` when they are not all there.
fn slice(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

/// Parse one SMB2 message (without the 4-byte direct-TCP header): a response (flag
/// SERVER_TO_REDIR) with the 64-byte sync or async header.
pub fn parse_reply(msg: &[u8]) -> Option<Reply<'_>> {
    if msg.get(..4)? != b"\xfeSMB" || u16_at(msg, 4)? != 64 {
        return None;
    }
    let flags = u32_at(msg, 16)?;
    if flags & 1 == 0 {
        return None; // not a response
    }
    Some(Reply {
        status: u32_at(msg, 8)?,
        command: u16_at(msg, 12)?,
        flags,
        // An async header (flag 2) carries an AsyncId where the sync one has the tree id.
        tree_id: if flags & 2 == 0 { u32_at(msg, 36)? } else { 0 },
        session_id: u64_at(msg, 40)?,
        body: msg.get(64..)?,
        msg,
    })
}

/// The security buffer of a NEGOTIATE or SESSION_SETUP response (`off_at`: where its offset and
/// length fields sit in the body).
fn security_buffer<'a>(r: &Reply<'a>, off_at: usize) -> Option<&'a [u8]> {
    let off = u16_at(r.body, off_at)? as usize;
    let len = u16_at(r.body, off_at + 2)? as usize;
    if len == 0 {
        return Some(&[]);
    }
    slice(r.msg, off, len)
}

/// The dialect a NEGOTIATE response chose and whether the server requires signing.
pub fn parse_negotiate(r: &Reply<'_>) -> Option<(u16, bool)> {
    if r.command != NEGOTIATE || r.status != STATUS_SUCCESS || u16_at(r.body, 0)? != 65 {
        return None;
    }
    Some((u16_at(r.body, 4)?, u16_at(r.body, 2)? & 2 != 0))
}

/// The session flags and security buffer of a SESSION_SETUP response.
pub fn parse_session_setup<'a>(r: &Reply<'a>) -> Option<(u16, &'a [u8])> {
    if r.command != SESSION_SETUP || u16_at(r.body, 0)? != 9 {
        return None;
    }
    Some((u16_at(r.body, 2)?, security_buffer(r, 4)?))
}

/// What the server's NTLM CHALLENGE says about it (MS-NLMP §2.2.1.2, §2.2.2.1, §2.2.2.10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub flags: u32,
    /// Major, minor, build of the OS version the server claims (Samba claims a Windows one).
    pub os_version: Option<(u8, u8, u16)>,
    pub target_name: Option<String>,
    pub netbios_computer: Option<String>,
    pub netbios_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_domain: Option<String>,
}

/// UTF-16LE to text: at most [`MAX_TEXT`] units, controls dropped, empty as `None`.
fn utf16(b: &[u8]) -> Option<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .take(MAX_TEXT)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s: String = String::from_utf16_lossy(&units)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    (!s.is_empty()).then_some(s)
}

/// An NTLM (len, maxlen, offset) field at `at` in `m`, resolved to its bytes.
fn ntlm_field(m: &[u8], at: usize) -> Option<&[u8]> {
    let len = u16_at(m, at)? as usize;
    let off = u32_at(m, at + 4)? as usize;
    if len == 0 {
        return Some(&[]);
    }
    slice(m, off, len)
}

/// Find the NTLM CHALLENGE in a security buffer (raw, or inside SPNEGO: the message is located
/// by its signature, every field then checked against the buffer's end) and read it.
pub fn parse_challenge(blob: &[u8]) -> Option<Challenge> {
    const SIG: &[u8] = b"NTLMSSP\0\x02\0\0\0";
    let at = blob.windows(SIG.len()).position(|w| w == SIG)?;
    let m = &blob[at..];
    let flags = u32_at(m, 20)?;
    let mut c = Challenge {
        flags,
        ..Challenge::default()
    };
    if flags & NTLM_UNICODE != 0 {
        c.target_name = ntlm_field(m, 12).and_then(utf16);
    }
    if flags & NTLM_VERSION != 0 {
        if let Some(v) = slice(m, 48, 8) {
            // A version of all zeros is "not given".
            if v[..4] != [0, 0, 0, 0] {
                c.os_version = Some((v[0], v[1], u16::from_le_bytes([v[2], v[3]])));
            }
        }
    }
    if flags & NTLM_TARGET_INFO != 0 {
        if let Some(mut info) = ntlm_field(m, 40) {
            for _ in 0..64 {
                let (Some(id), Some(len)) = (u16_at(info, 0), u16_at(info, 2)) else {
                    break;
                };
                let Some(value) = slice(info, 4, len as usize) else {
                    break;
                };
                let text = || utf16(value);
                match id {
                    0 => break, // MsvAvEOL
                    1 => c.netbios_computer = text(),
                    2 => c.netbios_domain = text(),
                    3 => c.dns_computer = text(),
                    4 => c.dns_domain = text(),
                    _ => {}
                }
                info = &info[4 + len as usize..];
            }
        }
    }
    Some(c)
}

impl Challenge {
    /// What to show: `NTLM: computer LAB, domain WG, DNS lab.example, OS 6.1 build 0`.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(n) = self
            .netbios_computer
            .as_ref()
            .or(self.dns_computer.as_ref())
        {
            parts.push(format!("computer {n}"));
        }
        if let Some(d) = self.netbios_domain.as_ref().or(self.target_name.as_ref()) {
            parts.push(format!("domain {d}"));
        }
        if let Some(d) = self.dns_domain.as_ref() {
            parts.push(format!("DNS domain {d}"));
        }
        if let Some((a, b, build)) = self.os_version {
            parts.push(format!("OS version {a}.{b} build {build}"));
        }
        (!parts.is_empty()).then(|| format!("NTLM: {}", parts.join(", ")))
    }
}

/// A share from `NetrShareEnum` (MS-SRVS §2.2.4.23 SHARE_INFO_1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    /// STYPE_* (MS-SRVS §2.2.2.4): 0 disk, 1 print queue, 2 device, 3 IPC; 0x80000000 special.
    pub kind: u32,
    pub remark: String,
}

impl Share {
    pub fn is_disk(&self) -> bool {
        self.kind & 0x0fff_ffff == 0
    }
    fn kind_name(&self) -> &'static str {
        match self.kind & 0x0fff_ffff {
            0 => "disk",
            1 => "printer",
            2 => "device",
            3 => "ipc",
            _ => "other",
        }
    }
}

/// A bounded NDR reader (C706 §14, little-endian data representation).
struct Ndr<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Ndr<'a> {
    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }
    fn u32(&mut self) -> Option<u32> {
        self.align(4);
        let v = u32_at(self.b, self.pos)?;
        self.pos += 4;
        Some(v)
    }
    /// A conformant varying UTF-16 string: max count, offset, actual count, the units.
    fn string(&mut self) -> Option<String> {
        let max = self.u32()? as usize;
        let _offset = self.u32()?;
        let actual = self.u32()? as usize;
        if actual > max {
            return None;
        }
        let bytes = slice(self.b, self.pos, actual.checked_mul(2)?)?;
        self.pos += bytes.len();
        Some(utf16(bytes).unwrap_or_default())
    }
}

/// The shares in a DCE/RPC response PDU to `NetrShareEnum` at level 1: `None` when it is not a
/// complete, successful one.
pub fn parse_share_enum(pdu: &[u8]) -> Option<Vec<Share>> {
    // C706 §12.6.4.10: common header (16), alloc hint, context id, cancel count, reserved.
    if pdu.len() < 24 || pdu[0] != 5 || pdu[2] != 2 || pdu[4] & 0xf0 != 0x10 {
        return None;
    }
    let frag = u16_at(pdu, 8)? as usize;
    let auth = u16_at(pdu, 10)? as usize;
    let stub_end = frag.checked_sub(auth)?.min(pdu.len());
    let stub = pdu.get(24..stub_end)?;
    let mut n = Ndr { b: stub, pos: 0 };
    let level = n.u32()?;
    let switch = n.u32()?;
    if level != 1 || switch != 1 {
        return None;
    }
    let container = n.u32()?;
    if container == 0 {
        return Some(Vec::new());
    }
    let count = n.u32()? as usize;
    let array = n.u32()?;
    if array == 0 || count == 0 {
        return Some(Vec::new());
    }
    let max = n.u32()? as usize;
    if count > max || count > MAX_SHARES {
        return None;
    }
    let mut fixed = Vec::with_capacity(count);
    for _ in 0..count {
        fixed.push((n.u32()?, n.u32()?, n.u32()?));
    }
    let mut shares = Vec::with_capacity(count);
    for (name_ptr, kind, remark_ptr) in fixed {
        let name = if name_ptr != 0 {
            n.string()?
        } else {
            String::new()
        };
        let remark = if remark_ptr != 0 {
            n.string()?
        } else {
            String::new()
        };
        shares.push(Share { name, kind, remark });
    }
    Some(shares)
}

/// The TREE_CONNECT response: share type and the maximal access the session was granted.
pub fn parse_tree_connect(r: &Reply<'_>) -> Option<(u8, u32)> {
    if r.command != TREE_CONNECT || r.status != STATUS_SUCCESS || u16_at(r.body, 0)? != 16 {
        return None;
    }
    Some((*r.body.get(2)?, u32_at(r.body, 12)?))
}

/// The file id of a CREATE response.
fn parse_create(r: &Reply<'_>) -> Option<[u8; 16]> {
    if r.command != CREATE || r.status != STATUS_SUCCESS || u16_at(r.body, 0)? != 89 {
        return None;
    }
    slice(r.body, 64, 16)?.try_into().ok()
}

/// The output of an IOCTL response (a full answer, or a first part marked BUFFER_OVERFLOW).
pub fn parse_ioctl<'a>(r: &Reply<'a>) -> Option<&'a [u8]> {
    if r.command != IOCTL
        || !(r.status == STATUS_SUCCESS || r.status == STATUS_BUFFER_OVERFLOW)
        || u16_at(r.body, 0)? != 49
    {
        return None;
    }
    let off = u32_at(r.body, 32)? as usize;
    let len = u32_at(r.body, 36)? as usize;
    slice(r.msg, off, len)
}

/// DER length (X.690 §8.1.3).
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(content.len()));
    v.extend_from_slice(content);
    v
}

/// The OID of NTLMSSP, 1.3.6.1.4.1.311.2.2.10 (encoded).
const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// The OID of SPNEGO, 1.3.6.1.5.5.2.
const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// RFC 4178 §4.2.1 NegTokenInit offering NTLMSSP with its first token.
pub fn spnego_init(token: &[u8]) -> Vec<u8> {
    let mechs = der(0xa0, &der(0x30, &der(0x06, NTLMSSP_OID)));
    let tok = der(0xa2, &der(0x04, token));
    let init = der(0xa0, &der(0x30, &[mechs, tok].concat()));
    der(0x60, &[der(0x06, SPNEGO_OID), init].concat())
}

/// RFC 4178 §4.2.2 NegTokenResp carrying the next token.
pub fn spnego_resp(token: &[u8]) -> Vec<u8> {
    der(0xa1, &der(0x30, &der(0xa2, &der(0x04, token))))
}

/// MS-NLMP §2.2.1.1 NEGOTIATE_MESSAGE (no domain, no workstation, a zero version).
pub fn ntlm_negotiate() -> Vec<u8> {
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend(1u32.to_le_bytes());
    m.extend(NTLM_FLAGS.to_le_bytes());
    m.extend([0u8; 16]); // domain and workstation fields: empty
    m.extend([0u8; 8]); // version
    m
}

/// MS-NLMP §2.2.1.3 AUTHENTICATE_MESSAGE, anonymous (§3.1.5.1.2): user, domain, workstation and
/// NT response empty, LM response one zero byte, no session key.
pub fn ntlm_anonymous(server_flags: u32) -> Vec<u8> {
    let flags = (NTLM_FLAGS & server_flags) | NTLM_ANONYMOUS;
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend(3u32.to_le_bytes());
    let payload = 64u32;
    // LmChallengeResponse: length 1 at the payload's start.
    m.extend(1u16.to_le_bytes());
    m.extend(1u16.to_le_bytes());
    m.extend(payload.to_le_bytes());
    // NtChallengeResponse, DomainName, UserName, Workstation, EncryptedRandomSessionKey: empty.
    for _ in 0..5 {
        m.extend([0u8; 4]);
        m.extend((payload + 1).to_le_bytes());
    }
    m.extend(flags.to_le_bytes());
    m.push(0);
    m
}

/// Builds requests: message ids count up, the session and tree ids follow the server's.
struct Client {
    message_id: u64,
    session_id: u64,
    tree_id: u32,
}

impl Client {
    /// Direct-TCP frame (MS-SMB2 §2.1) around a 64-byte sync header and `body`.
    fn request(&mut self, command: u16, body: &[u8]) -> Vec<u8> {
        let mut h = Vec::with_capacity(68 + body.len());
        let len = 64 + body.len();
        h.extend([0, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
        h.extend(b"\xfeSMB");
        h.extend(64u16.to_le_bytes());
        h.extend(0u16.to_le_bytes()); // credit charge
        h.extend(0u32.to_le_bytes()); // channel sequence / status
        h.extend(command.to_le_bytes());
        h.extend(64u16.to_le_bytes()); // credits requested
        h.extend(0u32.to_le_bytes()); // flags
        h.extend(0u32.to_le_bytes()); // next command
        h.extend(self.message_id.to_le_bytes());
        h.extend(0u32.to_le_bytes()); // process id
        h.extend(self.tree_id.to_le_bytes());
        h.extend(self.session_id.to_le_bytes());
        h.extend([0u8; 16]); // signature
        h.extend_from_slice(body);
        self.message_id += 1;
        h
    }
}

fn negotiate_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(36u16.to_le_bytes());
    b.extend(2u16.to_le_bytes()); // dialect count
    b.extend(1u16.to_le_bytes()); // security mode: signing enabled, not required
    b.extend(0u16.to_le_bytes());
    b.extend(0u32.to_le_bytes()); // capabilities
    b.extend(*b"portolan-client!"); // client guid
    b.extend(0u64.to_le_bytes());
    b.extend(0x0202u16.to_le_bytes());
    b.extend(0x0210u16.to_le_bytes());
    b
}

fn session_setup_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(25u16.to_le_bytes());
    b.push(0); // flags
    b.push(1); // security mode: signing enabled
    b.extend(0u32.to_le_bytes()); // capabilities
    b.extend(0u32.to_le_bytes()); // channel
    b.extend((64u16 + 24).to_le_bytes());
    b.extend((token.len() as u16).to_le_bytes());
    b.extend(0u64.to_le_bytes()); // previous session
    b.extend_from_slice(token);
    b
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn tree_connect_body(path: &str) -> Vec<u8> {
    let p = utf16le(path);
    let mut b = Vec::new();
    b.extend(9u16.to_le_bytes());
    b.extend(0u16.to_le_bytes());
    b.extend((64u16 + 8).to_le_bytes());
    b.extend((p.len() as u16).to_le_bytes());
    b.extend(p);
    b
}

fn create_pipe_body(name: &str) -> Vec<u8> {
    let n = utf16le(name);
    let mut b = Vec::new();
    b.extend(57u16.to_le_bytes());
    b.push(0); // security flags
    b.push(0); // oplock: none
    b.extend(2u32.to_le_bytes()); // impersonation
    b.extend(0u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(0x0012_019fu32.to_le_bytes()); // read, write, read/write attributes, sync
    b.extend(0u32.to_le_bytes()); // attributes
    b.extend(7u32.to_le_bytes()); // share read, write, delete
    b.extend(1u32.to_le_bytes()); // FILE_OPEN
    b.extend(0u32.to_le_bytes()); // options
    b.extend((64u16 + 56).to_le_bytes());
    b.extend((n.len() as u16).to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(n);
    b
}

fn ioctl_body(file_id: &[u8; 16], input: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(57u16.to_le_bytes());
    b.extend(0u16.to_le_bytes());
    b.extend(FSCTL_PIPE_TRANSCEIVE.to_le_bytes());
    b.extend(file_id);
    b.extend((64u32 + 56).to_le_bytes()); // input offset
    b.extend((input.len() as u32).to_le_bytes());
    b.extend(0u32.to_le_bytes()); // max input response
    b.extend(0u32.to_le_bytes()); // output offset
    b.extend(0u32.to_le_bytes()); // output count
    b.extend((MAX_MESSAGE as u32 - 256).to_le_bytes()); // max output response
    b.extend(1u32.to_le_bytes()); // SMB2_0_IOCTL_IS_FSCTL
    b.extend(0u32.to_le_bytes());
    b.extend_from_slice(input);
    b
}

/// C706 §12.6.4.3 bind to srvsvc 3.0 (MS-SRVS §1.9) with the NDR transfer syntax.
pub fn rpc_bind() -> Vec<u8> {
    const SRVSVC: [u8; 16] = [
        0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1,
        0x88,
    ];
    const NDR: [u8; 16] = [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ];
    let mut b = vec![5, 0, 11, 3, 0x10, 0, 0, 0];
    b.extend(72u16.to_le_bytes()); // fragment length
    b.extend(0u16.to_le_bytes()); // auth length
    b.extend(1u32.to_le_bytes()); // call id
    b.extend(4280u16.to_le_bytes());
    b.extend(4280u16.to_le_bytes());
    b.extend(0u32.to_le_bytes()); // association group
    b.extend([1, 0, 0, 0]); // one context
    b.extend(0u16.to_le_bytes()); // context id
    b.extend([1, 0]); // one transfer syntax
    b.extend(SRVSVC);
    b.extend(3u32.to_le_bytes());
    b.extend(NDR);
    b.extend(2u32.to_le_bytes());
    b
}

/// C706 §12.6.4.9 request: `NetrShareEnum` (opnum 15) at level 1, no server name, no resume
/// handle, no size limit.
pub fn rpc_share_enum() -> Vec<u8> {
    let stub: [u32; 8] = [0, 1, 1, 0x0002_0000, 0, 0, 0xffff_ffff, 0];
    let mut b = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
    b.extend(((24 + stub.len() * 4) as u16).to_le_bytes());
    b.extend(0u16.to_le_bytes());
    b.extend(2u32.to_le_bytes()); // call id
    b.extend(((stub.len() * 4) as u32).to_le_bytes()); // alloc hint
    b.extend(0u16.to_le_bytes()); // context id
    b.extend(15u16.to_le_bytes()); // opnum
    for w in stub {
        b.extend(w.to_le_bytes());
    }
    b
}

/// A bind_ack (C706 §12.6.4.4, type 12) whose first result is acceptance.
pub fn bind_accepted(pdu: &[u8]) -> bool {
    if pdu.len() < 26 || pdu[0] != 5 || pdu[2] != 12 {
        return false;
    }
    // After the header and the sizes: the secondary address (length, string), aligned to 4.
    let Some(addr_len) = u16_at(pdu, 24) else {
        return false;
    };
    let results = (26 + addr_len as usize).div_ceil(4) * 4;
    pdu.get(results) == Some(&1) && u16_at(pdu, results + 4) == Some(0)
}

/// Send one request and read its response (interim STATUS_PENDING answers skipped).
async fn call(s: &mut TcpStream, req: &[u8], wait: Duration) -> Option<Vec<u8>> {
    tokio::time::timeout(wait, async {
        s.write_all(req).await.ok()?;
        for _ in 0..4 {
            let mut h = [0u8; 4];
            s.read_exact(&mut h).await.ok()?;
            let len = u32::from_be_bytes(h) as usize & 0x00ff_ffff;
            if h[0] != 0 || !(64..=MAX_MESSAGE).contains(&len) {
                return None;
            }
            let mut m = vec![0u8; len];
            s.read_exact(&mut m).await.ok()?;
            if parse_reply(&m).is_some_and(|r| r.status == STATUS_PENDING && r.flags & 2 != 0) {
                continue;
            }
            return Some(m);
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// What one run of the exchange found.
#[derive(Debug, Default)]
struct Outcome {
    challenge: Option<Challenge>,
    /// The anonymous SESSION_SETUP: its status and session flags.
    session: Option<(u32, u16)>,
    ipc: Option<u32>,
    shares: Option<Vec<Share>>,
    readable: Vec<String>,
}

async fn run(addr: SocketAddr, opts: &Options) -> Outcome {
    let mut out = Outcome::default();
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return out;
    };
    let wait = opts.probe_wait;
    let mut c = Client {
        message_id: 0,
        session_id: 0,
        tree_id: 0,
    };
    let Some(m) = call(&mut s, &c.request(NEGOTIATE, &negotiate_body()), wait).await else {
        return out;
    };
    if parse_reply(&m).as_ref().and_then(parse_negotiate).is_none() {
        return out;
    }
    let token = spnego_init(&ntlm_negotiate());
    let Some(m) = call(
        &mut s,
        &c.request(SESSION_SETUP, &session_setup_body(&token)),
        wait,
    )
    .await
    else {
        return out;
    };
    let Some(r) = parse_reply(&m) else { return out };
    if r.status != STATUS_MORE_PROCESSING_REQUIRED {
        return out;
    }
    let Some(ch) = parse_session_setup(&r).and_then(|(_, b)| parse_challenge(b)) else {
        return out;
    };
    c.session_id = r.session_id;
    let token = spnego_resp(&ntlm_anonymous(ch.flags));
    out.challenge = Some(ch);
    let Some(m) = call(
        &mut s,
        &c.request(SESSION_SETUP, &session_setup_body(&token)),
        wait,
    )
    .await
    else {
        return out;
    };
    let Some(r) = parse_reply(&m) else { return out };
    let flags = parse_session_setup(&r).map_or(0, |(f, _)| f);
    out.session = Some((r.status, flags));
    if r.status != STATUS_SUCCESS {
        return out;
    }
    let host = addr.ip().to_string();
    let ipc = format!("\\\\{host}\\IPC$");
    let Some(m) = call(
        &mut s,
        &c.request(TREE_CONNECT, &tree_connect_body(&ipc)),
        wait,
    )
    .await
    else {
        return out;
    };
    let Some(r) = parse_reply(&m) else { return out };
    out.ipc = Some(r.status);
    if parse_tree_connect(&r).is_none() {
        return out;
    }
    c.tree_id = r.tree_id;
    out.shares = list_shares(&mut s, &mut c, wait).await;
    let disks: Vec<String> = out
        .shares
        .iter()
        .flatten()
        .filter(|s| s.is_disk() && !s.name.is_empty())
        .map(|s| s.name.clone())
        .take(MAX_SHARE_TRIES)
        .collect();
    for name in disks {
        c.tree_id = 0;
        let path = format!("\\\\{host}\\{name}");
        let Some(m) = call(
            &mut s,
            &c.request(TREE_CONNECT, &tree_connect_body(&path)),
            wait,
        )
        .await
        else {
            break;
        };
        // FILE_READ_DATA, GENERIC_ALL or GENERIC_READ in the access granted.
        let readable = parse_reply(&m)
            .as_ref()
            .and_then(parse_tree_connect)
            .is_some_and(|(_, access)| access & 0x9000_0001 != 0);
        if readable {
            out.readable.push(name);
        }
    }
    out
}

/// Open `srvsvc` on the IPC$ tree, bind, ask for the shares.
async fn list_shares(s: &mut TcpStream, c: &mut Client, wait: Duration) -> Option<Vec<Share>> {
    let m = call(s, &c.request(CREATE, &create_pipe_body("srvsvc")), wait).await?;
    let fid = parse_create(&parse_reply(&m)?)?;
    let m = call(s, &c.request(IOCTL, &ioctl_body(&fid, &rpc_bind())), wait).await?;
    if !bind_accepted(parse_ioctl(&parse_reply(&m)?)?) {
        return None;
    }
    let m = call(
        s,
        &c.request(IOCTL, &ioctl_body(&fid, &rpc_share_enum())),
        wait,
    )
    .await?;
    parse_share_enum(parse_ioctl(&parse_reply(&m)?)?)
}

/// Run the exchange and report what it found.
pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let budget = opts.connect_timeout + opts.probe_wait * (8 + MAX_SHARE_TRIES as u32);
    let Ok(out) = tokio::time::timeout(budget, run(addr, opts)).await else {
        r.notes
            .push("SMB null-session check: no complete answer in time".into());
        return;
    };
    report(&out, r);
}

fn report(out: &Outcome, r: &mut ServiceReport) {
    if let Some(ch) = &out.challenge {
        if r.hostname.is_none() {
            r.hostname = ch.netbios_computer.clone().or(ch.dns_computer.clone());
        }
        if let Some(s) = ch.summary() {
            r.extrainfo = Some(match r.extrainfo.take() {
                Some(e) => format!("{e}; {s}"),
                None => s,
            });
        }
    }
    let Some((status, flags)) = out.session else {
        return;
    };
    if status != STATUS_SUCCESS {
        r.notes.push(format!(
            "SMB: anonymous session refused (NTSTATUS 0x{status:08x})"
        ));
        return;
    }
    let kind = if flags & SESSION_FLAG_IS_NULL != 0 {
        "null session"
    } else if flags & SESSION_FLAG_IS_GUEST != 0 {
        "guest session"
    } else {
        "session, no null or guest flag"
    };
    match out.ipc {
        Some(STATUS_SUCCESS) => {}
        Some(st) => {
            r.notes.push(format!(
                "SMB: anonymous {kind} accepted, but IPC$ refused (NTSTATUS 0x{st:08x}): no null-session access"
            ));
            return;
        }
        None => return,
    }
    let mut ev = format!(
        "anonymous SESSION_SETUP -> STATUS_SUCCESS ({kind}); TREE_CONNECT IPC$ -> STATUS_SUCCESS"
    );
    if let Some(shares) = &out.shares {
        let list: Vec<String> = shares
            .iter()
            .map(|s| format!("{} ({})", s.name, s.kind_name()))
            .collect();
        ev += &format!("; shares: {}", list.join(", "));
    }
    r.findings.push(finding(
        "smb-null-session",
        Severity::Medium,
        "SMB null session allowed: anyone can log on without credentials and use IPC$ (shares, users and policies can be listed)",
        ev.as_bytes(),
    ));
    if !out.readable.is_empty() {
        let ev = format!(
            "TREE_CONNECT without credentials granted read access: {}",
            out.readable.join(", ")
        );
        r.findings.push(finding(
            "smb-anonymous-share",
            Severity::High,
            "SMB shares readable without credentials",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_sizes_the_specification_gives() {
        let mut c = Client {
            message_id: 0,
            session_id: 7,
            tree_id: 1,
        };
        let req = c.request(NEGOTIATE, &negotiate_body());
        assert_eq!(req.len(), 4 + 64 + 36 + 4);
        assert_eq!(&req[4..8], b"\xfeSMB");
        assert_eq!(u64_at(&req, 4 + 24), Some(0));
        assert_eq!(u64_at(&req, 4 + 40), Some(7));
        let req = c.request(NEGOTIATE, &[]);
        assert_eq!(u64_at(&req, 4 + 24), Some(1), "message ids count up");
        assert_eq!(rpc_bind().len(), 72);
        assert_eq!(u16_at(&rpc_bind(), 8), Some(72));
        let e = rpc_share_enum();
        assert_eq!(u16_at(&e, 8).map(usize::from), Some(e.len()));
        let a = ntlm_anonymous(NTLM_FLAGS);
        assert_eq!(a.len(), 65);
        assert_eq!(
            u32_at(&a, 60).map(|f| f & NTLM_ANONYMOUS),
            Some(NTLM_ANONYMOUS)
        );
        // User name (at 36): empty. NT response (at 20): empty.
        assert_eq!(u16_at(&a, 36), Some(0));
        assert_eq!(u16_at(&a, 20), Some(0));
    }

    #[test]
    fn spnego_lengths_are_der() {
        let t = spnego_init(&ntlm_negotiate());
        assert_eq!(t[0], 0x60);
        assert_eq!(t[1] as usize, t.len() - 2);
        let long = spnego_resp(&[0u8; 300]);
        assert_eq!(&long[..2], &[0xa1, 0x82]);
        assert_eq!(
            u16::from_be_bytes([long[2], long[3]]) as usize,
            long.len() - 4
        );
    }

    /// A CHALLENGE as MS-NLMP §2.2.1.2 lays it out, with target info (§2.2.2.1).
    pub(super) fn challenge_bytes() -> Vec<u8> {
        let name = utf16le("LAB");
        let mut info = Vec::new();
        for (id, v) in [
            (2u16, "LAB"),
            (1, "LABOPEN"),
            (4, "lab.test"),
            (3, "labopen.lab.test"),
        ] {
            let v = utf16le(v);
            info.extend(id.to_le_bytes());
            info.extend((v.len() as u16).to_le_bytes());
            info.extend(v);
        }
        info.extend([0u8; 4]);
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend(2u32.to_le_bytes());
        m.extend((name.len() as u16).to_le_bytes());
        m.extend((name.len() as u16).to_le_bytes());
        m.extend(56u32.to_le_bytes());
        m.extend(NTLM_FLAGS.to_le_bytes());
        m.extend(*b"challeng");
        m.extend([0u8; 8]);
        m.extend((info.len() as u16).to_le_bytes());
        m.extend((info.len() as u16).to_le_bytes());
        m.extend((56 + name.len() as u32).to_le_bytes());
        m.extend([6, 1, 0, 0, 0, 0, 0, 15]);
        m.extend(name);
        m.extend(info);
        m
    }

    #[test]
    fn challenge_inside_spnego_is_read() {
        let blob = spnego_resp(&challenge_bytes());
        let c = parse_challenge(&blob).unwrap();
        assert_eq!(c.netbios_computer.as_deref(), Some("LABOPEN"));
        assert_eq!(c.netbios_domain.as_deref(), Some("LAB"));
        assert_eq!(c.dns_domain.as_deref(), Some("lab.test"));
        assert_eq!(c.os_version, Some((6, 1, 0)));
        assert_eq!(
            c.summary().unwrap(),
            "NTLM: computer LABOPEN, domain LAB, DNS domain lab.test, OS version 6.1 build 0"
        );
        // Cut anywhere: never a panic, never a field read past the end.
        let b = challenge_bytes();
        for n in 0..b.len() {
            let _ = parse_challenge(&b[..n]);
        }
    }

    /// A NetrShareEnum response PDU with the given shares (NDR as MS-SRVS §2.2.4.33 lays it).
    pub(super) fn share_enum_bytes(shares: &[(&str, u32, &str)]) -> Vec<u8> {
        let mut stub: Vec<u8> = Vec::new();
        let w = |v: u32, s: &mut Vec<u8>| s.extend(v.to_le_bytes());
        w(1, &mut stub);
        w(1, &mut stub);
        w(0x20000, &mut stub);
        w(shares.len() as u32, &mut stub);
        w(0x20004, &mut stub);
        w(shares.len() as u32, &mut stub);
        for (i, (_, kind, _)) in shares.iter().enumerate() {
            w(0x20008 + i as u32 * 8, &mut stub);
            w(*kind, &mut stub);
            w(0x2000c + i as u32 * 8, &mut stub);
        }
        for (name, _, remark) in shares {
            for t in [name, remark] {
                let mut u = utf16le(t);
                u.extend([0, 0]);
                let n = (u.len() / 2) as u32;
                w(n, &mut stub);
                w(0, &mut stub);
                w(n, &mut stub);
                stub.extend(u);
                while stub.len() % 4 != 0 {
                    stub.push(0);
                }
            }
        }
        w(shares.len() as u32, &mut stub);
        w(0, &mut stub);
        w(0, &mut stub);
        let mut pdu = vec![5, 0, 2, 3, 0x10, 0, 0, 0];
        pdu.extend(((24 + stub.len()) as u16).to_le_bytes());
        pdu.extend(0u16.to_le_bytes());
        pdu.extend(2u32.to_le_bytes());
        pdu.extend((stub.len() as u32).to_le_bytes());
        pdu.extend([0, 0, 0, 0]);
        pdu.extend(stub);
        pdu
    }

    #[test]
    fn share_list_is_read() {
        let pdu = share_enum_bytes(&[("public", 0, "lab"), ("IPC$", 0x8000_0003, "IPC Service")]);
        let s = parse_share_enum(&pdu).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "public");
        assert!(s[0].is_disk());
        assert_eq!(s[1].name, "IPC$");
        assert!(!s[1].is_disk());
        assert_eq!(s[1].remark, "IPC Service");
        for n in 0..pdu.len() {
            let _ = parse_share_enum(&pdu[..n]);
        }
    }

    #[test]
    fn a_refused_ipc_or_session_is_a_note_not_a_finding() {
        let mut r = ServiceReport::new(
            "127.0.0.1:445".parse().unwrap(),
            portolan_registry::Protocol::Tcp,
        );
        let mut out = Outcome {
            session: Some((0xC000_006D, 0)),
            ..Outcome::default()
        };
        report(&out, &mut r);
        assert!(r.findings.is_empty());
        assert!(r.notes[0].contains("refused"), "{:?}", r.notes);
        out.session = Some((STATUS_SUCCESS, SESSION_FLAG_IS_NULL));
        out.ipc = Some(0xC000_0022);
        report(&out, &mut r);
        assert!(r.findings.is_empty());
        out.ipc = Some(STATUS_SUCCESS);
        report(&out, &mut r);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "smb-null-session");
        assert!(r.findings[0].evidence.contains("null session"));
    }

    /// A fake SMB2 server following MS-SMB2's message layouts: `open` grants the anonymous
    /// session, IPC$ and the share "public"; otherwise the anonymous AUTHENTICATE is refused
    /// (STATUS_LOGON_FAILURE).
    async fn fake_smb(open: bool) -> SocketAddr {
        use tokio::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut setups = 0;
                    loop {
                        let mut h = [0u8; 4];
                        if s.read_exact(&mut h).await.is_err() {
                            return;
                        }
                        let mut m = vec![0u8; u32::from_be_bytes(h) as usize];
                        if s.read_exact(&mut m).await.is_err() {
                            return;
                        }
                        let cmd = u16_at(&m, 12).unwrap();
                        let mid = u64_at(&m, 24).unwrap();
                        let body = &m[64..];
                        let (status, tree, body): (u32, u32, Vec<u8>) = match cmd {
                            NEGOTIATE => {
                                let mut b = vec![0u8; 65];
                                b[..2].copy_from_slice(&65u16.to_le_bytes());
                                b[2] = 1;
                                b[4..6].copy_from_slice(&0x0210u16.to_le_bytes());
                                (0, 0, b)
                            }
                            SESSION_SETUP => {
                                setups += 1;
                                let (st, flags, tok) = if setups == 1 {
                                    (
                                        STATUS_MORE_PROCESSING_REQUIRED,
                                        0,
                                        spnego_resp(&challenge_bytes()),
                                    )
                                } else if open {
                                    (0, SESSION_FLAG_IS_NULL, vec![])
                                } else {
                                    (0xC000_006D, 0, vec![])
                                };
                                let mut b = Vec::new();
                                b.extend(9u16.to_le_bytes());
                                b.extend(flags.to_le_bytes());
                                b.extend(72u16.to_le_bytes());
                                b.extend((tok.len() as u16).to_le_bytes());
                                b.extend(tok);
                                (st, 0, b)
                            }
                            TREE_CONNECT => {
                                let off = u16_at(body, 4).unwrap() as usize;
                                let len = u16_at(body, 6).unwrap() as usize;
                                let path = utf16(&m[off..off + len]).unwrap();
                                let (tree, kind) = if path.ends_with("\\IPC$") {
                                    (1u32, 2u8)
                                } else if path.ends_with("\\public") {
                                    (2, 1)
                                } else {
                                    (0, 0)
                                };
                                let mut b = vec![0u8; 16];
                                b[..2].copy_from_slice(&16u16.to_le_bytes());
                                b[2] = kind;
                                b[12..16].copy_from_slice(&0x0012_00a9u32.to_le_bytes());
                                (if tree == 0 { 0xC000_00CC } else { 0 }, tree, b)
                            }
                            CREATE => {
                                let mut b = vec![0u8; 89];
                                b[..2].copy_from_slice(&89u16.to_le_bytes());
                                b[64..80].copy_from_slice(&[7u8; 16]);
                                (0, 1, b)
                            }
                            IOCTL => {
                                let off = u32_at(body, 24).unwrap() as usize;
                                let len = u32_at(body, 28).unwrap() as usize;
                                let input = &m[off..off + len];
                                let out = if input[2] == 11 {
                                    let mut a =
                                        vec![5, 0, 12, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
                                    a.extend([0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0]);
                                    a.extend(4u16.to_le_bytes());
                                    a.extend(b"135\0");
                                    a.extend([0, 0]);
                                    a.extend([1, 0, 0, 0, 0, 0, 0, 0]);
                                    a.extend([0u8; 20]);
                                    let n = a.len() as u16;
                                    a[8..10].copy_from_slice(&n.to_le_bytes());
                                    a
                                } else {
                                    share_enum_bytes(&[
                                        ("public", 0, "lab"),
                                        ("IPC$", 0x8000_0003, ""),
                                    ])
                                };
                                let mut b = vec![0u8; 48];
                                b[..2].copy_from_slice(&49u16.to_le_bytes());
                                b[32..36].copy_from_slice(&112u32.to_le_bytes());
                                b[36..40].copy_from_slice(&(out.len() as u32).to_le_bytes());
                                b.extend(out);
                                (0, 1, b)
                            }
                            _ => return,
                        };
                        let len = 64 + body.len();
                        let mut r = vec![0, 0, (len >> 8) as u8, len as u8];
                        r.extend(b"\xfeSMB");
                        r.extend(64u16.to_le_bytes());
                        r.extend(0u16.to_le_bytes());
                        r.extend(status.to_le_bytes());
                        r.extend(cmd.to_le_bytes());
                        r.extend(1u16.to_le_bytes());
                        r.extend(1u32.to_le_bytes());
                        r.extend(0u32.to_le_bytes());
                        r.extend(mid.to_le_bytes());
                        r.extend(0u32.to_le_bytes());
                        r.extend(tree.to_le_bytes());
                        r.extend(0x1234u64.to_le_bytes());
                        r.extend([0u8; 16]);
                        r.extend(body);
                        if s.write_all(&r).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_null_session_is_flagged_with_its_shares() {
        let addr = fake_smb(true).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(addr, &crate::checks::testutil::opts(), &mut r).await;
        assert_eq!(r.hostname.as_deref(), Some("LABOPEN"), "{r:?}");
        assert!(
            r.extrainfo.as_deref().unwrap().contains("OS version 6.1"),
            "{r:?}"
        );
        let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["smb-null-session", "smb-anonymous-share"], "{r:?}");
        assert!(r.findings[0].evidence.contains("(null session)"), "{r:?}");
        assert!(
            r.findings[0]
                .evidence
                .contains("shares: public (disk), IPC$ (ipc)"),
            "{r:?}"
        );
        assert!(
            r.findings[1].evidence.ends_with("read access: public"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_anonymous_logon_is_not_flagged() {
        let addr = fake_smb(false).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(addr, &crate::checks::testutil::opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{r:?}");
        assert!(r.notes[0].contains("0xc000006d"), "{r:?}");
        assert_eq!(
            r.hostname.as_deref(),
            Some("LABOPEN"),
            "the CHALLENGE is read either way"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Some(r) = parse_reply(&b) {
                let _ = parse_negotiate(&r);
                let _ = parse_session_setup(&r);
                let _ = parse_tree_connect(&r);
                let _ = parse_create(&r);
                let _ = parse_ioctl(&r);
            }
            let _ = parse_challenge(&b);
            let _ = bind_accepted(&b);
            if let Some(s) = parse_share_enum(&b) {
                proptest::prop_assert!(s.len() <= MAX_SHARES);
            }
        }

        #[test]
        fn mutated_share_lists_stay_bounded(i in 0usize..200, v in proptest::prelude::any::<u8>()) {
            let mut pdu = share_enum_bytes(&[("public", 0, "lab"), ("IPC$", 3, "")]);
            let at = i % pdu.len();
            pdu[at] = v;
            if let Some(s) = parse_share_enum(&pdu) {
                for sh in s {
                    proptest::prop_assert!(sh.name.chars().count() <= MAX_TEXT);
                }
            }
        }
    }
}
