//! `switchyard add-upgrade <name> <binary> [--force] [--height H]` and
//! `switchyard add-batch-upgrade --upgrade-list name:path:height,... | --upgrade-file F`.
//!
//! The binary is copied into `upgrades/<name>/bin/$DAEMON_NAME` atomically (temporary file,
//! fsync, rename). With a height, the upgrade is also registered as a manual upgrade in our own
//! store — never in the node's `data/upgrade-info.json` — after the collision checks in
//! `switchyard_core::schedule`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use switchyard_core::UpgradeName;
use switchyard_core::{check_manual, ManualUpgrade};
use switchyard_store::Journal;
use switchyard_store::Layout;

use crate::cli::{AddBatchArgs, AddUpgradeArgs};
use crate::config::Config;

pub fn run(cfg: &Config, args: &AddUpgradeArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let name = UpgradeName::parse(&args.name, cfg.disable_recase)?;
    // Check the schedule before touching any binary, so a refused height changes nothing.
    if let Some(height) = args.height {
        check_new_manual(
            cfg,
            &layout,
            &[ManualUpgrade {
                name: name.clone(),
                height,
            }],
        )?;
    }
    place_binary(&layout, &name, &args.binary, args.force)?;
    if let Some(height) = args.height {
        register(
            &layout,
            &[ManualUpgrade {
                name: name.clone(),
                height,
            }],
        )?;
        println!(
            "upgrade {name} at height {height} registered; binary in {}",
            layout.upgrade_dir(&name).display()
        );
    } else {
        println!(
            "binary for upgrade {name} placed in {}",
            layout.upgrade_dir(&name).display()
        );
    }
    Ok(0)
}

pub fn run_batch(cfg: &Config, args: &AddBatchArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let mut text = String::new();
    if let Some(list) = &args.upgrade_list {
        text.push_str(list);
        text.push(',');
    }
    if let Some(file) = &args.upgrade_file {
        text.push_str(
            &std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?,
        );
    }
    let entries = parse_batch(&text, cfg.disable_recase)?;
    if entries.is_empty() {
        bail!("no upgrades given: use --upgrade-list name:path:height,... or --upgrade-file FILE");
    }
    let manual: Vec<ManualUpgrade> = entries.iter().map(|(m, _)| m.clone()).collect();
    check_new_manual(cfg, &layout, &manual)?;
    for (m, path) in &entries {
        place_binary(&layout, &m.name, path, args.force)?;
    }
    register(&layout, &manual)?;
    for m in &manual {
        println!("upgrade {} at height {} registered", m.name, m.height);
    }
    Ok(0)
}

/// Parses `name:path:height` entries separated by commas or newlines.
fn parse_batch(text: &str, disable_recase: bool) -> anyhow::Result<Vec<(ManualUpgrade, PathBuf)>> {
    let mut out = Vec::new();
    for raw in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
    {
        let mut parts = raw.splitn(3, ':');
        let (Some(name), Some(path), Some(height)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("batch entry {raw:?} is not name:path:height");
        };
        let height: i64 = height.trim().parse().with_context(|| {
            format!("batch entry {raw:?}: height {height:?} is not a whole number")
        })?;
        let name = UpgradeName::parse(name.trim(), disable_recase)
            .with_context(|| format!("batch entry {raw:?}"))?;
        out.push((ManualUpgrade { name, height }, PathBuf::from(path.trim())));
    }
    Ok(out)
}

/// Checks new manual upgrades against each other, the registered ones, applied ones, the chain
/// height and the scheduled plan (when the chain can be asked quickly).
fn check_new_manual(cfg: &Config, layout: &Layout, new: &[ManualUpgrade]) -> anyhow::Result<()> {
    let mut pending = switchyard_store::load_manual_upgrades(layout)?;
    let applied = Journal::new(layout).applied_map()?;
    pending.retain(|m| !applied.contains_key(&m.name));
    let chain = crate::chain_now::quick_look(cfg);
    if chain.is_none() {
        tracing::warn!("could not ask the chain for its height and plan; checked against switchyard's own records only");
    }
    let (height, plan) = chain.unwrap_or((None, None));
    for m in new {
        check_manual(m, &pending, &applied, height, plan.as_ref())?;
        pending.push(m.clone());
    }
    Ok(())
}

fn register(layout: &Layout, new: &[ManualUpgrade]) -> anyhow::Result<()> {
    let mut all = switchyard_store::load_manual_upgrades(layout)?;
    all.extend(new.iter().cloned());
    switchyard_store::save_manual_upgrades(layout, &all)?;
    Ok(())
}

/// Copies `src` into `upgrades/<name>/bin/$DAEMON_NAME`, refusing to replace one without `force`.
fn place_binary(
    layout: &Layout,
    name: &UpgradeName,
    src: &Path,
    force: bool,
) -> anyhow::Result<()> {
    Layout::check_executable(src).with_context(|| format!("binary for upgrade {name}"))?;
    let dest = layout.upgrade_binary(name);
    if dest.exists() && !force {
        bail!(
            "upgrade {name} already has a binary at {}; pass --force to replace it",
            dest.display()
        );
    }
    install_copy(src, &dest)?;
    // Whatever switchyard may have staged for this name before, this binary is the operator's
    // now: drop the old record so nothing compares it with a download it no longer is.
    switchyard_store::remove_staging_record(layout, name)?;
    Ok(())
}

/// Copies `src` to `dest` atomically and makes it executable.
pub fn install_copy(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::read(src)
        .and_then(|bytes| switchyard_store::write_atomic_with_mode(dest, &bytes, Some(0o755)))
        .with_context(|| format!("copying {} to {}", src.display(), dest.display()))
}
