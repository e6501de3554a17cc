//! Version ordering for matching detected versions against NVD ranges.
//!
//! Upstream version strings are not semver: OpenSSH says `9.2p1`, ProFTPD `1.3.8a` (after
//! `1.3.8`), Dovecot `2.3.19.1`, BIND `9.16.1-S1`, Redis `7.0` where it means `7.0.0`. A
//! [`Version`] splits the string into tokens — runs of digits and runs of letters; `.`, `-`,
//! `_`, `+`, `~` and `:` only separate — and compares token by token, the shorter one padded with
//! an *end* token. Each token has a rank:
//!
//! | token | rank | examples |
//! |---|---|---|
//! | pre-release word | lowest | `alpha`, `beta`, `rc`, `pre`, `preview`, `dev`, `snapshot` |
//! | end, or the number 0 | | `7.0` = `7.0.0` = `7` |
//! | any other word (a patch or edition letter) | | `p` in `9.2p1`, `a` in `1.3.8a`, `s` in `9.16.1-S1` |
//! | a number > 0 | highest among themselves by value | `19`, `0012` (= `12`) |
//!
//! So `1.0rc1 < 1.0 < 1.0a < 1.0.1`, `9.2 < 9.2p1 < 9.3`, `1.3.8 < 1.3.8a`, `2.3.19.1` lies in
//! `[2.3, 2.4.0)`. Words compare case-insensitively. The order is total and consistent with
//! `Eq` (both are defined on the same canonical token list: trailing ends and zeros dropped),
//! which the property tests check.
//!
//! Tokens are packed into integers for speed: words keep their first 12 letters, numbers
//! saturate at 2^62 (no real version is that long).
//!
//! Versions of different schemes (`r27` for NGINX Plus, `1.22.1` for nginx) are ordered but
//! not comparable in meaning: [`Version::same_scheme`] tells the matcher to refuse such a range.

use std::cmp::Ordering;
use std::fmt;

/// Words that mark a version *before* the release they are attached to.
const PRE_RELEASE: &[&str] = &["alpha", "beta", "rc", "pre", "preview", "dev", "snapshot"];

/// Token classes, in rank order, in the top two bits of a packed token.
const PRE: u64 = 0;
const END: u64 = 1 << 62;
const WORD: u64 = 2 << 62;
const NUM: u64 = 3 << 62;
/// The largest value a packed token holds (62 bits).
const MAX_VALUE: u64 = (1 << 62) - 1;

/// A word packed as base-27 digits (`a` = 1 … `z` = 26, other letters 26), its first 12 letters,
/// padded with 0: the numeric order of the packed words is their lexicographic order.
fn pack_word(w: &str) -> u64 {
    let mut v: u64 = 0;
    let mut n = 0;
    for c in w.chars().take(12) {
        let d = if c.is_ascii_lowercase() {
            u64::from(c as u8 - b'a') + 1
        } else {
            26
        };
        v = v * 27 + d;
        n += 1;
    }
    for _ in n..12 {
        v *= 27;
    }
    v
}

/// A parsed version string; see the module documentation for its order.
#[derive(Clone, Debug)]
pub struct Version {
    text: String,
    /// Packed tokens (class in the top two bits, value below): compared as integers.
    tokens: Vec<u64>,
    /// Whether the text starts with a digit (its numbering scheme, for [`Version::same_scheme`]).
    numeric: bool,
}

