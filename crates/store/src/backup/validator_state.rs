//! Which `priv_validator_state.json` a restored `data/` gets.
//!
//! The file records the last height, round and step this validator signed. CometBFT refuses to
//! sign at or below it, which is what keeps a validator from signing two different blocks at one
//! height. A backup's copy is older: after the upgrade the node went on signing. Restoring it and
//! letting the chain run those heights again would let the validator sign them a second time — a
//! double sign, which is slashed and tombstoned. So the restored data keeps whichever of the two
//! files is further along: the one from the data being set aside, unless the backup's is
//! strictly ahead of it. A file that cannot be read from the data being set aside is kept as it
//! is (the node will then refuse to start on it, which is safe; an older file could sign again).

use std::cmp::Ordering;
use std::path::Path;

/// The file's name, at the top of `data/` (CometBFT's default `priv_validator_state_file`).
pub(super) const FILE: &str = "priv_validator_state.json";

/// Height, round and step, compared in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Hrs {
    pub height: i64,
    pub round: i64,
    pub step: i64,
}

/// Reads height/round/step from the file's JSON (CometBFT writes the height as a string, round
/// and step as numbers; either form is accepted).
pub(super) fn parse(bytes: &[u8]) -> Option<Hrs> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let num = |key: &str| -> Option<i64> {
        match v.get(key)? {
            serde_json::Value::String(s) => s.trim().parse().ok(),
            serde_json::Value::Number(n) => n.as_i64(),
            _ => None,
        }
    };
    Some(Hrs {
        height: num("height")?,
        round: num("round").unwrap_or(0),
        step: num("step").unwrap_or(0),
    })
}

/// What the restored data ends up with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// Neither side has the file (a full node, or a remote signer).
    None,
    /// Only the backup has it.
    Backup,
    /// The file from the data being set aside was kept (it is further along, equal, or the
    /// backup has none).
    Current,
    /// The backup's is further along than the one set aside.
    BackupIsNewer,
    /// The one set aside could not be read, so it was kept as it is.
    CurrentUnreadable,
}

/// Decides between the file in the data being set aside (`current`) and the backup's.
pub(super) fn choose(current: Option<&[u8]>, backup: Option<&[u8]>) -> Choice {
    match (current, backup) {
        (None, None) => Choice::None,
        (None, Some(_)) => Choice::Backup,
        (Some(_), None) => Choice::Current,
        (Some(c), Some(b)) => match (parse(c), parse(b)) {
            (None, _) => Choice::CurrentUnreadable,
            (Some(c), Some(b)) if b.cmp(&c) == Ordering::Greater => Choice::BackupIsNewer,
            (Some(_), _) => Choice::Current,
        },
    }
}

/// Reads `data_dir/priv_validator_state.json`, if there is one.
pub(super) fn read(data_dir: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(data_dir.join(FILE)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(h: i64, r: i64, s: i64) -> Vec<u8> {
        format!(r#"{{"height":"{h}","round":{r},"step":{s},"signature":"x","signbytes":"y"}}"#)
            .into_bytes()
    }

    #[test]
    fn the_further_along_file_wins_and_ties_keep_the_current_one() {
        let (old, new) = (state(99, 0, 3), state(120, 0, 3));
        assert_eq!(choose(Some(&new), Some(&old)), Choice::Current);
        assert_eq!(choose(Some(&old), Some(&new)), Choice::BackupIsNewer);
        assert_eq!(choose(Some(&old), Some(&old)), Choice::Current);
        assert_eq!(
            choose(Some(&state(99, 1, 1)), Some(&state(99, 0, 3))),
            Choice::Current,
            "a later round wins over a later step"
        );
        assert_eq!(
            choose(Some(&state(99, 0, 2)), Some(&state(99, 0, 3))),
            Choice::BackupIsNewer
        );
    }

    #[test]
    fn missing_and_unreadable_files() {
        let s = state(5, 0, 1);
        assert_eq!(choose(None, None), Choice::None);
        assert_eq!(choose(None, Some(&s)), Choice::Backup);
        assert_eq!(choose(Some(&s), None), Choice::Current);
        assert_eq!(
            choose(Some(b"{garbage"), Some(&s)),
            Choice::CurrentUnreadable
        );
        assert_eq!(choose(Some(&s), Some(b"{garbage")), Choice::Current);
        assert_eq!(
            parse(br#"{"height":7,"round":0,"step":0}"#).unwrap().height,
            7
        );
        assert_eq!(parse(br#"{"round":0}"#), None);
    }
}
