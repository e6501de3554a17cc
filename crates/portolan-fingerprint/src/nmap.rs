//! Reader for nmap's `nmap-service-probes` format, so a user can load the copy installed with
//! their nmap at run time (`--probes-file`). Nothing of that file is shipped with portolan.
//!
//! Supported directives: `Probe`, `match`, `softmatch`, `ports`, `sslports`, `rarity`,
//! `totalwaitms`. `Exclude`, `fallback`, `tcpwrappedms` are accepted and ignored. A `match` whose
//! regex the `regex` crate cannot compile (back-references, look-around, possessive
//! quantifiers) is skipped and counted in [`ProbeDb::notes`].

use crate::db::{compile_pattern_with, parse_ports, DbError, Probe, ProbeDb, ProbeKind, Rule};
use crate::escape::decode_escapes;
use portolan_registry::Protocol;

/// Split `X<delim>body<delim>rest` → (body, rest). `s` starts at the delimiter.
fn delimited(s: &str) -> Option<(&str, &str)> {
    let mut chars = s.chars();
    let d = chars.next()?;
    let body = chars.as_str();
    let end = body.find(d)?;
    Some((&body[..end], &body[end + d.len_utf8()..]))
}

/// Parse one `match`/`softmatch` line's remainder: `service m|re|flags p/x/ v/y/ cpe:/z/a`.
/// A parsed match line: service, pattern, flags, template fields.
type MatchLine = (String, String, String, Vec<(String, String)>);

fn parse_match(rest: &str) -> Result<MatchLine, String> {
    let rest = rest.trim_start();
    let (service, rest) = rest
        .split_once(char::is_whitespace)
        .ok_or("a match needs a service name and a pattern")?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix('m')
        .ok_or("the pattern must start with m")?;
    let (pattern, rest) = delimited(rest).ok_or("the pattern is not closed")?;
    let flags: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let mut rest = &rest[flags.len()..];
    let mut fields = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = if let Some(a) = rest.strip_prefix("cpe:") {
            ("cpe".to_string(), a)
        } else {
            let k = rest.chars().next().map(String::from).unwrap_or_default();
            (k.clone(), &rest[k.len()..])
        };
        let (val, after) = delimited(after).ok_or_else(|| format!("field {key} is not closed"))?;
        // cpe:/.../a — a trailing 'a' flag.
        let after = if key == "cpe" {
            after.strip_prefix('a').unwrap_or(after)
        } else {
            after
        };
        let val = if key == "cpe" {
            format!("cpe:/{val}")
        } else {
            val.to_string()
        };
        fields.push((key, val));
        rest = after;
    }
    Ok((service.to_string(), pattern.to_string(), flags, fields))
}

/// Translate the PCRE escapes nmap's patterns use that Rust's `regex` spells differently:
/// octal `\0`, `\012` become `\x00`, `\x0a`. A back-reference (`\1`..`\9`) is an error:
/// the `regex` crate has none.
pub fn pcre_to_rust(p: &str) -> Result<String, String> {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' && !is_repetition(&p[i..]) {
            // PCRE reads a brace that opens no {n}, {n,}, {n,m} as a literal.
            out.push_str("\\{");
            i += 1;
            continue;
        }
        if b[i] == b'}' && !closes_repetition(&out) {
            out.push_str("\\}");
            i += 1;
            continue;
        }
        if b[i] != b'\\' || i + 1 >= b.len() {
            let len = p[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&p[i..i + len]);
            i += len;
            continue;
        }
        let c = b[i + 1];
        match c {
            b'0' => {
                let mut j = i + 2;
                let mut v: u32 = 0;
                while j < b.len() && j < i + 4 && (b'0'..=b'7').contains(&b[j]) {
                    v = v * 8 + u32::from(b[j] - b'0');
                    j += 1;
                }
                out.push_str(&format!("\\x{:02x}", v.min(255)));
                i = j;
            }
            b'1'..=b'9' => return Err(format!("back-reference \\{} is not supported", c as char)),
            _ => {
                out.push('\\');
                let len = p[i + 1..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&p[i + 1..i + 1 + len]);
                i += 1 + len;
            }
        }
    }
    Ok(out)
}

