//! Whether this node is ready for an upcoming upgrade: the verdict `switchyard plan` prints and
//! the `/metrics` readiness gauges export, decided from facts the shell gathered.
//!
//! An upgrade is ready when nothing stands between the halt and the new binary starting:
//! - its binary is on disk (staged by switchyard, or placed by the operator), or — when the
//!   store was not looked at — the chain lists a binary for this platform *with* a checksum;
//! - a staged binary's digest matched the checksum the chain asked for ("checksum verified";
//!   an operator's own binary has nothing to be checked against and is trusted as placed);
//! - a staged binary started on this host (`<bin> version`, "preflight ok");
//! - the data backup taken before the swap fits on its disk ("backup space ok"; unknown until
//!   it is estimated, which does not block);
//! - nothing else blocks it ([`Obstacle`]: an unusable name, a height already passed, a plan
//!   that displaces a manual upgrade, a racy halt, a staging record that cannot be read).
//!
//! Besides, `binary_source` says whether the binary has anywhere to come from: it is on disk,
//! or the chain (plan info, proposal) or the chain registry gives one for this platform; `No`
//! is what `plan` and `/metrics` call "no binary source". It adds no blocker of its own (a
//! binary with no source is already missing, or not listed usably).
//!
//! Each of the four checks is a [`Check`]; [`Readiness::ready`] holds exactly when no check
//! is [`Check::No`], the binary is known to be there (or listed usably when the store was not
//! looked at), and no obstacle stands. [`Readiness::blockers`] says what is missing.

/// Whether the upgrade's binary is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFact {
    /// switchyard staged it (there is a staging record for the binary in place).
    Staged {
        /// The download's digest matched the checksum the plan listed.
        checksum_verified: bool,
        /// How its `<bin> version` preflight went.
        preflight: PreflightFact,
    },
    /// The operator placed it (`add-upgrade`, or by hand): no staging record.
    Placed,
    /// Not in `upgrades/<name>/bin/`.
    Missing,
    /// The store was not looked at (no `DAEMON_HOME`/`DAEMON_NAME`).
    NotChecked,
}

/// How the `<bin> version` check of a staged binary went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightFact {
    /// `<bin> version` ran and succeeded on this host.
    Ok,
    /// `<bin> version` failed on this host.
    Failed,
    /// Installed, not run yet.
    Pending,
    /// Not run on purpose (downloaded without a checksum: nothing unverified is executed).
    Skipped,
}

/// What the chain lists for this platform (matters only while the binary is not on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFact {
    /// A binary for this platform; `checksum`: whether it comes with one.
    ForPlatform {
        /// Whether the listed URL carries a `checksum`.
        checksum: bool,
    },
    /// No usable binary for this platform (plain-text info, none for this platform, an info
    /// URL that could not be read).
    Unusable,
    /// Nothing is listed by nature (a manual upgrade: the operator places the binary).
    NotApplicable,
}

/// Whether the data backup taken before the swap fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFact {
    /// The estimated backup fits on the backup disk.
    Fits,
    /// The backup would not fit on the backup disk.
    TooSmall,
    /// No backup is taken (`UNSAFE_SKIP_BACKUP`).
    NotTaken,
    /// Not estimated.
    Unknown,
}

/// Something other than the binary that keeps an upgrade from running as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Obstacle {
    /// The upgrade name cannot be used as a folder name.
    UnusableName,
    /// The chain is already at or past the upgrade height.
    HeightReached,
    /// A manual upgrade at the same height as the chain's plan: the plan wins.
    Suspended,
    /// The old binary's SDK version is unknown, so it is stopped on block H-1 (racy).
    RacyHalt,
    /// The staging record exists but cannot be read.
    UnreadableRecord,
}

/// Everything the verdict is decided from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessFacts {
    /// Whether the binary is on disk, and how it got there.
    pub binary: BinaryFact,
    /// What the plan lists for this platform.
    pub listing: ListingFact,
    /// Whether the pre-swap data backup fits.
    pub backup: BackupFact,
    /// Everything else in the way; order and repeats do not matter.
    pub obstacles: Vec<Obstacle>,
}

