//! `switchyard plan`: the dry-run report (being written).
use crate::cli::PlanArgs;
use crate::config::Config;

pub async fn run(_cfg: &Config, _args: &PlanArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`plan` is not built yet")
}
