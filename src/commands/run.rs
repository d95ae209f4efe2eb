//! `switchyard run` (being written).
use crate::config::Config;
pub fn run(_cfg: &Config, _args: Vec<String>) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
