//! `switchyard prepare`: stage upcoming binaries now (being written).
use crate::cli::PrepareArgs;
use crate::config::Config;

pub async fn run(_cfg: &Config, _args: &PrepareArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`prepare` is not built yet")
}
