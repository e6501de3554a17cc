//! C-style escapes in probe payloads: `\r \n \t \0 \a \b \f \v \\ \xHH` (and `\|` style escapes
//! of any other punctuation, which stand for the character itself).

/// A payload escape that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error("a lone backslash at the end (write \\\\ for a backslash)")]
    Trailing,
    #[error("\\x must be followed by two hex digits, at byte {0}")]
    BadHex(usize),
    #[error("unknown escape \\{0} (use \\r \\n \\t \\0 \\xHH or \\\\)")]
    Unknown(char),
}

/// Decode a payload string into bytes. Characters outside ASCII are taken as their UTF-8
/// bytes.
pub fn decode_escapes(s: &str) -> Result<Vec<u8>, EscapeError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let Some(&c) = b.get(i + 1) else {
            return Err(EscapeError::Trailing);
        };
        i += 2;
        out.push(match c {
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'0' => 0,
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b'x' => {
                let hex = b.get(i..i + 2).ok_or(EscapeError::BadHex(i - 2))?;
                let h = std::str::from_utf8(hex).map_err(|_| EscapeError::BadHex(i - 2))?;
                let v = u8::from_str_radix(h, 16).map_err(|_| EscapeError::BadHex(i - 2))?;
                i += 2;
                v
            }
            c if c.is_ascii_punctuation() => c,
            c => return Err(EscapeError::Unknown(c as char)),
        });
    }
    Ok(out)
}

/// The printable form of bytes from the network, as an unrecognised service's fingerprint:
/// printable ASCII as is, `\r \n \t \0 \\ \"` escaped, every other byte as `\xHH`; at most
/// `cap` input bytes (a trailing `...` says more came). The result is printable ASCII only, so
/// it can reach a terminal or an XML attribute without further escaping of control bytes;
/// [`decode_escapes`] turns it back into the bytes (minus the `...`).
pub fn fingerprint_text(bytes: &[u8], cap: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(cap) + 8);
    for &c in bytes.iter().take(cap) {
        match c {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    if bytes.len() > cap {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fingerprints_are_printable_and_decode_back() {
        let b = b"220 mystery\r\n\x00\x1b[2J\xff\"\\";
        let f = fingerprint_text(b, 64);
        assert_eq!(f, r#"220 mystery\r\n\0\x1b[2J\xff\"\\"#);
        assert_eq!(decode_escapes(&f).unwrap(), b);
        assert_eq!(fingerprint_text(b"abcdef", 3), "abc...");
    }

    #[test]
    fn decodes() {
        assert_eq!(decode_escapes(r"GET /\r\n").unwrap(), b"GET /\r\n");
        assert_eq!(
            decode_escapes(r"\x00\xff\0\\\|").unwrap(),
            b"\x00\xff\x00\\|"
        );
        assert_eq!(decode_escapes(r"\x4"), Err(EscapeError::BadHex(0)));
        assert_eq!(decode_escapes("a\\"), Err(EscapeError::Trailing));
        assert_eq!(decode_escapes(r"\q"), Err(EscapeError::Unknown('q')));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = decode_escapes(&s);
        }

        #[test]
        fn fingerprint_roundtrips(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let f = fingerprint_text(&bytes, 256);
            prop_assert!(f.bytes().all(|c| (0x20..0x7f).contains(&c)));
            prop_assert_eq!(decode_escapes(&f).unwrap(), bytes);
        }

        #[test]
        fn hex_roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
            prop_assert_eq!(decode_escapes(&s).unwrap(), bytes);
        }
    }
}
