//! Upgrade names.
//!
//! A plan's name is chosen by whoever submitted the governance proposal, so it is untrusted input
//! that we later use as a folder name under `cosmovisor/upgrades/`. [`UpgradeName::parse`] is the
//! only way to make one, and it refuses anything that could escape that folder or confuse a
//! terminal. Like cosmovisor, names are lowercased unless `COSMOVISOR_DISABLE_RECASE` is set.

use std::fmt;

/// Why a raw string is not a usable upgrade name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("upgrade name is empty")]
    Empty,
    #[error("upgrade name {0:?} is not allowed (it would name the folder itself or its parent)")]
    DotName(String),
    #[error("upgrade name {name:?} contains {what}, which cannot be part of a folder name")]
    BadCharacter { name: String, what: &'static str },
    #[error("upgrade name is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
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
                _ => continue,
            };
            return Err(NameError::BadCharacter {
                name: raw.escape_debug().to_string(),
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    fn error_names_the_offending_input() {
        let err = UpgradeName::parse("a/b", false).unwrap_err().to_string();
        assert!(err.contains("a/b") && err.contains("'/'"), "{err}");
    }
}
