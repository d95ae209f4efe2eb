//! The typed picture of what the chain has decided: the scheduled plan, upgrade proposals, and
//! the list of upcoming upgrades merged from both.
//!
//! Merging follows the chain's own rules: a proposal's plan is scheduled the moment it passes, so
//! `CurrentPlan` is the truth for passed proposals (a passed plan that is not current was
//! cancelled, superseded, already applied, or failed to schedule). Proposals still in their
//! voting period are shown as possible upgrades.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::block_times::eta;
use crate::plan_binaries::PlanBinariesView;
use crate::proposals::{ProposalStatus, RawPlan, UpgradeProposal};
use crate::query::Transport;

/// Everything the watcher currently knows. `None` means "not known yet".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainView {
    /// The chain id the node reports, from the last full refresh.
    pub chain_id: Option<String>,
    /// Latest block height CometBFT reports (`/status` or NewBlock).
    pub latest_height: Option<i64>,
    /// Header time of the latest block seen (`/status`, NewBlock, or gRPC).
    pub latest_block_time: Option<DateTime<Utc>>,
    /// The app's last committed height (`/abci_info`); H-1 while halted at a plan at H.
    pub last_committed_height: Option<i64>,
    /// The app's version string from `/abci_info`.
    pub app_version: Option<String>,
    /// The last time the block store's and the app's heights were read together.
    pub heights_read: Option<HeightsRead>,
    /// Whether the node says it is still syncing (`/status` `catching_up`, or gRPC
    /// `GetSyncing`); false until first read.
    pub catching_up: bool,
    /// Peers connected (`/net_info` `n_peers`); `None` until read, or when the node refuses it.
    pub peers: Option<u32>,
    /// Average block time over the recent window.
    pub average_block_time: Option<Duration>,
    /// The transport module queries go over first, from the last full refresh.
    pub transport: Option<Transport>,
    /// Whether `plan` reflects a successful `CurrentPlan` query (false until the first one).
    pub plan_known: bool,
    /// The chain's scheduled plan (`CurrentPlan`) with its binaries; `None` when none is
    /// scheduled, or before the first query (see `plan_known`).
    pub plan: Option<PlanWithBinaries>,
    /// Upgrade proposals in voting or passed, from the last read of governance that succeeded.
    pub proposals: Vec<ProposalWithBinaries>,
    /// `plan` and the proposals in voting merged, recomputed on every update.
    pub upcoming: Vec<Upcoming>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// When the view last changed from a successful query.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The block store's height (`/status`) and the app's committed height (`/abci_info`) read in
/// one refresh. They differ by one while a block executes, and for good when the node stopped
/// before executing a block it already stored (a halt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HeightsRead {
    /// The block store's latest height (`/status` `latest_block_height`).
    pub latest: i64,
    /// The app's last committed height (`/abci_info` `last_block_height`).
    pub committed: i64,
    /// Counts reads, so two reads of the same heights are still two observations.
    pub seq: u64,
}

impl ChainView {
    /// The scheduled plan as the decision core takes it (`None`: no plan, or not known yet;
    /// `Some(Err)`: the chain's plan name is not usable as a folder name).
    pub fn scheduled_plan(
        &self,
        disable_recase: bool,
    ) -> Option<Result<switchyard_core::ScheduledPlan, switchyard_core::NameError>> {
        self.plan
            .as_ref()
            .map(|p| p.spec.scheduled_plan(disable_recase))
    }
}

/// A plan with its `info` resolved into binaries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanWithBinaries {
    /// The plan as the chain reports it.
    #[serde(flatten)]
    pub spec: RawPlan,
    /// What the plan's `info` says about binaries.
    pub binaries: PlanBinariesView,
}

/// An upgrade proposal with its plan's binaries resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProposalWithBinaries {
    /// The proposal as read from governance.
    #[serde(flatten)]
    pub proposal: UpgradeProposal,
    /// The binaries of `proposal.plan` (None when it has no plan).
    pub binaries: Option<PlanBinariesView>,
}

/// Where an upcoming upgrade is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeenIn {
    /// The chain's scheduled plan (`CurrentPlan`).
    Plan,
    /// A proposal still in its voting period.
    Proposal,
}

