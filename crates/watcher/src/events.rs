//! What changed between two looks at the chain, as events worth a log line: a plan appearing,
//! changing, being cancelled or applied, its height approaching, a proposal entering voting.
//!
//! Pure: [`diff`] compares two views and remembers which "approaching" thresholds it already
//! announced, so each is announced once per plan.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::proposals::RawPlan;
use crate::view::ChainView;

/// One change worth telling the operator (and the supervisor) about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// A plan is scheduled where there was none.
    PlanScheduled {
        /// The new plan.
        plan: RawPlan,
    },
    /// The scheduled plan was replaced by another.
    PlanChanged {
        /// The plan scheduled before.
        old: RawPlan,
        /// The plan scheduled now.
        new: RawPlan,
    },
    /// The plan disappeared before its height: cancelled.
    PlanCancelled {
        /// The plan that disappeared.
        plan: RawPlan,
        /// The node's latest block height when it was seen gone (0 if not known).
        at_height: i64,
    },
    /// The plan disappeared at or after its height: applied.
    PlanApplied {
        /// The plan that disappeared.
        plan: RawPlan,
    },
    /// The plan's height is `blocks` away (announced once per threshold).
    PlanApproaching {
        /// The scheduled plan.
        plan: RawPlan,
        /// Blocks left: the plan's height minus the latest block height.
        blocks: i64,
        /// Expected time until the plan's height, from the average block time; `None` until an
        /// average is known.
        eta: Option<Duration>,
    },
    /// A proposal carrying an upgrade entered its voting period.
    ProposalVoting {
        /// The proposal's id on chain.
        id: u64,
        /// The plan it would schedule; `None` when it only cancels, or its upgrade message could
        /// not be decoded.
        plan: Option<RawPlan>,
        /// Whether it cancels the current plan.
        cancels: bool,
    },
}

/// Remembers which thresholds were announced for which plan.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventMemory {
    announced: BTreeSet<(String, i64, i64)>,
    seen_voting: BTreeSet<u64>,
}

/// Events between `old` and `new`, with `thresholds` in blocks (e.g. `[100, 10]`).
pub(crate) fn diff(
    old: &ChainView,
    new: &ChainView,
    thresholds: &[i64],
    mem: &mut EventMemory,
) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    let old_plan = old.plan.as_ref().map(|p| &p.spec);
    let new_plan = new.plan.as_ref().map(|p| &p.spec);
    if new.plan_known {
        match (old_plan, new_plan) {
            (None, Some(n)) => out.push(WatchEvent::PlanScheduled { plan: n.clone() }),
            (Some(o), Some(n)) if o != n => out.push(WatchEvent::PlanChanged {
                old: o.clone(),
                new: n.clone(),
            }),
            (Some(o), None) if old.plan_known => {
                let h = new.latest_height.unwrap_or(0);
                if h >= o.height {
                    out.push(WatchEvent::PlanApplied { plan: o.clone() });
                } else {
                    out.push(WatchEvent::PlanCancelled {
                        plan: o.clone(),
                        at_height: h,
                    });
                }
            }
            _ => {}
        }
    }
    if let (Some(p), Some(h)) = (new_plan, new.latest_height) {
        let left = p.height.saturating_sub(h);
        // Crossing several thresholds at once (first seen close) is one announcement.
        let crossed = thresholds
            .iter()
            .copied()
            .filter(|&t| left <= t && left > 0)
            .filter(|&t| !mem.announced.contains(&(p.name.clone(), p.height, t)))
            .collect::<Vec<_>>();
        if !crossed.is_empty() {
            for t in &crossed {
                mem.announced.insert((p.name.clone(), p.height, *t));
            }
            out.push(WatchEvent::PlanApproaching {
                plan: p.clone(),
                blocks: left,
                eta: new
                    .average_block_time
                    .map(|b| crate::block_times::eta(h, p.height, b)),
            });
        }
    }
    for v in &new.proposals {
        let p = &v.proposal;
        if p.status == crate::proposals::ProposalStatus::VotingPeriod
            && mem.seen_voting.insert(p.id)
        {
            out.push(WatchEvent::ProposalVoting {
                id: p.id,
                plan: p.plan.clone(),
                cancels: p.cancels,
            });
        }
    }
    out
}

