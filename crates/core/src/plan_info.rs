//! A plan's `info` field, turned into download sources for each platform.
//!
//! Governance plans carry binaries in `info` in one of these shapes:
//! - inline JSON `{"binaries": {"linux/amd64": "https://...?checksum=sha256:<hex>", "any": ...}}`;
//! - a URL pointing at such a JSON document (the watcher fetches it and calls [`parse_info`] again);
//! - anything else (plain text, `{}`, JSON without `binaries`): no binaries.
//!
//! Checksums ride in the URL's `checksum` query parameter, either typed (`sha256:<hex>`) or as bare
//! hex whose length tells the type. Keys we don't know (`docker`, `windows/x86_64`) are kept but
//! never chosen; only [`PlanBinaries::for_platform`] picks an entry, `linux/amd64` style first, then
//! `any`.

use std::collections::BTreeMap;
use std::fmt;

/// The digest types cosmovisor (via go-getter) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgo {
    /// MD5, 32 hex digits.
    Md5,
    /// SHA-1, 40 hex digits.
    Sha1,
    /// SHA-256, 64 hex digits.
    Sha256,
    /// SHA-512, 128 hex digits.
    Sha512,
}

impl ChecksumAlgo {
    /// Length of the digest in hex characters.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumAlgo::Md5 => 32,
            ChecksumAlgo::Sha1 => 40,
            ChecksumAlgo::Sha256 => 64,
            ChecksumAlgo::Sha512 => 128,
        }
    }

    /// The lowercase name used in `type:hex` checksums (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgo::Md5 => "md5",
            ChecksumAlgo::Sha1 => "sha1",
            ChecksumAlgo::Sha256 => "sha256",
            ChecksumAlgo::Sha512 => "sha512",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "md5" => Some(ChecksumAlgo::Md5),
            "sha1" => Some(ChecksumAlgo::Sha1),
            "sha256" => Some(ChecksumAlgo::Sha256),
            "sha512" => Some(ChecksumAlgo::Sha512),
            _ => None,
        }
    }

    fn from_hex_len(len: usize) -> Option<Self> {
        [Self::Md5, Self::Sha1, Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|a| a.hex_len() == len)
    }
}

/// An expected digest: algorithm plus lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Checksum {
    /// The digest type, as given or guessed from the hex length.
    pub algo: ChecksumAlgo,
    /// The digest in lowercase hex, exactly [`ChecksumAlgo::hex_len`] digits long.
    pub hex: String,
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.hex)
    }
}

/// Why a `checksum` value in a plan's URL could not be read ([`Checksum::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// The part before `:` is not md5, sha1, sha256 or sha512; holds it.
    #[error("unknown checksum type {0:?} (expected md5, sha1, sha256 or sha512)")]
    UnknownType(String),
    /// The digest is empty or has a character that is not a hex digit; holds the digest.
    #[error("checksum {0:?} is not hexadecimal")]
    NotHex(String),
    #[error("checksum {value:?} has {len} hex digits, but {algo} needs {expected}")]
    /// The digest's length does not fit the type it was given.
    WrongLength {
        /// The digest (the part after `:`).
        value: String,
        /// The type it was given ([`ChecksumAlgo::as_str`]).
        algo: &'static str,
        /// Hex digits found.
        len: usize,
        /// Hex digits the type needs.
        expected: usize,
    },
    /// A bare digest whose length is none of 32, 40, 64 or 128; holds it.
    #[error("checksum {0:?} has no type and its length matches none of md5/sha1/sha256/sha512")]
    Unguessable(String),
}

