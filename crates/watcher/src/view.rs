//! The typed picture of what the chain has decided: the scheduled plan, upgrade proposals, and
//! the list of upcoming upgrades merged from both.
//!
//! Merging follows the chain's own rules: a proposal's plan is scheduled the moment it passes, so
//! `CurrentPlan` is the truth for passed proposals (a passed plan that is not current was
//! cancelled, superseded, already applied, or failed to schedule). Proposals still in their
//! voting period are shown as possible upgrades.

use std::time::Duration;

use crate::block_times::eta;
use crate::info::PlanBinariesView;
use crate::proposals::{PlanSpec, ProposalStatus, UpgradeProposal};

/// A plan with its `info` resolved into binaries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanView {
    #[serde(flatten)]
    pub spec: PlanSpec,
    pub binaries: PlanBinariesView,
}

/// An upgrade proposal with its plan's binaries resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProposalView {
    #[serde(flatten)]
    pub proposal: UpgradeProposal,
    /// The binaries of `proposal.plan` (None when it has no plan).
    pub binaries: Option<PlanBinariesView>,
}

/// Where an upcoming upgrade is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeSource {
    /// The chain's scheduled plan (`CurrentPlan`).
    Plan,
    /// A proposal still in its voting period.
    Proposal,
}

/// One upgrade that is coming (or might be).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upcoming {
    pub name: String,
    pub height: i64,
    pub info: String,
    pub source: UpgradeSource,
    pub proposal_id: Option<u64>,
    pub proposal_status: Option<ProposalStatus>,
    pub binaries: PlanBinariesView,
    /// Expected time until `height`, from the average block time.
    pub eta: Option<Duration>,
}

/// Merges the plan and proposals into upcoming upgrades, plan first, then proposals by height.
pub fn upcoming(
    plan: Option<&PlanView>,
    proposals: &[ProposalView],
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
            source: UpgradeSource::Plan,
            proposal_id: passed.map(|v| v.proposal.id),
            proposal_status: passed.map(|v| v.proposal.status),
            binaries: p.binaries.clone(),
            eta: per_block.map(|b| eta(height, p.spec.height, b)),
        });
    }
    let mut voting: Vec<&ProposalView> = proposals
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
            source: UpgradeSource::Proposal,
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

    fn spec(name: &str, h: i64) -> PlanSpec {
        PlanSpec {
            name: name.into(),
            height: h,
            info: String::new(),
        }
    }

    fn prop(id: u64, status: ProposalStatus, plan: Option<PlanSpec>) -> ProposalView {
        ProposalView {
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
        let plan = PlanView {
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
                ("v2", UpgradeSource::Plan, Some(5)),
                ("v3", UpgradeSource::Proposal, Some(8)),
                ("v4", UpgradeSource::Proposal, Some(9)),
            ]
        );
        assert_eq!(u[0].eta, Some(Duration::from_secs(120)));
        // A passed proposal that is not the current plan is not upcoming.
        assert!(upcoming(None, &props[1..3], 40, None).is_empty());
    }
}
