//! The probe database: what to send to a port and how to read what comes back.
//!
//! Portolan's own database is `data/probes/*.toml` (compiled in, one file per class of
//! service, documented in `docs/probes.md`).
//! A user's installed `nmap-service-probes` can be loaded at run time with
//! [`ProbeDb::from_nmap_file`]; rules the `regex` crate cannot compile (back-references,
//! look-around) are skipped and listed in [`ProbeDb::notes`].

use std::collections::HashMap;
use std::path::Path;

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::escape::{decode_escapes, EscapeError};
use portolan_registry::Protocol;

/// The built-in database: its files, by name, in the order they are loaded (probes of every
/// file are known before any file's rules are read, so a rule may name any file's probe).
pub const EMBEDDED_FILES: &[(&str, &str)] = &[
    ("probes.toml", include_str!("../data/probes/probes.toml")),
    ("remote.toml", include_str!("../data/probes/remote.toml")),
    ("mail.toml", include_str!("../data/probes/mail.toml")),
    ("files.toml", include_str!("../data/probes/files.toml")),
    ("web.toml", include_str!("../data/probes/web.toml")),
    ("data.toml", include_str!("../data/probes/data.toml")),
    (
        "messaging.toml",
        include_str!("../data/probes/messaging.toml"),
    ),
    ("naming.toml", include_str!("../data/probes/naming.toml")),
    ("media.toml", include_str!("../data/probes/media.toml")),
    ("devices.toml", include_str!("../data/probes/devices.toml")),
    (
        "services.toml",
        include_str!("../data/probes/services.toml"),
    ),
];

/// Largest `pad_to` of a probe (bytes).
const MAX_PAD: usize = 4096;

/// Ports where printers print whatever arrives (JetDirect / raw printing, 9100-9107): only a
/// probe that lists the port is sent there, as nmap's `Exclude T:9100-9107` does by default.
pub const PRINTER_PORTS: (u16, u16) = (9100, 9107);

/// Largest compiled regex the loader accepts (bytes of the compiled program).
const REGEX_SIZE_LIMIT: usize = 2 << 20;

/// An error loading a probe database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The I/O error is in the message, not also a `source` (an error chain would say it twice).
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("probe database is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{file}: {err}")]
    InFile { file: String, err: Box<DbError> },
    #[error("probe {probe:?}: {what}")]
    Probe { probe: String, what: String },
    #[error("match rule #{index} (service {service:?}): {what}")]
    Rule {
        index: usize,
        service: String,
        what: String,
    },
    #[error("{path}:{line}: {what}")]
    Nmap {
        path: String,
        line: usize,
        what: String,
    },
    #[error(transparent)]
    Read(#[from] portolan_registry::input::ReadError),
}

/// The most bytes of a probe file read (`--probes-file`, `--db`); nmap's own
/// nmap-service-probes is about 2.5 MiB.
pub const PROBE_FILE_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "a service probe file",
    max_bytes: 32 * portolan_registry::input::MIB,
    hint: "give nmap's nmap-service-probes (about 2.5 MiB) or a portolan probe database",
};

/// What a probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Send `payload` (possibly empty: just listen) and read the reply.
    Send,
    /// Attempt a TLS handshake; on success the remaining probes run inside the tunnel.
    Tls,
}

/// One probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub transport: Protocol,
    pub kind: ProbeKind,
    pub payload: Vec<u8>,
    /// Ports where this probe is tried first.
    pub ports: Vec<(u16, u16)>,
    /// Ports where this probe is tried first inside TLS.
    pub tls_ports: Vec<(u16, u16)>,
    /// 1 (common, always tried) to 9 (rare).
    pub rarity: u8,
    /// Longest wait for a reply, in milliseconds (0: use the engine's default).
    pub wait_ms: u64,
    /// Whether the probe is worth sending inside a TLS tunnel.
    pub in_tls: bool,
    /// UDP: the answer may come from another port of the target (TFTP answers from a new
    /// transfer identifier, RFC 1350 §4), so the probe's socket is not bound to the port.
    pub reply_from_any_port: bool,
}

impl Probe {
    /// Whether `port` is one of this probe's likely ports.
    pub fn likely_on(&self, port: u16, tls: bool) -> bool {
        let list = if tls { &self.tls_ports } else { &self.ports };
        list.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
    }
}

