//! `switchyard add-upgrade` (being written).
use crate::cli::{AddBatchArgs, AddUpgradeArgs};
use crate::config::Config;
pub fn run(_cfg: &Config, _a: &AddUpgradeArgs) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
pub fn run_batch(_cfg: &Config, _a: &AddBatchArgs) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