/// Whether `s` (starting at `{`) is a counted repetition `{n}`, `{n,}` or `{n,m}`.
fn is_repetition(s: &str) -> bool {
    let Some(end) = s.find('}') else {
        return false;
    };
    let inner = &s[1..end];
    let (a, b) = inner.split_once(',').unwrap_or((inner, ""));
    !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
}

/// Whether the `}` about to be written closes a repetition already written to `out`.
fn closes_repetition(out: &str) -> bool {
    let Some(open) = out.rfind('{') else {
        return false;
    };
    if out[..open].ends_with('\\') {
        return false;
    }
    let inner = &out[open + 1..];
    let (a, b) = inner.split_once(',').unwrap_or((inner, ""));
    !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
}

/// Parse the text of an nmap-service-probes file.
pub fn parse(text: &str, path: &str) -> Result<ProbeDb, DbError> {
    let mut db = ProbeDb {
        probes: Vec::new(),
        rules: Vec::new(),
        notes: Vec::new(),
    };
    let mut skipped = 0usize;
    let mut first_skips = Vec::new();
    let err = |line: usize, what: String| DbError::Nmap {
        path: path.to_string(),
        line,
        what,
    };
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (dir, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match dir {
            "Probe" => {
                let mut it = rest.trim().splitn(3, char::is_whitespace);
                let proto = it.next().unwrap_or("");
                let name = it.next().unwrap_or("");
                let q = it.next().unwrap_or("").trim();
                let transport = match proto {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    other => return Err(err(n, format!("unknown probe protocol {other:?}"))),
                };
                let q = q
                    .strip_prefix('q')
                    .ok_or_else(|| err(n, "probe string must start with q".into()))?;
                let (payload, _) =
                    delimited(q).ok_or_else(|| err(n, "probe string is not closed".into()))?;
                let payload =
                    decode_escapes(payload).map_err(|e| err(n, format!("probe string: {e}")))?;
                let name = if name == "NULL" {
                    "null".to_string()
                } else {
                    name.to_string()
                };
                db.probes.push(Probe {
                    name,
                    transport,
                    kind: ProbeKind::Send,
                    payload,
                    ports: Vec::new(),
                    tls_ports: Vec::new(),
                    rarity: 5,
                    wait_ms: 0,
                    in_tls: true,
                    reply_from_any_port: false,
                });
            }
            "match" | "softmatch" => {
                let Some(probe) = db.probes.last() else {
                    return Err(err(n, "a match before any Probe".into()));
                };
                let probe = probe.name.clone();
                let (service, pattern, flags, fields) = match parse_match(rest) {
                    Ok(x) => x,
                    Err(e) => {
                        skipped += 1;
                        if first_skips.len() < 5 {
                            first_skips.push(format!("line {n}: {e}"));
                        }
                        continue;
                    }
                };
                let flags: String = flags.chars().filter(|c| matches!(c, 'i' | 's')).collect();
                let re = match pcre_to_rust(&pattern)
                    .and_then(|p| compile_pattern_with(&p, &flags, false))
                {
                    Ok(r) => r,
                    Err(e) => {
                        skipped += 1;
                        if first_skips.len() < 5 {
                            first_skips.push(format!("line {n} ({service}): {e}"));
                        }
                        continue;
                    }
                };
                let mut rule = Rule {
                    probes: vec![probe],
                    service,
                    pattern: re,
                    soft: dir == "softmatch",
                    product: None,
                    version: None,
                    info: None,
                    hostname: None,
                    cpe: Vec::new(),
                    generic: false,
                };
                for (k, v) in fields {
                    match k.as_str() {
                        "p" => rule.product = Some(v),
                        "v" => rule.version = Some(v),
                        "i" => rule.info = Some(v),
                        "h" => rule.hostname = Some(v),
                        "cpe" => rule.cpe.push(v),
                        _ => {} // o/ (OS) and d/ (device type) are not used
                    }
                }
                db.rules.push(rule);
            }
            "ports" | "sslports" | "rarity" | "totalwaitms" => {
                let Some(probe) = db.probes.last_mut() else {
                    return Err(err(n, format!("{dir} before any Probe")));
                };
                let rest = rest.trim();
                match dir {
                    "ports" => probe.ports = parse_ports(rest).map_err(|e| err(n, e))?,
                    "sslports" => probe.tls_ports = parse_ports(rest).map_err(|e| err(n, e))?,
                    "rarity" => {
                        probe.rarity = rest
                            .parse::<u8>()
                            .map_err(|_| err(n, format!("rarity {rest:?} is not a number")))?
                            .clamp(1, 9)
                    }
                    _ => {
                        probe.wait_ms = rest
                            .parse::<u64>()
                            .map_err(|_| err(n, format!("totalwaitms {rest:?} is not a number")))?
                    }
                }
            }
            "Exclude" | "fallback" | "tcpwrappedms" => {}
            other => db
                .notes
                .push(format!("{path}:{n}: unknown directive {other:?} ignored")),
        }
    }
    if skipped > 0 {
        db.notes.push(format!(
            "{path}: skipped {skipped} match rules the regex engine cannot compile or parse (e.g. {})",
            first_skips.join("; ")
        ));
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A small file in nmap's format, written for this test.
    const SAMPLE: &str = r#"
# comment
Exclude T:9100-9107
Probe TCP NULL q||
totalwaitms 5000
match ssh m|^SSH-([\d.]+)-Foo_([\w.]+)\r?\n| p/Foo SSH/ v/$2/ i/protocol $1/ cpe:/a:foo:ssh:$2/a
match broken m|^(a)\1| p/needs backrefs/
softmatch ftp m|^220[ -]|
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80,8000-8010
sslports 443
match http m=^HTTP/1\.[01] \d\d\d .*\r\nServer: Bar/([\d.]+)=s p/Bar httpd/ v/$1/
"#;

    #[test]
    fn reads_probes_and_rules_and_skips_what_does_not_compile() {
        let db = parse(SAMPLE, "sample").unwrap();
        assert_eq!(db.probes.len(), 2);
        assert_eq!(db.probes[0].name, "null");
        assert_eq!(db.probes[0].wait_ms, 5000);
        assert_eq!(db.probes[1].payload, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(db.probes[1].ports, vec![(80, 80), (8000, 8010)]);
        assert_eq!(db.probes[1].tls_ports, vec![(443, 443)]);
        assert_eq!(db.rules.len(), 3);
        assert_eq!(db.notes.len(), 1, "{:?}", db.notes);
        assert!(db.notes[0].contains("skipped 1"));
        let m = db
            .match_reply("null", b"SSH-2.0-Foo_1.2\r\n", None)
            .unwrap();
        assert_eq!(m.product.as_deref(), Some("Foo SSH"));
        assert_eq!(m.version.as_deref(), Some("1.2"));
        assert_eq!(m.cpe, vec!["cpe:/a:foo:ssh:1.2"]);
        let m = db
            .match_reply(
                "GetRequest",
                b"HTTP/1.1 200 OK\r\nServer: Bar/2.4\r\n\r\n",
                None,
            )
            .unwrap();
        assert_eq!(
            (m.service.as_str(), m.version.as_deref()),
            ("http", Some("2.4"))
        );
        assert!(db.match_reply("null", b"220 hi", None).unwrap().soft);
    }

    #[test]
    fn pcre_escapes() {
        assert_eq!(pcre_to_rust(r"^\0\012a\\0").unwrap(), r"^\x00\x0aa\\0");
        assert!(pcre_to_rust(r"(a)\1").is_err());
        assert_eq!(
            pcre_to_rust(r#"^{"a":1}x{2,3}"#).unwrap(),
            r#"^\{"a":1\}x{2,3}"#
        );
        assert!(compile_pattern_with(&pcre_to_rust(r#"^{"x""#).unwrap(), "", false).is_ok());
        assert_eq!(pcre_to_rust("é\\").unwrap(), "é\\");
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse("match x m|a|\n", "f").unwrap_err();
        assert!(e.to_string().starts_with("f:1:"), "{e}");
        let e = parse("Probe SCTP x q||\n", "f").unwrap_err();
        assert!(e.to_string().contains("SCTP"), "{e}");
    }

    #[test]
    fn reads_the_installed_nmap_file_if_present() {
        let p = std::path::Path::new("/usr/share/nmap/nmap-service-probes");
        if !p.exists() {
            eprintln!("skip: {} not installed", p.display());
            return;
        }
        let db = ProbeDb::from_nmap_file(p).unwrap();
        assert!(db.probes.len() > 50);
        assert!(db.rules.len() > 1000);
        assert!(db.probe("null").is_some());
    }
}
