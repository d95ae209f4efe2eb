//! Which `--halt-height` makes block H run on the new binary.
//!
//! For an upgrade with no on-chain plan we stop the old binary with the node's own halt-height.
//! Its meaning changed across Cosmos SDK versions (see DESIGN.md):
//! - v0.47 and v0.50.0–v0.50.9 **commit** block halt-height, then stop: use H-1.
//! - v0.50.10+ and v0.53 stop **before committing** halt-height: use H.
//!
//! When the version is unknown we cannot pick safely, so we fall back to stopping the node when
//! we see block H-1 committed, which races with the node starting block H: [`HaltMethod::OnNewBlock`]
//! is marked racy wherever it is shown.

use std::fmt;

/// A Cosmos SDK version as reported by `version --long --output json` (`cosmos_sdk_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SdkVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl SdkVersion {
    /// Parses `v0.50.10`, `0.53.0`, `v0.47.5-rc1`, `v0.50.9-lsm`; `None` for anything else.
    pub fn parse(s: &str) -> Option<SdkVersion> {
        let s = s.trim().trim_start_matches('v');
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().unwrap_or("0").parse().ok()?;
        Some(SdkVersion {
            major,
            minor,
            patch,
        })
    }

    /// Whether the process exits by itself at its halt height (v0.47 and older, whose
    /// `Commit` sends the process SIGINT/SIGTERM); later versions stop in consensus and keep
    /// running.
    pub fn exits_at_halt_height(self) -> bool {
        (self.major, self.minor) < (0, 50)
    }

    /// Whether this version commits the block at halt-height before stopping.
    pub fn commits_halt_height(self) -> bool {
        (self.major, self.minor) < (0, 50) || (self.major, self.minor, self.patch) < (0, 50, 10)
    }
}

impl fmt::Display for SdkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How the old binary is stopped before block `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltMethod {
    /// Start the node with `--halt-height <flag>`; it cannot commit `target`.
    HaltHeightFlag { flag: i64 },
    /// Stop the node when block `target - 1` is seen committed. Racy: the node may already have
    /// begun executing `target`.
    OnNewBlock { stop_after: i64 },
}

impl HaltMethod {
    /// Chooses the method for an upgrade at `target` on a node of `sdk` version.
    pub fn for_target(target: i64, sdk: Option<SdkVersion>) -> HaltMethod {
        match sdk {
            Some(v) if v.commits_halt_height() => HaltMethod::HaltHeightFlag { flag: target - 1 },
            Some(_) => HaltMethod::HaltHeightFlag { flag: target },
            None => HaltMethod::OnNewBlock {
                stop_after: target - 1,
            },
        }
    }

    pub fn is_racy(self) -> bool {
        matches!(self, HaltMethod::OnNewBlock { .. })
    }

    /// The `--halt-height` value to pass, if any.
    pub fn flag(self) -> Option<i64> {
        match self {
            HaltMethod::HaltHeightFlag { flag } => Some(flag),
            HaltMethod::OnNewBlock { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<SdkVersion> {
        SdkVersion::parse(s)
    }

    #[test]
    fn parses_real_version_strings() {
        assert_eq!(
            v("v0.50.10"),
            Some(SdkVersion {
                major: 0,
                minor: 50,
                patch: 10
            })
        );
        assert_eq!(
            v("0.53.0"),
            Some(SdkVersion {
                major: 0,
                minor: 53,
                patch: 0
            })
        );
        assert_eq!(
            v("v0.47.5-rc1"),
            Some(SdkVersion {
                major: 0,
                minor: 47,
                patch: 5
            })
        );
        assert_eq!(
            v("v0.50.9-lsm"),
            Some(SdkVersion {
                major: 0,
                minor: 50,
                patch: 9
            })
        );
        assert_eq!(v(""), None);
        assert_eq!(v("unknown"), None);
    }

    #[test]
    fn halt_height_per_version() {
        let flag = |s| HaltMethod::for_target(100, v(s)).flag();
        assert_eq!(flag("v0.47.17"), Some(99));
        assert_eq!(flag("v0.50.0"), Some(99));
        assert_eq!(flag("v0.50.9"), Some(99));
        assert_eq!(flag("v0.50.10"), Some(100));
        assert_eq!(flag("v0.50.14"), Some(100));
        assert_eq!(flag("v0.53.4"), Some(100));
        assert_eq!(flag("v0.46.0"), Some(99));
        let fallback = HaltMethod::for_target(100, None);
        assert!(fallback.is_racy());
        assert_eq!(fallback, HaltMethod::OnNewBlock { stop_after: 99 });
    }
}
