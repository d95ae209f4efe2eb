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
//! `COSMOVISOR_DISABLE_RECASE` is set, character by character as Go's `strings.ToLower` does
//! (`İ` becomes `i`, a final `Σ` becomes `σ`).
//!
//! **The folder of a name.** cosmovisor does not use the name itself as the folder under
//! `upgrades/`: it escapes it as Go's `url.PathEscape` escapes a path segment
//! ([`UpgradeName::folder_name`]): ASCII letters, digits and `- _ . ~ $ & + : = @` stay, every other
//! byte of the UTF-8 text becomes `%XX` (upper-case hex), so `v2 final` lives in `v2%20final` and
//! `v2-é` in `v2-%C3%A9`. For the names chains use (`v2`, `v0.50.1-rc1`) the folder is the name.
//! [`UpgradeName::from_folder`] reads a folder name back.

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
    /// The name's folder (lowercased unless recasing is off, then escaped as cosmovisor does)
    /// would be longer than [`MAX_NAME_LEN`] bytes.
    #[error("upgrade name's folder would be {len} bytes long (escaped as cosmovisor names it); at most {max} are allowed")]
    TooLong {
        /// The folder name's length in bytes.
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
            go_lowercase(raw)
        };
        // Checked on the folder name, which escaping can make three times longer.
        let len = path_escaped_len(&name);
        if len > MAX_NAME_LEN {
            return Err(NameError::TooLong {
                len,
                max: MAX_NAME_LEN,
            });
        }
        Ok(UpgradeName(name))
    }

    /// The validated name, as the plan spells it (lowercased unless recasing is off).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder under `cosmovisor/upgrades/` that cosmovisor uses for this name: the name
    /// escaped as Go's `url.PathEscape` does (see the module docs). The name itself when it has
    /// nothing to escape.
    pub fn folder_name(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for b in self.0.bytes() {
            if keeps(b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The name a folder under `upgrades/` holds: a folder written the way cosmovisor escapes
    /// names (`v2%20final`) is read back as its name (`v2 final`); any other (one made by hand,
    /// unescaped: `v2 final`) as itself. `None` when that name is not a valid one. Not recased.
    pub fn from_folder(folder: &str) -> Option<UpgradeName> {
        if let Some(decoded) = unescape(folder) {
            if let Ok(name) = UpgradeName::parse(&decoded, true) {
                if name.folder_name() == folder {
                    return Some(name);
                }
            }
        }
        UpgradeName::parse(folder, true).ok()
    }
}

/// Go's `strings.ToLower`: each character mapped to its simple lowercase (one character), with
/// no regard to its neighbours.
fn go_lowercase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                // Only U+0130 (İ) lowercases to two characters; its simple mapping is `i`.
                _ => 'i',
            }
        })
        .collect()
}

/// The bytes `url.PathEscape` leaves as they are.
fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b':' | b'=' | b'@'
        )
}

/// The length of [`UpgradeName::folder_name`] for `name`.
fn path_escaped_len(name: &str) -> usize {
    name.bytes().map(|b| if keeps(b) { 1 } else { 3 }).sum()
}

/// Reverses the escaping: every `%XX` becomes its byte. `None` when a `%` is not followed by
/// two hex digits or the bytes are not UTF-8.
fn unescape(folder: &str) -> Option<String> {
    let b = folder.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = folder.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
        // 100 × 'é' is 200 bytes, but its folder is 600 (every byte escaped).
        assert!(matches!(
            UpgradeName::parse(&"é".repeat(100), false),
            Err(NameError::TooLong { len: 600, .. })
        ));
        assert!(UpgradeName::parse(&"é".repeat(42), false).is_ok());
        assert!(UpgradeName::parse(&"x".repeat(255), false).is_ok());
    }

    /// cosmovisor's folder for a name (issue 24 #10), as Go's `strings.ToLower` and
    /// `url.PathEscape` make it (checked against Go 1.2x).
    #[test]
    fn folders_are_named_as_cosmovisor_names_them() {
        for (raw, folder) in [
            ("V2 Final", "v2%20final"),
            ("v2-é-ж", "v2-%C3%A9-%D0%B6"),
            ("İx", "ix"),
            ("ΣΑΣ", "%CF%83%CE%B1%CF%83"),
            ("50%off", "50%25off"),
            ("a;b,c?d", "a%3Bb%2Cc%3Fd"),
            ("x+y=z@w:$&", "x+y=z@w:$&"),
            ("v0.50.1-rc1_x~", "v0.50.1-rc1_x~"),
            ("a!b*c'(d)#[e]", "a%21b%2Ac%27%28d%29%23%5Be%5D"),
        ] {
            let name = UpgradeName::parse(raw, false).unwrap();
            assert_eq!(name.folder_name(), folder, "{raw:?}");
            assert_eq!(
                UpgradeName::from_folder(folder),
                Some(name.clone()),
                "{folder:?}"
            );
        }
        // Every printable ASCII character Go's PathEscape keeps.
        let kept: String = (0x20u8..0x7f)
            .map(char::from)
            .filter(|c| {
                UpgradeName::parse(&format!("a{c}"), true)
                    .is_ok_and(|n| n.folder_name() == format!("a{c}"))
            })
            .collect();
        assert_eq!(
            kept,
            "$&+-.0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
        );
        // A folder made by hand with the name unescaped is read as that name.
        assert_eq!(
            UpgradeName::from_folder("v2 final").unwrap().as_str(),
            "v2 final"
        );
        assert_eq!(
            UpgradeName::from_folder("50%off").unwrap().as_str(),
            "50%off"
        );
        assert_eq!(UpgradeName::from_folder("v2").unwrap().as_str(), "v2");
        // Escapes that are not cosmovisor's (lower-case hex) are a literal name.
        assert_eq!(
            UpgradeName::from_folder("v2%2fx").unwrap().as_str(),
            "v2%2fx"
        );
        assert_eq!(UpgradeName::from_folder(".."), None);
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
