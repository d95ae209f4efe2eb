//! `switchyard version` (being written).
use crate::config::Config;
pub fn run(_cfg: &Config, _json: bool, _long: bool) -> anyhow::Result<i32> { anyhow::bail!("not yet") }
