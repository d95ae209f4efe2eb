//! `switchyard init <binary>`: set up `$DAEMON_HOME/cosmovisor` with the genesis binary and point
//! `current` at it, as `cosmovisor init` does. Running it again with the same binary is harmless;
//! a different binary already in place is an error rather than a silent overwrite.

use std::path::Path;

use anyhow::{bail, Context};
use switchyard_core::Current;
use switchyard_store::Layout;

use crate::config::Config;

pub(super) fn run(cfg: &Config, binary: &Path) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    Layout::check_executable(binary)
        .with_context(|| format!("genesis binary {}", binary.display()))?;
    let dest = layout.binary_of(&Current::Genesis);
    if dest.exists() {
        if same_contents(binary, &dest)? {
            tracing::info!("{} is already in place", dest.display());
        } else {
            bail!(
                "{} already holds a different binary; remove it first if you mean to replace the genesis binary",
                dest.display()
            );
        }
    } else {
        super::add_upgrade::install_copy(binary, &dest)?;
        tracing::info!("copied {} to {}", binary.display(), dest.display());
    }
    std::fs::create_dir_all(layout.upgrades_dir())
        .with_context(|| format!("creating {}", layout.upgrades_dir().display()))?;
    if !layout.current_link().exists() {
        layout.set_current(&Current::Genesis)?;
        tracing::info!("`current` points at genesis");
    }
    println!("switchyard is set up in {}", layout.root().display());
    Ok(0)
}

fn same_contents(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    Ok(read(a)? == read(b)?)
}
