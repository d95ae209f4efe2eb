//! Which upcoming upgrades get their binary staged ahead of the halt, and what a swap does when
//! the binary is not there at the halt.
//!
//! Staged early (when downloads are allowed at all): the chain's scheduled plan, and proposals
//! that passed; proposals still in their voting period only when the operator asked for it
//! (running a binary from a proposal that may never pass is the operator's choice). Never an
//! upgrade whose height is already reached, or one the node is told to skip, or one whose plan
//! lists no binaries.
//!
//! At the halt, the binary must be in place. If it is not, and downloads are allowed and the
//! plan's info says where to get it, it is downloaded then (the last resort: that is downtime);
//! otherwise the swap cannot go on.

use std::collections::BTreeSet;

/// Where an upcoming upgrade was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// The chain's scheduled plan (`CurrentPlan`).
    ScheduledPlan,
    /// A governance proposal in this phase.
    Proposal(ProposalPhase),
}

/// The phase of a governance proposal, as far as staging cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalPhase {
    /// In its deposit period: never staged.
    Deposit,
    /// In its voting period: staged only with `include_voting`.
    Voting,
    /// Passed: staged like the scheduled plan.
    Passed,
    /// Rejected, failed, or a status we do not know.
    Other,
}

/// One upcoming upgrade, as staging sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingCandidate {
    /// The upgrade height from the plan or proposal.
    pub height: i64,
    /// Where it was seen: the scheduled plan or a proposal.
    pub sighting: Sighting,
    /// Whether its plan lists a binary for this platform.
    pub lists_binary: bool,
}

/// The operator's staging settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingPolicy {
    /// `DAEMON_ALLOW_DOWNLOAD_BINARIES`.
    pub allow_download: bool,
    /// `SWITCHYARD_PRESTAGE_VOTING` (or `prepare --include-voting`).
    pub include_voting: bool,
}

/// Whether `c` should be staged now.
pub fn should_stage(
    c: &StagingCandidate,
    latest_height: Option<i64>,
    skip_heights: &BTreeSet<i64>,
    policy: StagingPolicy,
) -> bool {
    let wanted = match c.sighting {
        Sighting::ScheduledPlan | Sighting::Proposal(ProposalPhase::Passed) => true,
        Sighting::Proposal(ProposalPhase::Voting) => policy.include_voting,
        Sighting::Proposal(_) => false,
    };
    policy.allow_download
        && wanted
        && c.lists_binary
        && !skip_heights.contains(&c.height)
        && latest_height.is_none_or(|h| c.height > h)
}

/// What the swap does about the new binary at the halt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryStep {
    /// It is in place: go on.
    Ready,
    /// Not in place; download it from the plan's info now.
    DownloadNow,
    /// Not in place and cannot be fetched: the swap stops here, nothing changed.
    Missing {
        /// Whether downloads were allowed (if so, the upgrade had no plan info to fetch from).
        download_allowed: bool,
    },
}

/// Decides [`BinaryStep`] from whether the binary is in place, whether downloads are allowed,
/// and whether the upgrade has plan info to download from (manual upgrades have none).
pub fn binary_step(in_place: bool, allow_download: bool, has_info: bool) -> BinaryStep {
    match (in_place, allow_download && has_info) {
        (true, _) => BinaryStep::Ready,
        (false, true) => BinaryStep::DownloadNow,
        (false, false) => BinaryStep::Missing {
            download_allowed: allow_download,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(height: i64, sighting: Sighting, lists_binary: bool) -> StagingCandidate {
        StagingCandidate {
            height,
            sighting,
            lists_binary,
        }
    }

    const ON: StagingPolicy = StagingPolicy {
        allow_download: true,
        include_voting: false,
    };

    #[test]
    fn stages_plans_and_passed_proposals_and_voting_ones_only_when_asked() {
        let none = BTreeSet::new();
        let at = Some(100);
        assert!(should_stage(
            &c(200, Sighting::ScheduledPlan, true),
            at,
            &none,
            ON
        ));
        let passed = Sighting::Proposal(ProposalPhase::Passed);
        assert!(should_stage(&c(200, passed, true), at, &none, ON));
        let voting = Sighting::Proposal(ProposalPhase::Voting);
        assert!(!should_stage(&c(300, voting, true), at, &none, ON));
        let with_voting = StagingPolicy {
            include_voting: true,
            ..ON
        };
        assert!(should_stage(&c(300, voting, true), at, &none, with_voting));
        let deposit = Sighting::Proposal(ProposalPhase::Deposit);
        assert!(!should_stage(
            &c(300, deposit, true),
            at,
            &none,
            with_voting
        ));
        // No binary listed, already reached, skipped, downloads off.
        assert!(!should_stage(
            &c(400, Sighting::ScheduledPlan, false),
            at,
            &none,
            ON
        ));
        assert!(!should_stage(
            &c(50, Sighting::ScheduledPlan, true),
            at,
            &none,
            ON
        ));
        assert!(!should_stage(
            &c(200, Sighting::ScheduledPlan, true),
            at,
            &BTreeSet::from([200]),
            ON
        ));
        let off = StagingPolicy {
            allow_download: false,
            include_voting: true,
        };
        assert!(!should_stage(
            &c(200, Sighting::ScheduledPlan, true),
            at,
            &none,
            off
        ));
    }

    #[test]
    fn the_binary_step_at_the_halt() {
        assert_eq!(binary_step(true, false, false), BinaryStep::Ready);
        assert_eq!(binary_step(false, true, true), BinaryStep::DownloadNow);
        assert_eq!(
            binary_step(false, true, false),
            BinaryStep::Missing {
                download_allowed: true
            }
        );
        assert_eq!(
            binary_step(false, false, true),
            BinaryStep::Missing {
                download_allowed: false
            }
        );
    }
}
