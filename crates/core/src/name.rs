//! Upgrade names.
//!
//! A plan's name is chosen by whoever submitted the governance proposal, so it is untrusted input
//! that we later use as a folder name under `cosmovisor/upgrades/`. [`UpgradeName::parse`] is the
//! only way to make one, and it refuses anything that could escape that folder or confuse a
//! terminal or a log reader: path separators, NUL, control characters, and the invisible
//! characters that change how text reads without showing themselves — Unicode format characters
//! (general category Cf: bidi overrides and isolates such as U+202E, zero-width spaces and
//! joiners, the BOM), line and paragraph separators, and other default-ignorable code points
//! (e.g. U+3164, variation selectors). Like cosmovisor, names are lowercased unless
//! `COSMOVISOR_DISABLE_RECASE` is set.

use std::fmt;

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

/// Why a raw string is not a usable upgrade name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The raw name is the empty string.
    #[error("upgrade name is empty")]
    Empty,
    /// The name is `.` or `..`; holds it.
    #[error("upgrade name {0:?} is not allowed (it would name the folder itself or its parent)")]
    DotName(String),
    /// The name contains `/`, `\`, NUL or another control character.
    #[error("upgrade name {name:?} contains {what}, which cannot be part of a folder name")]
    BadCharacter {
        /// The name with control and invisible characters escaped.
        name: String,
        /// The character refused, in words (`'/'`, `a NUL byte`, `a control character`).
        what: &'static str,
    },
    /// A character that is invisible or reorders text (bidi override, zero-width space, ...).
    #[error("upgrade name {name:?} contains {code_point} ({what}), which hides or reorders text; refused")]
    InvisibleCharacter {
        /// The name with every such character escaped (`\u{202e}`).
        name: String,
        /// `U+202E`.
        code_point: String,
        /// The kind of character, in words (`a Unicode format character`, ...).
        what: &'static str,
    },
    /// The name, as it would be stored (lowercased unless recasing is off), is longer than
    /// [`MAX_NAME_LEN`] bytes.
    #[error("upgrade name is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// The stored name's length in UTF-8 bytes.
        len: usize,
        /// [`MAX_NAME_LEN`].
        max: usize,
    },
}

/// A validated upgrade name, safe to use as a single path component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UpgradeName(String);

/// Longest name we accept: a single path component on Linux is at most 255 bytes.
pub const MAX_NAME_LEN: usize = 255;

impl UpgradeName {
    /// Validates `raw` and, unless `disable_recase`, lowercases it (cosmovisor's behaviour).
    pub fn parse(raw: &str, disable_recase: bool) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw == "." || raw == ".." {
            return Err(NameError::DotName(raw.to_string()));
        }
        for c in raw.chars() {
            let what = match c {
                '/' => "'/'",
                '\\' => "'\\'",
                '\0' => "a NUL byte",
                c if c.is_control() => "a control character",
                c => match invisible(c) {
                    Some(what) => {
                        return Err(NameError::InvisibleCharacter {
                            name: escape(raw),
                            code_point: format!("U+{:04X}", c as u32),
                            what,
                        })
                    }
                    None => continue,
                },
            };
            return Err(NameError::BadCharacter {
                name: escape(raw),
                what,
            });
        }
        let name = if disable_recase {
            raw.to_string()
        } else {
            raw.to_lowercase()
        };
        // Checked after lowercasing, which can make a name longer (e.g. 'İ').
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong {
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        Ok(UpgradeName(name))
    }

    /// The validated name, as used for the folder under `cosmovisor/upgrades/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What kind of invisible character `c` is, if it is one (see the module docs).
fn invisible(c: char) -> Option<&'static str> {
    match CodePointMapData::<GeneralCategory>::new().get(c) {
        GeneralCategory::Format => return Some("a Unicode format character"),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            return Some("a line or paragraph separator")
        }
        _ => {}
    }
    CodePointSetData::new::<DefaultIgnorableCodePoint>()
        .contains(c)
        .then_some("a default-ignorable (invisible) character")
}

