//! Terminal helpers: colour that turns itself off, and escaping of untrusted text.

use std::io::IsTerminal;

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub enabled: bool,
}

impl Style {
    /// Decide for standard output.
    pub fn for_stdout(choice: ColorChoice) -> Style {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                    && std::io::stdout().is_terminal()
            }
        };
        Style { enabled }
    }

    fn wrap(&self, code: &str, s: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
}

/// The one escaping function for text from outside (banners, hostnames, file names): it
/// lives in `portolan-report`, whose renderers use it too.
pub use portolan_report::escape;
#[cfg(test)]
use portolan_report::is_unsafe;

impl portolan_report::Paint for Style {
    fn bold(&self, s: &str) -> String {
        Style::bold(self, s)
    }
    fn dim(&self, s: &str) -> String {
        Style::dim(self, s)
    }
    fn red(&self, s: &str) -> String {
        Style::red(self, s)
    }
    fn yellow(&self, s: &str) -> String {
        Style::yellow(self, s)
    }
    fn green(&self, s: &str) -> String {
        Style::green(self, s)
    }
}

/// [`escape`] each line of a message of our own that embeds outside text (an error naming a
/// hostile file name): the message's own line breaks stay, everything else is escaped.
pub fn escape_lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// Whether an error is standard output closed under us (`portolan port 1-65535 | head -1`).
/// Recognised by the `io::Error` in its chain, or the one a scan's output failed with.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .or_else(|| {
                c.downcast_ref::<portolan_scan::session::ScanError>()
                    .and_then(|s| s.io_error())
            })
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Make a closed standard output end the program quietly with status 0, as for any Unix filter
/// (`portolan port 1-65535 | head -1`). Commands return the write error (see
/// [`is_broken_pipe`]); `print!`/`println!` panic on it instead, so the panic hook exits for
/// that one panic and leaves every other panic as it was.
pub fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

/// Write `s` to standard output (locked, flushed); errors go to the caller, so a closed pipe
/// is an error [`is_broken_pipe`] recognises, never a panic.
pub fn print_out(s: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// [`print_out`], where a closed standard output is no error: for commands whose exit status
/// still matters then (`--fail-on`).
pub fn print_out_unless_closed(s: &str) -> std::io::Result<()> {
    match print_out(s) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_control_sequences() {
        let hostile = "ok\x1b]0;pwned\x07\x1b[2J\u{9b}31m";
        let e = escape(hostile);
        assert!(!e.contains('\x1b'));
        assert!(!e.contains('\x07'));
        assert!(!e.contains('\u{9b}'));
        assert!(e.starts_with("ok"));
    }

    #[test]
    fn escape_covers_bidi_zero_width_and_newlines() {
        assert_eq!(escape("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape("\x1b[2J"), "\\x1b[2J");
        assert_eq!(escape("\x7f"), "\\x7f");
        assert_eq!(escape("\u{9b}"), "\\u{009b}");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("anon\u{200b}ymous"), "anon\\u{200b}ymous");
        assert_eq!(escape("\u{feff}x"), "\\u{feff}x");
        // Unambiguous: the literal text of an escape is itself escaped.
        assert_eq!(escape("\\u{202e}"), "\\\\u{202e}");
        assert_ne!(escape("\\x1b"), escape("\x1b"));
        // Ordinary text, including non-Latin scripts, is left alone.
        assert_eq!(
            escape("caf\u{e9} \u{65e5}\u{672c} ok"),
            "caf\u{e9} \u{65e5}\u{672c} ok"
        );
    }

    proptest::proptest! {
        #[test]
        fn escape_output_is_always_safe(s in "\\PC*|[\\x00-\\x{a0}\\u{200b}-\\u{2070}\\u{061c}\\u{feff}\\\\]*") {
            let e = escape(&s);
            proptest::prop_assert!(!e.chars().any(is_unsafe), "{:?} -> {:?}", s, e);
        }

        #[test]
        fn escape_is_injective(a in "[a-z\\\\\\x00-\\x1f\\u{202e}{}u]{0,8}", b in "[a-z\\\\\\x00-\\x1f\\u{202e}{}u]{0,8}") {
            if a != b {
                proptest::prop_assert_ne!(escape(&a), escape(&b));
            }
        }
    }

    #[test]
    fn escape_lines_keeps_line_breaks_only() {
        assert_eq!(escape_lines("a\x1b[2J\nb\u{202e}"), "a\\x1b[2J\nb\\u{202e}");
    }

    #[test]
    fn style_off_is_plain() {
        let s = Style { enabled: false };
        assert_eq!(s.red("x"), "x");
        let s = Style { enabled: true };
        assert_eq!(s.red("x"), "\x1b[1;31mx\x1b[0m");
    }
}