impl Version {
    /// Parse any string (never fails: an empty string is the lowest release, `0`).
    pub fn parse(s: &str) -> Version {
        let mut tokens = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() {
                // Leading zeros carry no value; numbers beyond 62 bits (no real version has
                // them) saturate.
                let mut value: u64 = 0;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    value = value
                        .saturating_mul(10)
                        .saturating_add(u64::from(d))
                        .min(MAX_VALUE);
                    chars.next();
                }
                tokens.push(if value == 0 { END } else { NUM | value });
            } else if c.is_alphabetic() {
                // The word lowercased, its first 16 bytes kept inline (enough to tell the
                // pre-release words; packing keeps 12 letters).
                let mut w = [0u8; 16];
                let mut n = 0;
                let mut other = false;
                while let Some(&d) = chars.peek() {
                    if !d.is_alphabetic() {
                        break;
                    }
                    for l in d.to_lowercase() {
                        if l.is_ascii_lowercase() {
                            if n < w.len() {
                                w[n] = l as u8;
                            }
                        } else if n < w.len() {
                            // Any other letter packs as the highest digit (as `pack_word`).
                            w[n] = b'{';
                            other = true;
                        }
                        n += 1;
                    }
                    chars.next();
                }
                let word = std::str::from_utf8(&w[..n.min(w.len())]).unwrap_or("");
                let pre = !other && n <= w.len() && PRE_RELEASE.contains(&word);
                tokens.push(if pre {
                    PRE | pack_word(word)
                } else {
                    WORD | pack_word(word)
                });
            } else {
                // A separator, or a character that carries no order (`*`, `(`, ...).
                chars.next();
            }
        }
        while tokens.last() == Some(&END) {
            tokens.pop();
        }
        Version {
            text: s.to_string(),
            tokens,
            numeric: s.trim_start().starts_with(|c: char| c.is_ascii_digit()),
        }
    }

    /// The string it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The packed tokens (for the matcher's compact criteria index).
    pub(crate) fn tokens(&self) -> &[u64] {
        &self.tokens
    }

    /// Whether the text starts with a digit.
    pub(crate) fn is_numeric(&self) -> bool {
        self.numeric
    }

    /// Whether both versions begin the same way (a number, or a word): `r27` (NGINX Plus) and
    /// `1.22.1` (nginx) are different numbering schemes, and a range in one says nothing about
    /// a version in the other.
    pub fn same_scheme(&self, other: &Version) -> bool {
        self.numeric == other.numeric
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.tokens.len().max(other.tokens.len());
        for i in 0..n {
            let a = self.tokens.get(i).unwrap_or(&END);
            let b = other.tokens.get(i).unwrap_or(&END);
            match a.cmp(b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s)
    }

    #[test]
    fn real_world_orderings() {
        let ascending = [
            ("1.0rc1", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0.1"),
            ("9.2", "9.2p1"),
            ("9.2p1", "9.2p2"),
            ("9.2p1", "9.3"),
            ("8.9", "9.2p1"),
            ("1.3.8", "1.3.8a"),
            ("1.3.8a", "1.3.8b"),
            ("1.3.8b", "1.3.9"),
            ("2.3", "2.3.19.1"),
            ("2.3.19.1", "2.3.20"),
            ("2.3.19.1", "2.4.0"),
            ("9.16.1", "9.16.1-S1"),
            ("9.16.1-S1", "9.16.2"),
            ("9.11.3-S1", "9.11.37-S1"),
            ("7.0.11", "7.0.12"),
            ("7.0.9", "7.0.15"),
            ("7.2.0-rc3", "7.2.0"),
            ("2.6.0-rc1", "2.6.0"),
            ("1.22.0", "1.22.1"),
            ("1.9", "1.10"),
            ("1.20.1", "1.22.1"),
            ("1.0alpha", "1.0beta"),
            ("1.0rc1", "1.0rc2"),
            ("9.2p", "9.2pa"),
        ];
        for (lo, hi) in ascending {
            assert!(v(lo) < v(hi), "{lo} < {hi}");
            assert!(v(hi) > v(lo), "{hi} > {lo}");
        }
        for (a, b) in [
            ("7.0", "7.0.0"),
            ("7", "7.0.0"),
            ("1.09", "1.9"),
            ("9.2P1", "9.2p1"),
            ("9.16.1-S1", "9.16.1s1"),
            ("9.2_p1", "9.2p1"),
        ] {
            assert_eq!(v(a), v(b), "{a} = {b}");
        }
        assert!(!v("r27").same_scheme(&v("1.22.1")));
        assert!(v("1.5.13").same_scheme(&v("1.22.1")));
    }

    fn version_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[0-9]{1,3}",
                Just("0".to_string()),
                Just("00".to_string()),
                "[a-z]{1,2}",
                Just("rc".to_string()),
                Just("beta".to_string()),
                Just("p".to_string()),
                "[.\\-_+]",
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn order_is_total_and_consistent(a in version_string(), b in version_string(), c in version_string()) {
            let (va, vb, vc) = (v(&a), v(&b), v(&c));
            // Antisymmetry and consistency with Eq.
            prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
            prop_assert_eq!(va == vb, va.cmp(&vb) == Ordering::Equal);
            prop_assert_eq!(va.partial_cmp(&vb), Some(va.cmp(&vb)));
            // Reflexivity.
            prop_assert_eq!(va.cmp(&va), Ordering::Equal);
            // Transitivity.
            if va <= vb && vb <= vc {
                prop_assert!(va <= vc, "{} <= {} <= {} but not {} <= {}", a, b, c, a, c);
            }
            if va == vb && vb == vc {
                prop_assert!(va == vc);
            }
        }

        #[test]
        fn sorting_agrees_with_pairwise_order(mut xs in prop::collection::vec(version_string(), 0..12)) {
            xs.sort_by_key(|x| v(x));
            for w in xs.windows(2) {
                prop_assert!(v(&w[0]) <= v(&w[1]));
            }
        }

        #[test]
        fn appending_a_patch_level_goes_up(base in "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}", n in 1u32..50) {
            let (patched, dotted, rc) = (format!("{}p{}", base, n), format!("{}.{}", base, n), format!("{}rc{}", base, n));
            prop_assert!(v(&base) < v(&patched));
            prop_assert!(v(&base) < v(&dotted));
            prop_assert!(v(&rc) < v(&base));
        }

        /// The tokens are those of the first implementation (a `String` per token), which
        /// parsing without allocating must not change: any text, Unicode letters included.
        #[test]
        fn parsing_inline_gives_the_tokens_of_the_string_parser(s in "[0-9a-zA-Z.\\-_pPéßİ\u{0130}\u{1E9E}]{0,24}|\\PC{0,12}") {
            prop_assert_eq!(v(&s).tokens, reference_tokens(&s));
        }
    }

    /// The parser as first written (a `String` per token).
    fn reference_tokens(s: &str) -> Vec<u64> {
        let mut tokens = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() {
                let mut n = String::new();
                while let Some(&d) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n.push(d);
                    chars.next();
                }
                let trimmed = n.trim_start_matches('0');
                tokens.push(if trimmed.is_empty() {
                    END
                } else {
                    NUM | trimmed
                        .parse::<u64>()
                        .map_or(MAX_VALUE, |v| v.min(MAX_VALUE))
                });
            } else if c.is_alphabetic() {
                let mut w = String::new();
                while let Some(&d) = chars.peek() {
                    if !d.is_alphabetic() {
                        break;
                    }
                    w.extend(d.to_lowercase());
                    chars.next();
                }
                tokens.push(if PRE_RELEASE.contains(&w.as_str()) {
                    PRE | pack_word(&w)
                } else {
                    WORD | pack_word(&w)
                });
            } else {
                chars.next();
            }
        }
        while tokens.last() == Some(&END) {
            tokens.pop();
        }
        tokens
    }

    #[test]
    fn long_numbers_and_words_parse_as_before() {
        for s in [
            "99999999999999999999999.1",
            "4611686018427387904",
            "0000000000000000000000012",
            "snapshotsnapshotsnapshot",
            "RC1",
            "İstanbul",
            "1.0-ßeta",
        ] {
            assert_eq!(v(s).tokens, reference_tokens(s), "{s}");
        }
    }
}