/// One upgrade that is coming (or might be).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upcoming {
    /// The plan's name, as the chain states it (not validated).
    pub name: String,
    /// The height the upgrade is planned at.
    pub height: i64,
    /// The plan's raw `info`.
    pub info: String,
    /// Whether it is the scheduled plan or a proposal in voting.
    pub source: SeenIn,
    /// The proposal behind it: for the scheduled plan, a passed proposal with the same name and
    /// height (`None` when there is none, e.g. proposals were not read).
    pub proposal_id: Option<u64>,
    /// That proposal's status; `None` when `proposal_id` is.
    pub proposal_status: Option<ProposalStatus>,
    /// What the plan's `info` says about binaries.
    pub binaries: PlanBinariesView,
    /// Expected time until `height`, from the average block time.
    pub eta: Option<Duration>,
}

/// Merges the plan and proposals into upcoming upgrades, plan first, then proposals by height.
pub(crate) fn upcoming(
    plan: Option<&PlanWithBinaries>,
    proposals: &[ProposalWithBinaries],
    height: i64,
    per_block: Option<Duration>,
) -> Vec<Upcoming> {
    let mut out = Vec::new();
    if let Some(p) = plan {
        let passed = proposals.iter().find(|v| {
            v.proposal.status == ProposalStatus::Passed
                && v.proposal
                    .plan
                    .as_ref()
                    .is_some_and(|pp| pp.name == p.spec.name && pp.height == p.spec.height)
        });
        out.push(Upcoming {
            name: p.spec.name.clone(),
            height: p.spec.height,
            info: p.spec.info.clone(),
            source: SeenIn::Plan,
            proposal_id: passed.map(|v| v.proposal.id),
            proposal_status: passed.map(|v| v.proposal.status),
            binaries: p.binaries.clone(),
            eta: per_block.map(|b| eta(height, p.spec.height, b)),
        });
    }
    let mut voting: Vec<&ProposalWithBinaries> = proposals
        .iter()
        .filter(|v| v.proposal.status == ProposalStatus::VotingPeriod && v.proposal.plan.is_some())
        .collect();
    voting.sort_by_key(|v| (v.proposal.plan.as_ref().map(|p| p.height), v.proposal.id));
    for v in voting {
        let Some(spec) = &v.proposal.plan else {
            continue;
        };
        out.push(Upcoming {
            name: spec.name.clone(),
            height: spec.height,
            info: spec.info.clone(),
            source: SeenIn::Proposal,
            proposal_id: Some(v.proposal.id),
            proposal_status: Some(v.proposal.status),
            binaries: v.binaries.clone().unwrap_or(PlanBinariesView::None),
            eta: per_block.map(|b| eta(height, spec.height, b)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, h: i64) -> RawPlan {
        RawPlan {
            name: name.into(),
            height: h,
            info: String::new(),
        }
    }

    fn prop(id: u64, status: ProposalStatus, plan: Option<RawPlan>) -> ProposalWithBinaries {
        ProposalWithBinaries {
            proposal: UpgradeProposal {
                id,
                status,
                plan,
                cancels: false,
                voting_end_time: None,
                problems: vec![],
            },
            binaries: None,
        }
    }

    #[test]
    fn plan_is_matched_to_its_passed_proposal_and_voting_ones_follow() {
        let plan = PlanWithBinaries {
            spec: spec("v2", 100),
            binaries: PlanBinariesView::None,
        };
        let props = vec![
            prop(9, ProposalStatus::VotingPeriod, Some(spec("v4", 300))),
            prop(3, ProposalStatus::Passed, Some(spec("v1", 50))),
            prop(5, ProposalStatus::Passed, Some(spec("v2", 100))),
            prop(8, ProposalStatus::VotingPeriod, Some(spec("v3", 200))),
            prop(10, ProposalStatus::VotingPeriod, None),
        ];
        let u = upcoming(Some(&plan), &props, 40, Some(Duration::from_secs(2)));
        let got: Vec<_> = u
            .iter()
            .map(|u| (u.name.as_str(), u.source, u.proposal_id))
            .collect();
        assert_eq!(
            got,
            vec![
                ("v2", SeenIn::Plan, Some(5)),
                ("v3", SeenIn::Proposal, Some(8)),
                ("v4", SeenIn::Proposal, Some(9)),
            ]
        );
        assert_eq!(u[0].eta, Some(Duration::from_secs(120)));
        // A passed proposal that is not the current plan is not upcoming.
        assert!(upcoming(None, &props[1..3], 40, None).is_empty());
    }
}
