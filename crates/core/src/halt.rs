//! What `--halt-height N` does on a given binary, and which flag makes block H run on the new
//! binary.
//!
//! For an upgrade with no on-chain plan the old binary is stopped with the node's own
//! halt-height. Its meaning changed across Cosmos SDK versions (docs/node-facts.md):
//! - v0.47 and older **commit** block N, then the process exits by itself;
//! - v0.50.0–v0.50.9 **commit** block N, then stop in consensus failure and keep running;
//! - v0.50.10 and later stop **before** committing N (N-1 is the last), and keep running.
//!
//! A binary's [`HaltBehaviour`] comes from its SDK version when it can be told, or from what an
//! earlier run of the same binary showed (recorded by its sha256). When neither is known the
//! node is *probed*: started with `--halt-height H-1`, which is safe under every behaviour (it
//! never lets the old binary commit H). A node that commits H-1 or exits at it is of the older
//! meaning and is swapped; one that stops with H-2 committed is of the newer meaning and is
//! restarted once with `--halt-height H` (see `decide`).

use std::fmt;

/// A Cosmos SDK version as reported by `version --long --output json` (`cosmos_sdk_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SdkVersion {
    /// The `0` in `v0.50.10`.
    pub major: u64,
    /// The `50` in `v0.50.10`.
    pub minor: u64,
    /// The `10` in `v0.50.10`; 0 when the version gives only major and minor.
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
        if parts.next().is_some() {
            return None;
        }
        Some(SdkVersion {
            major,
            minor,
            patch,
        })
    }

    /// What `--halt-height` does on a binary built with this SDK version.
    pub fn halt_behaviour(self) -> HaltBehaviour {
        match (self.major, self.minor, self.patch) {
            (0, m, _) if m < 50 => HaltBehaviour::CommitsThenExits,
            (0, 50, p) if p < 10 => HaltBehaviour::CommitsThenWaits,
            _ => HaltBehaviour::StopsBefore,
        }
    }
}

impl fmt::Display for SdkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `--halt-height N` does on one binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltBehaviour {
    /// Block N is committed, then the process exits by itself (SDK v0.47 and older).
    CommitsThenExits,
    /// Block N is committed, then the node stops in consensus failure and keeps running
    /// (v0.50.0–v0.50.9).
    CommitsThenWaits,
    /// Block N is committed; whether the process then exits was not seen (learned by a probe
    /// that swapped as soon as N was committed).
    Commits,
    /// Block N is not committed (N-1 is the last); the node keeps running (v0.50.10 and later).
    StopsBefore,
}

impl HaltBehaviour {
    /// Whether block N itself is committed.
    pub fn commits_halt_height(self) -> bool {
        !matches!(self, HaltBehaviour::StopsBefore)
    }

    /// Whether the process is known to exit by itself once halted.
    pub fn exits_at_halt(self) -> bool {
        matches!(self, HaltBehaviour::CommitsThenExits)
    }

    /// The `--halt-height` that makes H-1 the last block this binary commits.
    pub fn flag_for(self, target: i64) -> i64 {
        if self.commits_halt_height() {
            target.saturating_sub(1)
        } else {
            target
        }
    }
}

impl fmt::Display for HaltBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HaltBehaviour::CommitsThenExits => "commits the halt height, then exits",
            HaltBehaviour::CommitsThenWaits => "commits the halt height, then waits",
            HaltBehaviour::Commits => "commits the halt height",
            HaltBehaviour::StopsBefore => "stops before the halt height",
        })
    }
}

/// How the old binary is started before a manual upgrade at `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltFlag {
    /// The `--halt-height` to pass.
    pub flag: i64,
    /// The behaviour the flag was chosen for; `None` while probing (flag = target - 1).
    pub behaviour: Option<HaltBehaviour>,
}

impl HaltFlag {
    /// The flag for an upgrade at `target` on a binary whose behaviour is `behaviour` (`None`:
    /// not known, so probe with `target - 1`, which no behaviour lets commit `target`).
    pub fn for_target(target: i64, behaviour: Option<HaltBehaviour>) -> HaltFlag {
        HaltFlag {
            flag: match behaviour {
                Some(b) => b.flag_for(target),
                None => target.saturating_sub(1),
            },
            behaviour,
        }
    }

