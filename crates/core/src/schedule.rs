//! The upgrades switchyard knows about, and the rules for registering manual ones.
//!
//! Three sources feed the schedule: the on-chain plan (`CurrentPlan`, and the node's own
//! `upgrade-info.json` when it halts for it), manual upgrades registered with
//! `add-upgrade --height` (no plan on chain: emergency fixes, replay from genesis), and proposals
//! still in governance (which only matter for pre-staging and reports).
//!
//! Collision rules (never a silent override):
//! - a manual upgrade at or below the current height is refused;
//! - a name that was already applied, or is already pending, is refused;
//! - two manual upgrades at one height are refused;
//! - a manual upgrade at the height of the on-chain plan is refused when added; if a plan
//!   appears later at the height of a pending manual upgrade, the plan wins (the chain needs its
//!   upgrade handler) and the manual upgrade is suspended with an error in the log and in `plan`.

use std::collections::BTreeMap;
use std::fmt;

use crate::name::UpgradeName;

/// Which binary `current` points at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Current {
    /// `genesis/`; also what a missing `current` link means.
    #[default]
    Genesis,
    /// `upgrades/<name>/`.
    Upgrade(UpgradeName),
}

impl Current {
    /// Whether this is `upgrades/<name>/` for exactly `name`.
    pub fn is_upgrade(&self, name: &UpgradeName) -> bool {
        matches!(self, Current::Upgrade(n) if n == name)
    }
}

impl fmt::Display for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Current::Genesis => f.write_str("genesis"),
            Current::Upgrade(n) => write!(f, "upgrades/{n}"),
        }
    }
}

/// An upgrade registered by the operator at a height, with no on-chain plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManualUpgrade {
    /// The name given to `add-upgrade`; its binary goes in `upgrades/<name>/`.
    pub name: UpgradeName,
    /// The height whose block is the first to run on the new binary.
    pub height: i64,
}

/// Where an upgrade we act on comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeKind {
    /// An on-chain upgrade plan: the node halts for it by itself.
    Plan,
    /// A [`ManualUpgrade`]: the old binary is stopped with `--halt-height`.
    Manual,
}

impl fmt::Display for UpgradeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeKind::Plan => "on-chain plan",
            UpgradeKind::Manual => "manual upgrade",
        })
    }
}

/// An on-chain plan: name and height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledPlan {
    /// The plan's name, validated.
    pub name: UpgradeName,
    /// The plan's upgrade height: the first block the new binary runs.
    pub height: i64,
}

/// Why a manual upgrade cannot be registered ([`check_manual`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The height is 0 or negative.
    #[error("upgrade height must be a positive block height, got {height}{}", node_at(*current))]
    NonPositiveHeight {
        /// The height asked for.
        height: i64,
        /// The node's latest committed height, when its RPC answered.
        current: Option<i64>,
    },
    #[error("height {height} for {name} is not in the future: the node has committed height {current}; give a height above it")]
    /// The height is at or below the chain's latest height.
    HeightPassed {
        /// The upgrade being registered.
        name: UpgradeName,
        /// The height asked for.
        height: i64,
        /// The chain's latest block height, from the node's `/status`.
        current: i64,
    },
    /// The journal already records an upgrade of this name as applied.
    #[error("upgrade {0} was already applied; choose another name")]
    AlreadyApplied(UpgradeName),
    /// A pending manual upgrade already has this name.
    #[error("upgrade {name} is already scheduled at height {height}")]
    AlreadyPending {
        /// The name shared by both.
        name: UpgradeName,
        /// The height the pending one is registered at.
        height: i64,
    },
    /// A pending manual upgrade of another name is at the same height.
    #[error(
        "height {height} already has manual upgrade {other}; two upgrades cannot run at one height"
    )]
    SameHeight {
        /// The height asked for.
        height: i64,
        /// The pending manual upgrade already there.
        other: UpgradeName,
    },
    /// The chain's scheduled plan is at the same height.
    #[error(
        "height {height} already has the on-chain plan {plan}; the chain's plan takes that height"
    )]
    PlanAtHeight {
        /// The height asked for.
        height: i64,
        /// The name of the on-chain plan at that height.
        plan: UpgradeName,
    },
}

/// `NonPositiveHeight`'s note of the node's height, when it is known.
fn node_at(current: Option<i64>) -> String {
    match current {
        Some(c) => format!(" (the node has committed height {c}; give a height above it)"),
        None => String::new(),
    }
}

