//! Escaping of untrusted text for the terminal: the one function every command uses.

/// Whether `c` must not reach a terminal as is: C0 controls (including newline, tab and ESC),
/// DEL, C1 controls (including CSI, U+009B), bidirectional overrides, embeddings, isolates and
/// marks (U+202A-202E, U+2066-2069, U+200E, U+200F, U+061C), zero-width characters (U+200B-200D,
/// U+2060, U+FEFF), and the line and paragraph separators (U+2028, U+2029).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// Make text from an untrusted source (banners, registry text, process names, file names)
/// safe to print on a terminal. This is the one function every command uses for that.
///
/// Every character for which [`is_unsafe`] holds becomes a visible escape: `\n`, `\r`, `\t`,
/// `\xHH` for the other C0 controls and DEL, `\u{HHHH}` for the rest (C1 controls, bidi and
/// zero-width characters). A backslash becomes `\\`, so the escaped form is unambiguous: a
/// server that sends the six characters `\u{202e}` is shown as `\\u{202e}`.
pub fn escape(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