/// One match rule: a regex over a reply and templates filled from its captures.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Probes whose replies this rule reads; empty means every probe.
    pub probes: Vec<String>,
    pub service: String,
    pub pattern: Regex,
    /// A soft rule names the service but keeps probing for a version.
    pub soft: bool,
    pub product: Option<String>,
    pub version: Option<String>,
    pub info: Option<String>,
    pub hostname: Option<String>,
    pub cpe: Vec<String>,
    /// A catch-all (a protocol's bare greeting, no product): tried only after every specific
    /// rule — Portolan's vendor rules and the rules of a loaded nmap-service-probes — failed.
    pub generic: bool,
}

impl Rule {
    fn applies_to(&self, probe: &str) -> bool {
        self.probes.is_empty() || self.probes.iter().any(|p| p == probe)
    }
}

/// What a rule found in a reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Match {
    pub service: String,
    pub soft: bool,
    pub product: Option<String>,
    pub version: Option<String>,
    pub info: Option<String>,
    pub hostname: Option<String>,
    pub cpe: Vec<String>,
}

/// A loaded, compiled probe database.
#[derive(Debug, Clone)]
pub struct ProbeDb {
    pub probes: Vec<Probe>,
    pub rules: Vec<Rule>,
    /// Things skipped while loading (rules that did not compile, unknown directives).
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    probe: Vec<ProbeToml>,
    #[serde(default, rename = "match")]
    rules: Vec<RuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeToml {
    name: String,
    #[serde(default = "default_transport")]
    transport: Protocol,
    #[serde(default = "default_kind")]
    kind: ProbeKind,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    ports: String,
    #[serde(default)]
    tls_ports: String,
    #[serde(default = "default_rarity")]
    rarity: u8,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default = "default_true")]
    in_tls: bool,
    #[serde(default)]
    pad_to: usize,
    #[serde(default)]
    reply_from_any_port: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    #[serde(default)]
    probes: Vec<String>,
    service: String,
    pattern: String,
    #[serde(default)]
    flags: String,
    #[serde(default)]
    soft: bool,
    product: Option<String>,
    version: Option<String>,
    info: Option<String>,
    hostname: Option<String>,
    #[serde(default)]
    cpe: Vec<String>,
    #[serde(default)]
    generic: bool,
}

fn default_transport() -> Protocol {
    Protocol::Tcp
}
fn default_kind() -> ProbeKind {
    ProbeKind::Send
}
fn default_rarity() -> u8 {
    5
}
fn default_true() -> bool {
    true
}

/// Parse a port list such as `80,443,8000-8100`.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u16 = lo
            .parse()
            .map_err(|_| format!("{part:?} is not a port or a range of ports"))?;
        let hi: u16 = hi
            .parse()
            .map_err(|_| format!("{part:?} is not a port or a range of ports"))?;
        if lo > hi {
            return Err(format!("range {part:?} is backwards"));
        }
        out.push((lo, hi));
    }
    Ok(out)
}

/// Compile a pattern over bytes. `flags` may hold `i` (case-insensitive) and `s` (`.` matches
/// newlines). Unicode is off, so `\xff` means the byte 0xff and `\w`/`\d` are ASCII.
pub fn compile_pattern(pattern: &str, flags: &str) -> Result<Regex, String> {
    compile_pattern_with(pattern, flags, false)
}

/// [`compile_pattern`], optionally reading `\0`, `\012` as octal escapes (PCRE style, as in
/// nmap-service-probes).
pub fn compile_pattern_with(pattern: &str, flags: &str, octal: bool) -> Result<Regex, String> {
    let mut b = RegexBuilder::new(pattern);
    b.unicode(false)
        .octal(octal)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT);
    for f in flags.chars() {
        match f {
            'i' => {
                b.case_insensitive(true);
            }
            's' => {
                b.dot_matches_new_line(true);
            }
            'm' => {
                b.multi_line(true);
            }
            other => return Err(format!("unknown regex flag {other:?} (use i, s or m)")),
        }
    }
    b.build().map_err(|e| {
        // The regex error is multi-line; keep its last line, which says what is wrong.
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("pattern does not compile: {}", last.trim())
    })
}