/// Checks whether `new` may join the pending manual upgrades.
pub fn check_manual(
    new: &ManualUpgrade,
    pending: &[ManualUpgrade],
    applied: &BTreeMap<UpgradeName, i64>,
    latest_height: Option<i64>,
    plan: Option<&ScheduledPlan>,
) -> Result<(), ScheduleError> {
    if new.height <= 0 {
        return Err(ScheduleError::NonPositiveHeight {
            height: new.height,
            current: latest_height,
        });
    }
    if let Some(current) = latest_height {
        if new.height <= current {
            return Err(ScheduleError::HeightPassed {
                name: new.name.clone(),
                height: new.height,
                current,
            });
        }
    }
    if applied.contains_key(&new.name) {
        return Err(ScheduleError::AlreadyApplied(new.name.clone()));
    }
    for p in pending {
        if p.name == new.name {
            return Err(ScheduleError::AlreadyPending {
                name: p.name.clone(),
                height: p.height,
            });
        }
        if p.height == new.height {
            return Err(ScheduleError::SameHeight {
                height: p.height,
                other: p.name.clone(),
            });
        }
    }
    if let Some(plan) = plan {
        if plan.height == new.height {
            return Err(ScheduleError::PlanAtHeight {
                height: plan.height,
                plan: plan.name.clone(),
            });
        }
    }
    Ok(())
}

/// The pending manual upgrades that are armed (not applied, not displaced by an on-chain plan at
/// the same height), lowest height first.
pub fn armed_manual<'a>(
    pending: &'a [ManualUpgrade],
    applied: &BTreeMap<UpgradeName, i64>,
    plan: Option<&ScheduledPlan>,
) -> Vec<&'a ManualUpgrade> {
    let mut armed: Vec<_> = pending
        .iter()
        .filter(|m| !applied.contains_key(&m.name))
        .filter(|m| plan.is_none_or(|p| p.height != m.height))
        .collect();
    armed.sort_by_key(|m| m.height);
    armed
}

/// Whether an on-chain plan at `plan_height` displaces a manual upgrade at `manual_height`: at
/// the same height the chain's plan wins (the node halts for it on its own).
pub fn plan_displaces(manual_height: i64, plan_height: i64) -> bool {
    manual_height == plan_height
}

/// Manual upgrades displaced by an on-chain plan at the same height.
pub fn displaced_manual<'a>(
    pending: &'a [ManualUpgrade],
    plan: Option<&ScheduledPlan>,
) -> Vec<&'a ManualUpgrade> {
    match plan {
        Some(p) => pending
            .iter()
            .filter(|m| plan_displaces(m.height, p.height))
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }
    fn m(s: &str, h: i64) -> ManualUpgrade {
        ManualUpgrade {
            name: n(s),
            height: h,
        }
    }

    #[test]
    fn collisions_are_refused_with_reasons() {
        let pending = vec![m("fix1", 100)];
        let mut applied = BTreeMap::new();
        applied.insert(n("v2"), 50);
        let plan = ScheduledPlan {
            name: n("v3"),
            height: 200,
        };
        let check = |u: ManualUpgrade| check_manual(&u, &pending, &applied, Some(90), Some(&plan));
        assert!(matches!(
            check(m("x", 90)),
            Err(ScheduleError::HeightPassed { .. })
        ));
        assert!(matches!(
            check(m("x", 0)),
            Err(ScheduleError::NonPositiveHeight { height: 0, .. })
        ));
        // The node's height is in the message when it is known (issue 24 #16).
        for h in [0, -5, 90, 12] {
            let msg = check(m("x", h)).unwrap_err().to_string();
            assert!(msg.contains("committed height 90"), "{h}: {msg}");
        }
        let msg = check_manual(&m("x", 0), &pending, &applied, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("positive") && !msg.contains("committed"),
            "{msg}"
        );
        assert!(matches!(
            check(m("v2", 150)),
            Err(ScheduleError::AlreadyApplied(_))
        ));
        assert!(matches!(
            check(m("fix1", 150)),
            Err(ScheduleError::AlreadyPending { .. })
        ));
        assert!(matches!(
            check(m("fix2", 100)),
            Err(ScheduleError::SameHeight { .. })
        ));
        assert!(matches!(
            check(m("fix2", 200)),
            Err(ScheduleError::PlanAtHeight { .. })
        ));
        assert_eq!(check(m("fix2", 150)), Ok(()));
    }

    #[test]
    fn plan_displaces_manual_at_same_height() {
        let pending = vec![m("b", 300), m("a", 200), m("c", 400)];
        let plan = ScheduledPlan {
            name: n("gov"),
            height: 300,
        };
        let applied = BTreeMap::from([(n("c"), 400)]);
        let armed: Vec<_> = armed_manual(&pending, &applied, Some(&plan))
            .into_iter()
            .map(|m| m.name.as_str().to_string())
            .collect();
        assert_eq!(armed, ["a"]);
        assert_eq!(
            displaced_manual(&pending, Some(&plan))[0].name.as_str(),
            "b"
        );
    }
}
