//! `switchyard show-upgrade-info` (being written).
use crate::config::Config;
pub fn run(_cfg: &Config) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