/// The name with control and invisible characters written as escapes, so an error message
/// shows exactly what was refused.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_control() || invisible(c).is_some() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.extend(c.escape_debug());
        }
    }
    out
}

impl fmt::Display for UpgradeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names read back from our own files are validated again (but not recased: they were stored
/// already normalised).
impl<'de> serde::Deserialize<'de> for UpgradeName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        UpgradeName::parse(&raw, true).map_err(serde::de::Error::custom)
    }
}

impl AsRef<str> for UpgradeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases_ordinary_names() {
        assert_eq!(UpgradeName::parse("v2", false).unwrap().as_str(), "v2");
        assert_eq!(
            UpgradeName::parse("Chain2-Zip_Dir", false)
                .unwrap()
                .as_str(),
            "chain2-zip_dir"
        );
        assert_eq!(
            UpgradeName::parse("Chain2", true).unwrap().as_str(),
            "Chain2"
        );
        assert_eq!(
            UpgradeName::parse("v050-to-v053", false).unwrap().as_str(),
            "v050-to-v053"
        );
    }

    #[test]
    fn rejects_names_that_escape_or_confuse() {
        assert_eq!(UpgradeName::parse("", false), Err(NameError::Empty));
        assert!(matches!(
            UpgradeName::parse(".", false),
            Err(NameError::DotName(_))
        ));
        assert!(matches!(
            UpgradeName::parse("..", false),
            Err(NameError::DotName(_))
        ));
        for bad in ["../etc", "a/b", "a\\b", "a\0b", "a\nb", "a\u{1b}[31m"] {
            assert!(
                matches!(
                    UpgradeName::parse(bad, false),
                    Err(NameError::BadCharacter { .. })
                ),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            UpgradeName::parse(&"x".repeat(300), false),
            Err(NameError::TooLong { .. })
        ));
        // 127 × 'İ' is 254 bytes, but 381 once lowercased.
        assert!(matches!(
            UpgradeName::parse(&"İ".repeat(127), false),
            Err(NameError::TooLong { len: 381, .. })
        ));
    }

    #[test]
    fn rejects_invisible_and_reordering_characters_naming_the_code_point() {
        for (bad, cp) in [
            ("v2\u{202e}exe.", "U+202E"), // RIGHT-TO-LEFT OVERRIDE
            ("v\u{200b}2", "U+200B"),     // ZERO WIDTH SPACE
            ("v\u{200d}2", "U+200D"),     // ZERO WIDTH JOINER
            ("\u{feff}v2", "U+FEFF"),     // BOM
            ("v2\u{2066}", "U+2066"),     // LEFT-TO-RIGHT ISOLATE
            ("v2\u{061c}", "U+061C"),     // ARABIC LETTER MARK
            ("v2\u{2028}", "U+2028"),     // LINE SEPARATOR
            ("v2\u{3164}", "U+3164"),     // HANGUL FILLER (default-ignorable, Lo)
            ("v2\u{fe0f}", "U+FE0F"),     // VARIATION SELECTOR-16
            ("v2\u{e0001}", "U+E0001"),   // LANGUAGE TAG
        ] {
            let err = UpgradeName::parse(bad, false).unwrap_err();
            assert!(
                matches!(&err, NameError::InvisibleCharacter { code_point, .. } if code_point == cp),
                "{bad:?}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(cp), "{msg}");
            assert!(
                !msg.contains(bad),
                "the message must not carry the raw character: {msg}"
            );
        }
        // Visible non-ASCII letters stay allowed.
        assert_eq!(
            UpgradeName::parse("v2-é-ж", false).unwrap().as_str(),
            "v2-é-ж"
        );
    }

    #[test]
    fn error_names_the_offending_input() {
        let err = UpgradeName::parse("a/b", false).unwrap_err().to_string();
        assert!(err.contains("a/b") && err.contains("'/'"), "{err}");
    }
}