    /// Whether this is the probe flag (`target - 1`), chosen because the behaviour is not known.
    pub fn is_probe(self) -> bool {
        self.behaviour.is_none()
    }

    /// The last block the old binary can commit with this flag, under any behaviour this flag
    /// allows for.
    pub fn highest_commit(self) -> i64 {
        match self.behaviour {
            Some(HaltBehaviour::StopsBefore) => self.flag.saturating_sub(1),
            _ => self.flag,
        }
    }

    /// The earliest block the old binary may stop at with this flag, under any behaviour this
    /// flag allows for: from there on, a height that stops moving is this halt, not a stall.
    /// (The probe flag H-1 stops at H-2 on a binary that stops before its halt height.)
    pub fn lowest_commit(self) -> i64 {
        match self.behaviour {
            Some(b) if b.commits_halt_height() => self.flag,
            _ => self.flag.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(v("(devel)"), None);
        assert_eq!(v("1.2.3.4"), None);
    }

    #[test]
    fn behaviour_per_version_and_the_flag_it_calls_for() {
        let flag = |s| v(s).unwrap().halt_behaviour().flag_for(100);
        assert_eq!(flag("v0.45.16"), 99);
        assert_eq!(flag("v0.46.16"), 99);
        assert_eq!(flag("v0.47.17"), 99);
        assert_eq!(flag("v0.50.0"), 99);
        assert_eq!(flag("v0.50.9"), 99);
        assert_eq!(flag("v0.50.10"), 100);
        assert_eq!(flag("v0.50.15"), 100);
        assert_eq!(flag("v0.53.4"), 100);
        assert_eq!(flag("v0.54.4"), 100);
        assert_eq!(flag("v1.0.0"), 100);
        assert!(v("v0.47.17").unwrap().halt_behaviour().exits_at_halt());
        assert!(!v("v0.50.9").unwrap().halt_behaviour().exits_at_halt());
        let probe = HaltFlag::for_target(100, None);
        assert!(probe.is_probe());
        assert_eq!(probe.flag, 99);
    }

    fn arb_behaviour() -> impl Strategy<Value = HaltBehaviour> {
        prop_oneof![
            Just(HaltBehaviour::CommitsThenExits),
            Just(HaltBehaviour::CommitsThenWaits),
            Just(HaltBehaviour::Commits),
            Just(HaltBehaviour::StopsBefore),
        ]
    }

    /// The last block a node with behaviour `b` commits when started with `--halt-height flag`,
    /// stated from the node facts alone (not from `flag_for`).
    fn last_committed(b: HaltBehaviour, flag: i64) -> i64 {
        match b {
            HaltBehaviour::StopsBefore => flag - 1,
            _ => flag,
        }
    }

    proptest! {
        /// With the behaviour known, the old binary's last block is exactly H-1.
        #[test]
        fn known_behaviour_stops_exactly_before_the_target(b in arb_behaviour(), target in 2i64..1_000_000) {
            let f = HaltFlag::for_target(target, Some(b));
            prop_assert_eq!(last_committed(b, f.flag), target - 1);
            prop_assert_eq!(f.highest_commit(), target - 1);
        }

        /// The probe flag never lets any behaviour commit the target.
        #[test]
        fn the_probe_is_safe_under_every_behaviour(b in arb_behaviour(), target in 2i64..1_000_000) {
            let f = HaltFlag::for_target(target, None);
            prop_assert!(last_committed(b, f.flag) < target);
            prop_assert!(f.highest_commit() < target);
        }

        /// Wherever the old binary stops with a flag, that block lies between the flag's lowest
        /// and highest commit.
        #[test]
        fn every_behaviour_stops_between_the_lowest_and_highest_commit(
            b in arb_behaviour(),
            known in any::<bool>(),
            target in 2i64..1_000_000,
        ) {
            let f = HaltFlag::for_target(target, known.then_some(b));
            let last = last_committed(b, f.flag);
            prop_assert!(f.lowest_commit() <= last && last <= f.highest_commit());
        }

        /// Extreme heights never panic.
        #[test]
        fn extreme_targets_do_not_overflow(target in any::<i64>(), b in proptest::option::of(arb_behaviour())) {
            let _ = HaltFlag::for_target(target, b).highest_commit();
        }
    }
}