impl Checksum {
    /// Parses `type:hex` or bare hex (type guessed from its length).
    pub fn parse(s: &str) -> Result<Self, ChecksumError> {
        let s = s.trim();
        let (algo, hex) = match s.split_once(':') {
            Some((t, h)) => (
                Some(
                    ChecksumAlgo::from_name(t)
                        .ok_or_else(|| ChecksumError::UnknownType(t.into()))?,
                ),
                h,
            ),
            None => (None, s),
        };
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChecksumError::NotHex(hex.into()));
        }
        let algo = match algo {
            Some(a) if a.hex_len() != hex.len() => {
                return Err(ChecksumError::WrongLength {
                    value: hex.into(),
                    algo: a.as_str(),
                    len: hex.len(),
                    expected: a.hex_len(),
                })
            }
            Some(a) => a,
            None => ChecksumAlgo::from_hex_len(hex.len())
                .ok_or_else(|| ChecksumError::Unguessable(hex.into()))?,
        };
        Ok(Checksum {
            algo,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

/// Where to download one platform's binary, and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BinarySource {
    /// The URL as given (the `checksum` parameter is left in; servers ignore it).
    pub url: String,
    /// `None` when the URL carries no checksum.
    pub checksum: Option<Checksum>,
}

impl BinarySource {
    /// Reads the `checksum` query parameter out of `url`, if any.
    pub fn from_url(url: &str) -> Result<Self, ChecksumError> {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        let mut checksum = None;
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("checksum=") {
                let value = percent_decode(value);
                checksum = Some(Checksum::parse(&value)?);
            }
        }
        Ok(BinarySource {
            url: url.to_string(),
            checksum,
        })
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One entry of a `binaries` map that could not be used (bad checksum, not a string, ...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedEntry {
    /// The entry's key, trimmed and lowercased (`linux/amd64`, `any`, ...).
    pub platform: String,
    /// Why it was refused, for messages: a [`ChecksumError`], or not a URL string.
    pub reason: String,
}

/// The `binaries` map of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanBinaries {
    /// The usable entries, by platform key (trimmed and lowercased), unknown keys included.
    pub entries: BTreeMap<String, BinarySource>,
    /// The entries that could not be used, and why.
    pub rejected: Vec<RejectedEntry>,
}

impl PlanBinaries {
    /// The entry for `platform` (e.g. `linux/amd64`), else the `any` entry.
    pub fn for_platform(&self, platform: &str) -> Option<&BinarySource> {
        self.entries
            .get(platform)
            .or_else(|| self.entries.get("any"))
    }

    /// Why `platform` has no usable entry, if one was listed but rejected.
    pub fn rejection_for(&self, platform: &str) -> Option<&RejectedEntry> {
        self.rejected
            .iter()
            .find(|r| r.platform == platform)
            .or_else(|| self.rejected.iter().find(|r| r.platform == "any"))
    }
}

/// What a plan's `info` field says about binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanInfo {
    /// Inline JSON with a `binaries` map.
    Binaries(PlanBinaries),
    /// A URL that should point at a JSON document with a `binaries` map.
    Url(String),
    /// Plain text, empty, or JSON without binaries.
    NoBinaries,
}

/// Classifies a plan's `info` string. Never fails: junk is [`PlanInfo::NoBinaries`].
pub fn parse_info(info: &str) -> PlanInfo {
    let trimmed = info.trim();
    if trimmed.starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(v) => match binaries_from_json(&v) {
                Some(b) => PlanInfo::Binaries(b),
                None => PlanInfo::NoBinaries,
            },
            Err(_) => PlanInfo::NoBinaries,
        };
    }
    let lower = trimmed.to_ascii_lowercase();
    if (lower.starts_with("https://") || lower.starts_with("http://"))
        && !trimmed.chars().any(char::is_whitespace)
    {
        return PlanInfo::Url(trimmed.to_string());
    }
    PlanInfo::NoBinaries
}

/// Reads the `binaries` object out of a JSON document; `None` when there is none.
pub fn binaries_from_json(v: &serde_json::Value) -> Option<PlanBinaries> {
    let map = v.get("binaries")?.as_object()?;
    let mut out = PlanBinaries::default();
    for (platform, value) in map {
        let platform = platform.trim().to_ascii_lowercase();
        match value.as_str() {
            Some(url) => match BinarySource::from_url(url.trim()) {
                Ok(src) => {
                    out.entries.insert(platform, src);
                }
                Err(e) => out.rejected.push(RejectedEntry {
                    platform,
                    reason: e.to_string(),
                }),
            },
            None => out.rejected.push(RejectedEntry {
                platform,
                reason: format!("expected a URL string, found {value}"),
            }),
        }
    }
    Some(out)
}