impl ProbeDb {
    /// The built-in database.
    pub fn embedded() -> Result<ProbeDb, DbError> {
        ProbeDb::from_toml_files(EMBEDDED_FILES)
    }

    /// Parse a database in portolan's TOML format.
    pub fn from_toml(text: &str) -> Result<ProbeDb, DbError> {
        let file: FileToml = toml::from_str(text)?;
        ProbeDb::build(vec![file]).map_err(|(_, e)| e)
    }

    /// Parse a database split over several files `(name, text)`: all probes first, then the
    /// rules file by file. Errors name the file.
    pub fn from_toml_files(files: &[(&str, &str)]) -> Result<ProbeDb, DbError> {
        let mut parsed = Vec::with_capacity(files.len());
        for (name, text) in files {
            let f: FileToml = toml::from_str(text).map_err(|e| DbError::InFile {
                file: (*name).to_string(),
                err: Box::new(DbError::Toml(e)),
            })?;
            parsed.push(f);
        }
        ProbeDb::build(parsed).map_err(|(i, e)| DbError::InFile {
            file: files.get(i).map_or("?", |f| f.0).to_string(),
            err: Box::new(e),
        })
    }

    /// Compile parsed files; an error comes with the index of its file.
    fn build(files: Vec<FileToml>) -> Result<ProbeDb, (usize, DbError)> {
        let mut probes = Vec::new();
        let mut all_rules = Vec::new();
        for (fi, file) in files.into_iter().enumerate() {
            ProbeDb::add_probes(&mut probes, file.probe).map_err(|e| (fi, e))?;
            all_rules.push((fi, file.rules));
        }
        let mut rules = Vec::new();
        for (fi, file_rules) in all_rules {
            ProbeDb::add_rules(&probes, &mut rules, file_rules).map_err(|e| (fi, e))?;
        }
        Ok(ProbeDb {
            probes,
            rules,
            notes: Vec::new(),
        })
    }

    fn add_probes(probes: &mut Vec<Probe>, list: Vec<ProbeToml>) -> Result<(), DbError> {
        for p in list {
            let err = |what: String| DbError::Probe {
                probe: p.name.clone(),
                what,
            };
            if probes.iter().any(|q: &Probe| q.name == p.name) {
                return Err(err("defined twice".into()));
            }
            let mut payload = decode_escapes(&p.payload)
                .map_err(|e: EscapeError| err(format!("payload: {e}")))?;
            if p.pad_to > MAX_PAD {
                return Err(err(format!("pad_to {} is above {MAX_PAD}", p.pad_to)));
            }
            if payload.len() < p.pad_to {
                payload.resize(p.pad_to, 0);
            }
            if !(1..=9).contains(&p.rarity) && p.name != "null" {
                return Err(err(format!("rarity {} is outside 1-9", p.rarity)));
            }
            if !matches!(p.transport, Protocol::Tcp | Protocol::Udp) {
                return Err(err(format!(
                    "transport {:?} is not supported for service probes: use \"tcp\" or \"udp\"",
                    p.transport.as_str()
                )));
            }
            probes.push(Probe {
                ports: parse_ports(&p.ports).map_err(|e| err(format!("ports: {e}")))?,
                tls_ports: parse_ports(&p.tls_ports).map_err(|e| err(format!("tls_ports: {e}")))?,
                name: p.name,
                transport: p.transport,
                kind: p.kind,
                payload,
                rarity: p.rarity,
                wait_ms: p.wait_ms,
                in_tls: p.in_tls,
                reply_from_any_port: p.reply_from_any_port && p.transport == Protocol::Udp,
            });
        }
        Ok(())
    }

    fn add_rules(
        probes: &[Probe],
        rules: &mut Vec<Rule>,
        list: Vec<RuleToml>,
    ) -> Result<(), DbError> {
        for (i, r) in list.into_iter().enumerate() {
            let err = |what: String| DbError::Rule {
                index: i + 1,
                service: r.service.clone(),
                what,
            };
            for p in &r.probes {
                if !probes.iter().any(|q| &q.name == p) {
                    return Err(err(format!("names unknown probe {p:?}")));
                }
            }
            let pattern = compile_pattern(&r.pattern, &r.flags).map_err(err)?;
            rules.push(Rule {
                probes: r.probes,
                service: r.service,
                pattern,
                soft: r.soft,
                product: r.product,
                version: r.version,
                info: r.info,
                hostname: r.hostname,
                cpe: r.cpe,
                generic: r.generic,
            });
        }
        Ok(())
    }

