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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        fn hex_roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
            prop_assert_eq!(decode_escapes(&s).unwrap(), bytes);
        }
    }
}