/// Logs an event at the level it deserves.
pub(crate) fn log(e: &WatchEvent) {
    match e {
        WatchEvent::PlanScheduled { plan } => tracing::info!(
            "upgrade plan {:?} scheduled at height {}{}",
            plan.name,
            plan.height,
            if plan.info.is_empty() {
                String::new()
            } else {
                format!(" (info: {})", short(&plan.info))
            }
        ),
        WatchEvent::PlanChanged { old, new } => tracing::warn!(
            "upgrade plan changed: {:?} at {} is now {:?} at {}",
            old.name,
            old.height,
            new.name,
            new.height
        ),
        WatchEvent::PlanCancelled { plan, at_height } => tracing::warn!(
            "upgrade plan {:?} at height {} was cancelled (chain at {at_height})",
            plan.name,
            plan.height
        ),
        WatchEvent::PlanApplied { plan } => {
            tracing::info!(
                "upgrade plan {:?} at height {} is no longer pending (applied)",
                plan.name,
                plan.height
            )
        }
        WatchEvent::PlanApproaching { plan, blocks, eta } => tracing::info!(
            "upgrade {:?} is {blocks} blocks away (height {}){}",
            plan.name,
            plan.height,
            eta.map(|d| format!(", about {}s", d.as_secs()))
                .unwrap_or_default()
        ),
        WatchEvent::ProposalVoting { id, plan, cancels } => match plan {
            Some(p) => tracing::info!(
                "proposal #{id} in voting: upgrade {:?} at height {}",
                p.name,
                p.height
            ),
            None if *cancels => {
                tracing::info!("proposal #{id} in voting: cancel the scheduled upgrade")
            }
            None => {}
        },
    }
}

fn short(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 120 {
        one_line.chars().take(117).collect::<String>() + "..."
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_binaries::PlanBinariesView;
    use crate::view::PlanWithBinaries;

    fn view(plan: Option<(&str, i64)>, h: i64) -> ChainView {
        ChainView {
            latest_height: Some(h),
            plan_known: true,
            plan: plan.map(|(n, ph)| PlanWithBinaries {
                spec: RawPlan {
                    name: n.into(),
                    height: ph,
                    info: String::new(),
                },
                binaries: PlanBinariesView::None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn plan_lifecycle_events() {
        let mut m = EventMemory::default();
        let t = [100, 10];
        let e = diff(&view(None, 10), &view(Some(("v2", 500)), 11), &t, &mut m);
        assert!(
            matches!(&e[..], [WatchEvent::PlanScheduled { .. }]),
            "{e:?}"
        );
        let e = diff(
            &view(Some(("v2", 500)), 11),
            &view(Some(("v2", 500)), 400),
            &t,
            &mut m,
        );
        assert!(
            matches!(&e[..], [WatchEvent::PlanApproaching { blocks: 100, .. }]),
            "{e:?}"
        );
        assert!(diff(
            &view(Some(("v2", 500)), 400),
            &view(Some(("v2", 500)), 420),
            &t,
            &mut m
        )
        .is_empty());
        let e = diff(
            &view(Some(("v2", 500)), 420),
            &view(Some(("v2", 500)), 495),
            &t,
            &mut m,
        );
        assert!(
            matches!(&e[..], [WatchEvent::PlanApproaching { blocks: 5, .. }]),
            "{e:?}"
        );
        let e = diff(&view(Some(("v2", 500)), 495), &view(None, 496), &t, &mut m);
        assert!(
            matches!(&e[..], [WatchEvent::PlanCancelled { at_height: 496, .. }]),
            "{e:?}"
        );
        let e = diff(&view(Some(("v3", 600)), 600), &view(None, 601), &t, &mut m);
        assert!(matches!(&e[..], [WatchEvent::PlanApplied { .. }]), "{e:?}");
        let e = diff(
            &view(Some(("v3", 600)), 10),
            &view(Some(("v4", 600)), 10),
            &t,
            &mut m,
        );
        assert!(matches!(&e[..], [WatchEvent::PlanChanged { .. }]), "{e:?}");
        // A plan first seen 5 blocks before its height is announced once, not twice.
        let mut m = EventMemory::default();
        let e = diff(&view(None, 0), &view(Some(("v5", 100)), 95), &t, &mut m);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(diff(
            &view(Some(("v5", 100)), 95),
            &view(Some(("v5", 100)), 96),
            &t,
            &mut m
        )
        .is_empty());
    }

    #[test]
    fn unknown_plan_state_is_not_a_cancel() {
        let mut m = EventMemory::default();
        let mut unknown = view(None, 10);
        unknown.plan_known = false;
        assert!(diff(&view(Some(("v2", 500)), 9), &unknown, &[10], &mut m).is_empty());
    }
}
