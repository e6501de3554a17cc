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
    fn style_off_is_plain() {
        let s = Style { enabled: false };
        assert_eq!(s.red("x"), "x");
        let s = Style { enabled: true };
        assert_eq!(s.red("x"), "\x1b[1;31mx\x1b[0m");
    }
}