    /// Load a user's installed `nmap-service-probes` (for example
    /// `/usr/share/nmap/nmap-service-probes`). Rules the regex engine cannot compile are
    /// skipped with a note.
    /// At most [`PROBE_FILE_LIMIT`] is read.
    pub fn from_nmap_file(path: &Path) -> Result<ProbeDb, DbError> {
        let bytes = portolan_registry::input::read_bounded(path, PROBE_FILE_LIMIT)?;
        let text = String::from_utf8_lossy(&bytes);
        crate::nmap::parse(&text, &path.display().to_string())
    }

    /// Add another database's probes and rules after this one's (probes with a name already
    /// present keep this database's definition but gain the other's rules).
    pub fn merge(&mut self, other: ProbeDb) {
        for p in other.probes {
            if !self.probes.iter().any(|q| q.name == p.name) {
                self.probes.push(p);
            }
        }
        self.rules.extend(other.rules);
        self.notes.extend(other.notes);
    }

    /// A probe by name.
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// The probes to try on `port`, in order: those that list the port first, then the rest by
    /// rarity; only probes with rarity `<= intensity`, except those that list the port. On the
    /// raw-printing ports ([`PRINTER_PORTS`]) only the probes that list the port.
    pub fn plan(&self, port: u16, transport: Protocol, tls: bool, intensity: u8) -> Vec<&Probe> {
        let printer =
            transport == Protocol::Tcp && (PRINTER_PORTS.0..=PRINTER_PORTS.1).contains(&port);
        let mut v: Vec<(bool, u8, usize, &Probe)> = self
            .probes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.transport == transport && p.name != "null")
            .filter(|(_, p)| !tls || (p.in_tls && p.kind == ProbeKind::Send))
            .filter_map(|(i, p)| {
                let likely = p.likely_on(port, tls) || (tls && p.likely_on(port, false));
                (likely || (p.rarity <= intensity && !printer)).then_some((!likely, p.rarity, i, p))
            })
            .collect();
        v.sort_by_key(|&(unlikely, rarity, i, _)| (unlikely, rarity, i));
        v.into_iter().map(|(_, _, _, p)| p).collect()
    }

    /// Match a reply to `probe` against the rules. Specific rules first (in file order, the
    /// database's own before a merged file's), then the generic ones: the first hard match
    /// wins; else the first soft match. `only_service` restricts to one service (after a soft
    /// match).
    pub fn match_reply(
        &self,
        probe: &str,
        reply: &[u8],
        only_service: Option<&str>,
    ) -> Option<Match> {
        if reply.is_empty() {
            return None;
        }
        let mut soft: Option<Match> = None;
        let specific = self.rules.iter().filter(|r| !r.generic);
        let generic = self.rules.iter().filter(|r| r.generic);
        for rule in specific.chain(generic) {
            if !rule.applies_to(probe) {
                continue;
            }
            if let Some(s) = only_service {
                if rule.service != s {
                    continue;
                }
            }
            if rule.soft && soft.is_some() {
                continue;
            }
            let Some(caps) = rule.pattern.captures(reply) else {
                continue;
            };
            let fill = |t: &Option<String>| {
                t.as_deref()
                    .map(|t| expand_template(t, &caps))
                    .filter(|s| !s.is_empty())
            };
            let m = Match {
                service: rule.service.clone(),
                soft: rule.soft,
                product: fill(&rule.product),
                version: fill(&rule.version),
                info: fill(&rule.info),
                hostname: fill(&rule.hostname),
                cpe: rule
                    .cpe
                    .iter()
                    .map(|c| expand_template(c, &caps))
                    // A template whose version capture was empty: no trailing ':'.
                    .map(|c| c.trim_end_matches(':').to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            };
            if rule.soft {
                soft = Some(m);
            } else {
                return Some(m);
            }
        }
        soft
    }

    /// How many rules each service has (for `docs` and sanity tests).
    pub fn services(&self) -> HashMap<&str, usize> {
        let mut m = HashMap::new();
        for r in &self.rules {
            *m.entry(r.service.as_str()).or_insert(0) += 1;
        }
        m
    }
}

