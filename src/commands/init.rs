//! `switchyard init` (being written).
use crate::config::Config;
pub fn run(_cfg: &Config, _binary: &std::path::Path) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
