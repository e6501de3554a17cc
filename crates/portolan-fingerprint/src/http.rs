//! Reading an HTTP/1.x response (RFC 9112) from untrusted bytes: status, `Server`, the
//! authentication scheme asked for, and the HTML title. Never panics, whatever the bytes.

use crate::report::HttpInfo;

/// Longest title kept.
const TITLE_CAP: usize = 200;

/// Parse the start of an HTTP response. `None` if it is not one.
pub fn parse_response(b: &[u8]) -> Option<HttpInfo> {
    let rest = b.strip_prefix(b"HTTP/")?;
    let line_end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let line = &rest[..line_end];
    let mut parts = line.split(|&c| c == b' ');
    let _version = parts.next()?;
    let status = std::str::from_utf8(parts.next()?)
        .ok()?
        .trim()
        .parse::<u16>()
        .ok()?;
    let mut info = HttpInfo {
        status,
        ..HttpInfo::default()
    };
    let after = rest.get(line_end + 1..).unwrap_or(&[]);
    let (head, body) = match find(after, b"\r\n\r\n") {
        Some(i) => (&after[..i], &after[i + 4..]),
        None => match find(after, b"\n\n") {
            Some(i) => (&after[..i], &after[i + 2..]),
            None => (after, &[][..]),
        },
    };
    for line in head.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim()
            .to_string();
        let value: String = value.chars().take(TITLE_CAP).collect();
        match name.as_str() {
            "server" if info.server.is_none() => info.server = Some(value),
            "www-authenticate" | "proxy-authenticate" if info.auth.is_none() => {
                info.auth = value.split_whitespace().next().map(str::to_string)
            }
            _ => {}
        }
    }
    info.title = title(body);
    Some(info)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The text of the first `<title>` element, whitespace collapsed.
pub fn title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let open = find(&lower, b"<title")?;
    let gt = open + lower[open..].iter().position(|&c| c == b'>')? + 1;
    let close = gt + find(&lower[gt..], b"</title").unwrap_or(lower.len() - gt);
    let raw = String::from_utf8_lossy(&body[gt..close]);
    let t: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let t: String = t.chars().take(TITLE_CAP).collect();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_status_server_title() {
        let r = b"HTTP/1.1 401 Unauthorized\r\nServer: nginx/1.22.1\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n<html><head><TITLE>\n Hello   lab </title>";
        let i = parse_response(r).unwrap();
        assert_eq!(i.status, 401);
        assert_eq!(i.server.as_deref(), Some("nginx/1.22.1"));
        assert_eq!(i.auth.as_deref(), Some("Basic"));
        assert_eq!(i.title.as_deref(), Some("Hello lab"));
        assert!(parse_response(b"SSH-2.0-x").is_none());
        assert!(parse_response(b"HTTP/1.1 abc").is_none());
        assert_eq!(title(b"<title>unclosed"), Some("unclosed".into()));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_response(&b);
            let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
            h.extend_from_slice(&b);
            prop_assert!(parse_response(&h).is_some());
        }
    }
}