/// The state of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The check passed.
    Yes,
    /// The check failed: the upgrade is not ready.
    No,
    /// Not known yet (not staged, not estimated, or the store was not looked at).
    Unknown,
    /// Does not apply (an operator's own binary has no checksum or preflight of ours).
    NotApplicable,
}

/// Why an upgrade is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocker {
    /// The binary is not in `upgrades/<name>/bin/`.
    BinaryMissing,
    /// The store was not looked at and the chain lists no usable binary for this platform.
    NoUsableBinaryListed,
    /// A staged binary was not checked against a checksum, or the binary still to download has
    /// none listed.
    ChecksumNotVerified,
    /// A staged binary's preflight failed, or was skipped (staged without a checksum).
    PreflightNotOk,
    /// The pre-swap data backup would not fit on the backup disk.
    BackupDoesNotFit,
    /// One of [`ReadinessFacts::obstacles`], each listed once.
    Obstacle(Obstacle),
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Nothing stands between the halt and the new binary starting.
    pub ready: bool,
    /// `Yes` when staged or placed, `No` when missing, `Unknown` when the store was not looked
    /// at.
    pub binary_staged: Check,
    /// Whether a staged binary's digest matched the plan's checksum (`NotApplicable` for a
    /// placed binary).
    pub checksum_verified: Check,
    /// Whether a staged binary's `<bin> version` succeeded here (`NotApplicable` for a placed
    /// binary).
    pub preflight_ok: Check,
    /// Whether the pre-swap backup fits (`NotApplicable` when no backup is taken).
    pub backup_space_ok: Check,
    /// `Yes` when the binary is on disk or some source lists one for this platform; `No`:
    /// no binary source.
    pub binary_source: Check,
    /// Empty exactly when `ready`.
    pub blockers: Vec<Blocker>,
}

/// Decides readiness from the facts (see the module docs for the rules).
pub fn readiness(f: &ReadinessFacts) -> Readiness {
    let binary_staged = match f.binary {
        BinaryFact::Staged { .. } | BinaryFact::Placed => Check::Yes,
        BinaryFact::Missing => Check::No,
        BinaryFact::NotChecked => Check::Unknown,
    };
    let checksum_verified = match f.binary {
        BinaryFact::Staged {
            checksum_verified, ..
        } => yes_no(checksum_verified),
        BinaryFact::Placed => Check::NotApplicable,
        // Not on disk yet: a listed checksum will be verified while downloading.
        BinaryFact::Missing | BinaryFact::NotChecked => match f.listing {
            ListingFact::ForPlatform { checksum: true } => Check::Unknown,
            ListingFact::ForPlatform { checksum: false } => Check::No,
            ListingFact::Unusable | ListingFact::NotApplicable => Check::Unknown,
        },
    };
    let preflight_ok = match f.binary {
        BinaryFact::Staged { preflight, .. } => match preflight {
            PreflightFact::Ok => Check::Yes,
            PreflightFact::Failed | PreflightFact::Skipped => Check::No,
            PreflightFact::Pending => Check::Unknown,
        },
        BinaryFact::Placed => Check::NotApplicable,
        BinaryFact::Missing | BinaryFact::NotChecked => Check::Unknown,
    };
    let backup_space_ok = match f.backup {
        BackupFact::Fits => Check::Yes,
        BackupFact::TooSmall => Check::No,
        BackupFact::NotTaken => Check::NotApplicable,
        BackupFact::Unknown => Check::Unknown,
    };
    let binary_source = match (f.binary, f.listing) {
        (BinaryFact::Staged { .. } | BinaryFact::Placed, _) => Check::Yes,
        (_, ListingFact::ForPlatform { .. }) => Check::Yes,
        (_, ListingFact::Unusable | ListingFact::NotApplicable) => Check::No,
    };
    let mut blockers = Vec::new();
    match f.binary {
        BinaryFact::Missing => blockers.push(Blocker::BinaryMissing),
        BinaryFact::NotChecked if !matches!(f.listing, ListingFact::ForPlatform { .. }) => {
            blockers.push(Blocker::NoUsableBinaryListed)
        }
        _ => {}
    }
    if checksum_verified == Check::No {
        blockers.push(Blocker::ChecksumNotVerified);
    }
    if preflight_ok == Check::No {
        blockers.push(Blocker::PreflightNotOk);
    }
    if backup_space_ok == Check::No {
        blockers.push(Blocker::BackupDoesNotFit);
    }
    let mut obstacles = f.obstacles.clone();
    obstacles.sort();
    obstacles.dedup();
    blockers.extend(obstacles.into_iter().map(Blocker::Obstacle));
    Readiness {
        ready: blockers.is_empty(),
        binary_staged,
        checksum_verified,
        preflight_ok,
        backup_space_ok,
        binary_source,
        blockers,
    }
}

