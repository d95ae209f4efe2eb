//! The node's own `data/upgrade-info.json`.
//!
//! When the upgrade module reaches a scheduled plan's height it writes this file and halts:
//! `{"name":"v2","time":"0001-01-01T00:00:00Z","height":100,"info":"..."}`. The node writes
//! `height` as a JSON number; cosmovisor's `upgrades/<name>/upgrade-info.json` and gRPC-gateway
//! JSON use a string, so both are accepted. `info` may be absent. The file is written with a plain
//! write, so an empty or half-written file is a normal, momentary sight: the caller retries on
//! [`UpgradeInfoError::Incomplete`].

use crate::name::{NameError, UpgradeName};
use serde::Deserialize;

/// A validated upgrade-info record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpgradeInfo {
    /// The plan's name, validated (and lowercased unless recasing is disabled).
    pub name: UpgradeName,
    /// The plan's upgrade height (the first block the new binary runs); always above 0.
    pub height: i64,
    /// The plan's free-form `info` field ("" when absent).
    pub info: String,
}

/// Why an `upgrade-info.json` could not be read as an [`UpgradeInfo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeInfoError {
    /// Empty or cut-off JSON: the node may still be writing it.
    #[error("upgrade-info is empty or incomplete (the node may still be writing it)")]
    Incomplete,
    /// Complete, but not valid JSON or not an object of the expected shape; holds serde_json's
    /// message.
    #[error("upgrade-info is not valid JSON: {0}")]
    Malformed(String),
    /// The `name` field is missing, empty or not a safe folder name.
    #[error("upgrade-info has a bad name: {0}")]
    BadName(#[from] NameError),
    /// The `height` is missing, null, not an integer (number or string), or not above 0; holds
    /// what was found.
    #[error("upgrade-info height must be a positive integer, got {0}")]
    BadHeight(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    name: String,
    #[serde(default)]
    height: Option<serde_json::Value>,
    #[serde(default)]
    info: Option<String>,
}

impl UpgradeInfo {
    /// Parses and validates the file's bytes.
    pub fn parse(bytes: &[u8], disable_recase: bool) -> Result<Self, UpgradeInfoError> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(UpgradeInfoError::Incomplete);
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                UpgradeInfoError::Incomplete
            } else {
                UpgradeInfoError::Malformed(e.to_string())
            }
        })?;
        let name = UpgradeName::parse(&raw.name, disable_recase)?;
        let height = parse_height(raw.height.as_ref())?;
        Ok(UpgradeInfo {
            name,
            height,
            info: raw.info.unwrap_or_default(),
        })
    }

    /// The JSON cosmovisor writes to `upgrades/<name>/upgrade-info.json` (height as a number, as
    /// the node writes it).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "name": self.name.as_str(),
            "time": "0001-01-01T00:00:00Z",
            "height": self.height,
            "info": self.info,
        })
        .to_string()
    }
}

fn parse_height(v: Option<&serde_json::Value>) -> Result<i64, UpgradeInfoError> {
    let bad = |s: String| UpgradeInfoError::BadHeight(s);
    let h = match v {
        None | Some(serde_json::Value::Null) => return Err(bad("nothing".into())),
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| bad(n.to_string()))?,
        Some(serde_json::Value::String(s)) => {
            s.trim().parse::<i64>().map_err(|_| bad(format!("{s:?}")))?
        }
        Some(other) => return Err(bad(other.to_string())),
    };
    if h <= 0 {
        return Err(bad(h.to_string()));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_nodes_file() {
        let info = UpgradeInfo::parse(
            br#"{"name":"v2","time":"0001-01-01T00:00:00Z","height":100,"info":"x"}"#,
            false,
        )
        .unwrap();
        assert_eq!(info.name.as_str(), "v2");
        assert_eq!(info.height, 100);
        assert_eq!(info.info, "x");
    }

    #[test]
    fn accepts_string_height_and_missing_info() {
        let info = UpgradeInfo::parse(br#"{"name":"V2","height":"7"}"#, false).unwrap();
        assert_eq!(info.name.as_str(), "v2");
        assert_eq!(info.height, 7);
        assert_eq!(info.info, "");
    }

    #[test]
    fn empty_and_half_written_files_are_incomplete() {
        assert_eq!(
            UpgradeInfo::parse(b"", false),
            Err(UpgradeInfoError::Incomplete)
        );
        assert_eq!(
            UpgradeInfo::parse(b"  \n", false),
            Err(UpgradeInfoError::Incomplete)
        );
        assert_eq!(
            UpgradeInfo::parse(br#"{"name":"v2","hei"#, false),
            Err(UpgradeInfoError::Incomplete)
        );
    }

    #[test]
    fn rejects_bad_heights_and_names() {
        for bad in [
            &br#"{"name":"v2","height":0}"#[..],
            br#"{"name":"v2","height":-5}"#,
            br#"{"name":"v2","height":"abc"}"#,
            br#"{"name":"v2"}"#,
            br#"{"name":"v2","height":1.5}"#,
        ] {
            assert!(matches!(
                UpgradeInfo::parse(bad, false),
                Err(UpgradeInfoError::BadHeight(_))
            ));
        }
        assert!(matches!(
            UpgradeInfo::parse(br#"{"name":"../x","height":3}"#, false),
            Err(UpgradeInfoError::BadName(_))
        ));
        assert!(matches!(
            UpgradeInfo::parse(br#"{"name":"","height":3}"#, false),
            Err(UpgradeInfoError::BadName(NameError::Empty))
        ));
        assert!(matches!(
            UpgradeInfo::parse(b"[1,2]", false),
            Err(UpgradeInfoError::Malformed(_))
        ));
    }
}
