//! `switchyard show-upgrade-info`: print the node's `data/upgrade-info.json` (what it halted
//! for), as cosmovisor does.

use anyhow::Context;

use crate::config::Config;

pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let path = layout.data_upgrade_info();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!(
                "no upgrade-info.json at {}: the node has not halted for an upgrade",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let info = switchyard_core::UpgradeInfo::parse(&bytes, cfg.disable_recase)
        .with_context(|| format!("{} is not a valid upgrade-info file", path.display()))?;
    println!("{}", info.to_json());
    Ok(0)
}
