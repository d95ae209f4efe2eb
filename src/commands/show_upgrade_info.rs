//! `switchyard show-upgrade-info`: print the node's `data/upgrade-info.json` (what it halted
//! for), as cosmovisor v1.7 does: the file's content as it is, or `No upgrade info found at
//! <path>` (exit 0) when there is none. A file that is not a valid upgrade-info is still printed,
//! with the reason on stderr and exit 1.
//!
//! The file is read like the supervisor reads it: a FIFO, a device, a symbolic link (the node
//! writes a regular file; a link could name `/etc/shadow`, printed to whoever runs this as root)
//! or a file over 4 MiB there is an error naming it, never a hang and never its target printed.
//!
//! switchyard never writes that file for a manual upgrade (cosmovisor's `add-upgrade
//! --upgrade-height` does), so the registered manual upgrades are named on stderr instead.

use anyhow::Context;

use crate::config::Config;

/// Same cap as the supervisor's halt-file watcher.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

pub(super) fn run(cfg: &Config) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let path = layout.data_upgrade_info();
    let bytes = match switchyard_store::read_node_written_file(&path, MAX_BYTES)
        .with_context(|| format!("reading {}", path.display()))?
    {
        Some(b) => b,
        None => {
            println!("No upgrade info found at {}", path.display());
            if let Ok(manual) = switchyard_store::load_manual_upgrades(&layout) {
                if !manual.is_empty() {
                    let list: Vec<String> = manual
                        .iter()
                        .map(|m| format!("{} at height {}", m.name, m.height))
                        .collect();
                    eprintln!(
                        "manual upgrades registered with switchyard (not in that file): {}; see `switchyard plan`",
                        list.join(", ")
                    );
                }
            }
            return Ok(0);
        }
    };
    println!("{}", String::from_utf8_lossy(&bytes).trim_end());
    if let Err(e) = switchyard_core::UpgradeInfo::parse(&bytes, cfg.disable_recase) {
        eprintln!(
            "switchyard: {} is not a valid upgrade-info file: {e}",
            path.display()
        );
        return Ok(1);
    }
    Ok(0)
}