fn yes_no(b: bool) -> Check {
    if b {
        Check::Yes
    } else {
        Check::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(binary: BinaryFact, listing: ListingFact) -> ReadinessFacts {
        ReadinessFacts {
            binary,
            listing,
            backup: BackupFact::Unknown,
            obstacles: vec![],
        }
    }

    const STAGED_OK: BinaryFact = BinaryFact::Staged {
        checksum_verified: true,
        preflight: PreflightFact::Ok,
    };

    #[test]
    fn a_binary_with_nowhere_to_come_from_has_no_source() {
        let listed = ListingFact::ForPlatform { checksum: true };
        for (binary, listing, want) in [
            (BinaryFact::Missing, ListingFact::Unusable, Check::No),
            (BinaryFact::Missing, ListingFact::NotApplicable, Check::No),
            (BinaryFact::NotChecked, ListingFact::Unusable, Check::No),
            (BinaryFact::Missing, listed, Check::Yes),
            (BinaryFact::Placed, ListingFact::NotApplicable, Check::Yes),
            (STAGED_OK, ListingFact::Unusable, Check::Yes),
        ] {
            let r = readiness(&facts(binary, listing));
            assert_eq!(r.binary_source, want, "{binary:?} {listing:?}");
            if want == Check::No {
                assert!(!r.ready);
            }
        }
    }

    #[test]
    fn the_usual_cases() {
        let listed = ListingFact::ForPlatform { checksum: true };
        // Chain state only: a binary with a checksum is listed.
        assert!(readiness(&facts(BinaryFact::NotChecked, listed)).ready);
        let r = readiness(&facts(
            BinaryFact::NotChecked,
            ListingFact::ForPlatform { checksum: false },
        ));
        assert_eq!(r.blockers, [Blocker::ChecksumNotVerified]);
        let r = readiness(&facts(BinaryFact::NotChecked, ListingFact::Unusable));
        assert_eq!(r.blockers, [Blocker::NoUsableBinaryListed]);
        // With the store: listed is not enough, the binary must be there.
        let r = readiness(&facts(BinaryFact::Missing, listed));
        assert_eq!(r.blockers, [Blocker::BinaryMissing]);
        assert_eq!(r.binary_staged, Check::No);
        let r = readiness(&facts(STAGED_OK, ListingFact::Unusable));
        assert!(r.ready);
        assert_eq!(
            (r.binary_staged, r.checksum_verified, r.preflight_ok),
            (Check::Yes, Check::Yes, Check::Yes)
        );
        // An operator's binary is trusted as placed.
        let r = readiness(&facts(BinaryFact::Placed, ListingFact::NotApplicable));
        assert!(r.ready);
        assert_eq!(r.checksum_verified, Check::NotApplicable);
        // A failed preflight blocks; a pending one does not.
        let failed = BinaryFact::Staged {
            checksum_verified: true,
            preflight: PreflightFact::Failed,
        };
        assert_eq!(
            readiness(&facts(failed, listed)).blockers,
            [Blocker::PreflightNotOk]
        );
        let pending = BinaryFact::Staged {
            checksum_verified: true,
            preflight: PreflightFact::Pending,
        };
        assert!(readiness(&facts(pending, listed)).ready);
        // Backup space: unknown does not block, too small does.
        let mut f = facts(STAGED_OK, listed);
        f.backup = BackupFact::TooSmall;
        assert_eq!(readiness(&f).blockers, [Blocker::BackupDoesNotFit]);
        f.backup = BackupFact::NotTaken;
        assert_eq!(readiness(&f).backup_space_ok, Check::NotApplicable);
        assert!(readiness(&f).ready);
        // Obstacles are reported once each, in order.
        f.obstacles = vec![Obstacle::RacyHalt, Obstacle::Suspended, Obstacle::RacyHalt];
        assert_eq!(
            readiness(&f).blockers,
            [
                Blocker::Obstacle(Obstacle::Suspended),
                Blocker::Obstacle(Obstacle::RacyHalt)
            ]
        );
    }

    fn any_binary() -> impl Strategy<Value = BinaryFact> {
        let preflight = prop_oneof![
            Just(PreflightFact::Ok),
            Just(PreflightFact::Failed),
            Just(PreflightFact::Pending),
            Just(PreflightFact::Skipped),
        ];
        prop_oneof![
            (any::<bool>(), preflight).prop_map(|(c, p)| BinaryFact::Staged {
                checksum_verified: c,
                preflight: p
            }),
            Just(BinaryFact::Placed),
            Just(BinaryFact::Missing),
            Just(BinaryFact::NotChecked),
        ]
    }

    fn any_facts() -> impl Strategy<Value = ReadinessFacts> {
        let listing = prop_oneof![
            any::<bool>().prop_map(|c| ListingFact::ForPlatform { checksum: c }),
            Just(ListingFact::Unusable),
            Just(ListingFact::NotApplicable),
        ];
        let backup = prop_oneof![
            Just(BackupFact::Fits),
            Just(BackupFact::TooSmall),
            Just(BackupFact::NotTaken),
            Just(BackupFact::Unknown),
        ];
        let obstacle = prop_oneof![
            Just(Obstacle::UnusableName),
            Just(Obstacle::HeightReached),
            Just(Obstacle::Suspended),
            Just(Obstacle::RacyHalt),
            Just(Obstacle::UnreadableRecord),
        ];
        (
            any_binary(),
            listing,
            backup,
            proptest::collection::vec(obstacle, 0..3),
        )
            .prop_map(|(binary, listing, backup, obstacles)| ReadinessFacts {
                binary,
                listing,
                backup,
                obstacles,
            })
    }

    proptest! {
        #[test]
        fn ready_means_nothing_blocks(f in any_facts()) {
            let r = readiness(&f);
            prop_assert_eq!(r.ready, r.blockers.is_empty());
            if r.ready {
                for c in [r.binary_staged, r.checksum_verified, r.preflight_ok, r.backup_space_ok] {
                    prop_assert_ne!(c, Check::No);
                }
                prop_assert!(f.obstacles.is_empty());
                prop_assert_ne!(f.binary, BinaryFact::Missing);
                prop_assert_ne!(f.backup, BackupFact::TooSmall);
            }
        }

        #[test]
        fn any_obstacle_or_a_missing_binary_is_never_ready(f in any_facts()) {
            let r = readiness(&f);
            if !f.obstacles.is_empty() || f.binary == BinaryFact::Missing {
                prop_assert!(!r.ready);
            }
        }

        #[test]
        fn learning_more_about_the_backup_never_makes_an_upgrade_ready(f in any_facts()) {
            // Unknown -> TooSmall can only take readiness away; Unknown -> Fits never adds a blocker.
            let unknown = readiness(&ReadinessFacts { backup: BackupFact::Unknown, ..f.clone() });
            let small = readiness(&ReadinessFacts { backup: BackupFact::TooSmall, ..f.clone() });
            let fits = readiness(&ReadinessFacts { backup: BackupFact::Fits, ..f.clone() });
            prop_assert!(!small.ready);
            prop_assert_eq!(fits.ready, unknown.ready);
        }

        #[test]
        fn a_staged_binary_is_ready_exactly_when_verified_and_its_preflight_did_not_fail(
            c in any::<bool>(),
            p in prop_oneof![Just(PreflightFact::Ok), Just(PreflightFact::Failed), Just(PreflightFact::Pending), Just(PreflightFact::Skipped)],
        ) {
            let r = readiness(&ReadinessFacts {
                binary: BinaryFact::Staged { checksum_verified: c, preflight: p },
                listing: ListingFact::Unusable,
                backup: BackupFact::Fits,
                obstacles: vec![],
            });
            prop_assert_eq!(r.ready, c && matches!(p, PreflightFact::Ok | PreflightFact::Pending));
        }
    }
}