/// Longest value a template expands to.
pub const MAX_FIELD: usize = 200;

/// Fill a template: `$1`..`$9` insert a capture (non-printable bytes dropped), `$P(n)` the
/// same (nmap's spelling), `$$` a dollar sign. A capture that did not participate is empty.
pub fn expand_template(t: &str, caps: &regex::bytes::Captures<'_>) -> String {
    let mut out = String::new();
    let b = t.as_bytes();
    let mut i = 0;
    let push_cap = |out: &mut String, n: usize| {
        if let Some(m) = caps.get(n) {
            for &c in m.as_bytes() {
                if (0x20..0x7f).contains(&c) {
                    out.push(c as char);
                }
            }
        }
    };
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            let c = b[i + 1];
            if c.is_ascii_digit() {
                push_cap(&mut out, (c - b'0') as usize);
                i += 2;
                continue;
            }
            if c == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if t[i..].starts_with("$P(")
                && i + 5 < b.len()
                && b[i + 4] == b')'
                && b[i + 3].is_ascii_digit()
            {
                push_cap(&mut out, (b[i + 3] - b'0') as usize);
                i += 5;
                continue;
            }
        }
        // Copy one UTF-8 character.
        let ch_len = t[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&t[i..i + ch_len]);
        i += ch_len;
    }
    // "$3; protocol $1" with no $3: drop the empty "; "-separated parts.
    if out.contains("; ") || out.starts_with(';') || out.ends_with(';') {
        out = out
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
    }
    if out.len() > MAX_FIELD {
        let mut cut = MAX_FIELD;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_files_are_read_within_a_limit() {
        let e = ProbeDb::from_nmap_file(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, DbError::Read(_)), "{e}");
        assert!(e.to_string().contains("32 MiB"), "{e}");
    }

    #[test]
    fn embedded_db_loads_and_covers_the_lab_services() {
        let db = ProbeDb::embedded().unwrap();
        let services = db.services();
        for s in [
            "ssh",
            "http",
            "ftp",
            "smtp",
            "imap",
            "pop3",
            "mysql",
            "postgresql",
            "redis",
            "memcached",
            "ldap",
            "mqtt",
            "domain",
            "http-proxy",
            "snmp",
        ] {
            assert!(services.contains_key(s), "no rule names {s}");
        }
        assert!(db.probe("null").is_some());
        assert!(db.probe("tls").is_some());
    }

    #[test]
    fn a_loaded_nmap_rule_beats_portolans_generic_rule() {
        // A vendor rule of the kind a user's nmap-service-probes holds (written here, not
        // copied): Portolan has no rule for this SSH server, only the generic `^SSH-` one.
        let nmap = crate::nmap::parse(
            "Probe TCP NULL q||\nmatch ssh m|^SSH-([\\d.]+)-FancySSH_(\\S+)| p/Fancy Secure Shell/ v/$2/ i/from the loaded file/\n",
            "test-probes",
        )
        .unwrap();
        let mut db = ProbeDb::embedded().unwrap();
        db.merge(nmap);
        let m = db
            .match_reply("null", b"SSH-2.0-FancySSH_1.2 x\r\n", None)
            .unwrap();
        assert_eq!(m.product.as_deref(), Some("Fancy Secure Shell"));
        assert_eq!(m.version.as_deref(), Some("1.2"));
        assert_eq!(m.info.as_deref(), Some("from the loaded file"));
        // Portolan's own vendor rule still wins over both for what it knows.
        let m = db
            .match_reply("null", b"SSH-2.0-OpenSSH_9.2p1\r\n", None)
            .unwrap();
        assert_eq!(m.product.as_deref(), Some("OpenSSH"));
        // And with nothing loaded, the generic rule splits the software version.
        let m = ProbeDb::embedded()
            .unwrap()
            .match_reply("null", b"SSH-2.0-FancySSH_1.2 x\r\n", None)
            .unwrap();
        assert_eq!(m.service, "ssh");
        assert_eq!(m.product.as_deref(), Some("FancySSH"));
        assert_eq!(m.version.as_deref(), Some("1.2"));
    }

    #[test]
    fn every_rule_without_a_product_is_marked_generic() {
        // A rule that names only the service must not shadow a richer rule tried after it.
        let db = ProbeDb::embedded().unwrap();
        for r in &db.rules {
            if r.product.is_none() && !r.soft {
                assert!(
                    r.generic,
                    "rule for {} ({}) names no product: mark it generic",
                    r.service, r.pattern
                );
            }
        }
    }

    #[test]
    fn ports_parse() {
        assert_eq!(
            parse_ports("80, 8000-8010").unwrap(),
            vec![(80, 80), (8000, 8010)]
        );
        assert!(parse_ports("9-1").is_err());
        assert!(parse_ports("x").is_err());
        assert_eq!(parse_ports("").unwrap(), vec![]);
    }

    #[test]
    fn templates_fill_from_captures() {
        let re = compile_pattern(r"^SSH-([\d.]+)-OpenSSH_(\S+)", "").unwrap();
        let caps = re.captures(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n").unwrap();
        assert_eq!(expand_template("v$2 ($1)", &caps), "v9.2p1 (2.0)");
        assert_eq!(expand_template("$P(2)$$", &caps), "9.2p1$");
        assert_eq!(expand_template("$7", &caps), "");
        assert_eq!(expand_template("$7; protocol $1", &caps), "protocol 2.0");
        assert_eq!(expand_template("$2; $7", &caps), "9.2p1");
    }

    #[test]
    fn patterns_match_bytes_not_unicode() {
        let re = compile_pattern(r"^\xff\x00.", "s").unwrap();
        assert!(re.is_match(b"\xff\x00\n"));
        assert!(compile_pattern(r"(a)\1", "").is_err());
        assert!(compile_pattern("a", "z").is_err());
    }

    #[test]
    fn plan_puts_likely_probes_first() {
        let db = ProbeDb::embedded().unwrap();
        let plan = db.plan(6379, Protocol::Tcp, false, 9);
        assert_eq!(plan[0].name, "redis-ping");
        let plan = db.plan(11211, Protocol::Tcp, false, 9);
        assert_eq!(plan[0].name, "memcached-version");
        let plan = db.plan(12345, Protocol::Tcp, false, 9);
        assert_eq!(plan[0].name, "tls");
        assert!(plan.iter().all(|p| p.transport == Protocol::Tcp));
    }

    #[test]
    fn bad_databases_are_errors_that_say_why() {
        let e = ProbeDb::from_toml("[[probe]]\nname='x'\npayload='\\xZZ'\n").unwrap_err();
        assert!(e.to_string().contains("payload"), "{e}");
        let e = ProbeDb::from_toml("[[match]]\nservice='x'\nprobes=['nope']\npattern='a'\n")
            .unwrap_err();
        assert!(e.to_string().contains("unknown probe"), "{e}");
        let e = ProbeDb::from_toml("[[match]]\nservice='x'\npattern='(a'\n").unwrap_err();
        assert!(e.to_string().contains("does not compile"), "{e}");
    }

    #[test]
    fn probe_transports_are_the_registry_protocols_tcp_and_udp_only() {
        let db = ProbeDb::from_toml("[[probe]]\nname='x'\ntransport='udp'\nrarity=1\n").unwrap();
        assert_eq!(db.probes[0].transport, Protocol::Udp);
        let db = ProbeDb::from_toml("[[probe]]\nname='x'\nrarity=1\n").unwrap();
        assert_eq!(db.probes[0].transport, Protocol::Tcp, "tcp by default");
        // The registry knows SCTP and DCCP; probes over them are refused by name.
        for t in ["sctp", "dccp"] {
            let e =
                ProbeDb::from_toml(&format!("[[probe]]\nname='x'\ntransport='{t}'\n")).unwrap_err();
            assert!(matches!(e, DbError::Probe { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(t) && msg.contains("not supported"), "{msg}");
            assert!(msg.contains("\"tcp\" or \"udp\""), "{msg}");
        }
        let e = ProbeDb::from_toml("[[probe]]\nname='x'\ntransport='icmp'\n").unwrap_err();
        assert!(e.to_string().contains("icmp"), "{e}");
    }
}