/// This host's platform key in the Go `os/arch` form plans use (`linux/amd64`, `linux/arm64`).
pub fn this_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    format!("{}/{}", std::env::consts::OS, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca";

    #[test]
    fn typed_and_bare_checksums() {
        let c = Checksum::parse(&format!("sha256:{SHA}")).unwrap();
        assert_eq!(c.algo, ChecksumAlgo::Sha256);
        let c = Checksum::parse(&SHA.to_uppercase()).unwrap();
        assert_eq!((c.algo, c.hex.as_str()), (ChecksumAlgo::Sha256, SHA));
        assert_eq!(
            Checksum::parse(&"a".repeat(32)).unwrap().algo,
            ChecksumAlgo::Md5
        );
        assert_eq!(
            Checksum::parse(&"a".repeat(40)).unwrap().algo,
            ChecksumAlgo::Sha1
        );
        assert_eq!(
            Checksum::parse(&"a".repeat(128)).unwrap().algo,
            ChecksumAlgo::Sha512
        );
        assert!(matches!(
            Checksum::parse("crc32:abcd"),
            Err(ChecksumError::UnknownType(_))
        ));
        assert!(matches!(
            Checksum::parse("sha256:abc"),
            Err(ChecksumError::WrongLength { .. })
        ));
        assert!(matches!(
            Checksum::parse("xyz"),
            Err(ChecksumError::NotHex(_))
        ));
        assert!(matches!(
            Checksum::parse("abcd"),
            Err(ChecksumError::Unguessable(_))
        ));
    }

    #[test]
    fn checksum_from_url_query() {
        let s = BinarySource::from_url(&format!("https://h/x?checksum=sha256:{SHA}")).unwrap();
        assert_eq!(s.checksum.unwrap().hex, SHA);
        let s =
            BinarySource::from_url(&format!("https://h/x?a=1&checksum=sha256%3A{SHA}")).unwrap();
        assert_eq!(s.checksum.unwrap().algo, ChecksumAlgo::Sha256);
        assert_eq!(
            BinarySource::from_url("https://h/x").unwrap().checksum,
            None
        );
    }

    /// A `%` followed by one ASCII byte and a multi-byte character used to slice a `str` inside
    /// a character and panic (found reading the code; the `checksum` fuzz target, run against
    /// the old code, found it in about 1,100 executions: fuzz/regressions/checksum/).
    #[test]
    fn percent_then_a_multibyte_character_is_an_error_not_a_panic() {
        for url in [
            "https://h/x?checksum=%aé",
            "https://h/x?checksum=%é",
            "https://h/x?checksum=%",
        ] {
            assert!(BinarySource::from_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn info_shapes() {
        assert_eq!(parse_info(""), PlanInfo::NoBinaries);
        assert_eq!(parse_info("upgrade to v2, see forum"), PlanInfo::NoBinaries);
        assert_eq!(parse_info("{}"), PlanInfo::NoBinaries);
        assert_eq!(parse_info("{not json"), PlanInfo::NoBinaries);
        assert_eq!(
            parse_info(" https://example.org/v2.json "),
            PlanInfo::Url("https://example.org/v2.json".into())
        );
        let PlanInfo::Binaries(b) = parse_info(
            r#"{"binaries":{"linux/amd64":"https://a?checksum=md5:00000000000000000000000000000000","docker":"img:1","windows/x86_64":42}}"#,
        ) else {
            panic!("expected binaries")
        };
        assert!(b.for_platform("linux/amd64").is_some());
        assert!(b.for_platform("linux/arm64").is_none());
        assert_eq!(b.rejected.len(), 1);
    }

    #[test]
    fn any_is_the_fallback() {
        let PlanInfo::Binaries(b) = parse_info(r#"{"binaries":{"any":"https://a/b"}}"#) else {
            panic!()
        };
        assert_eq!(b.for_platform("linux/riscv64").unwrap().url, "https://a/b");
    }

    #[test]
    fn real_plan_infos_from_osmosis_and_gaia() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/real");
        for f in [
            "osmosis-upgrade-binaries/v12_binaries.json",
            "osmosis-upgrade-binaries/v31_binaries.json",
            "osmosis-upgrade-binaries/v4_upgrade_4_binaries.json",
            "gaia/v15_upgrade_info_binaries.json",
            "cosmovisor-testdata/ref_to_chain3-zip_dir.json",
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
            let PlanInfo::Binaries(b) = parse_info(&text) else {
                panic!("{f}: expected binaries")
            };
            let src = b
                .for_platform("linux/amd64")
                .unwrap_or_else(|| panic!("{f}"));
            let sum = src
                .checksum
                .as_ref()
                .unwrap_or_else(|| panic!("{f}: no checksum"));
            assert_eq!(sum.algo, ChecksumAlgo::Sha256, "{f}");
        }
    }

    #[test]
    fn this_platform_looks_like_go() {
        let p = this_platform();
        assert!(p.contains('/') && !p.contains("x86_64"), "{p}");
    }
}
