//! `switchyard add-upgrade <name> <binary | --url URL> [--force] [--upgrade-height H]` and
//! `switchyard add-batch-upgrade --upgrade-list name:path:height,... | --upgrade-file F`.
//!
//! A binary given as a file is copied into `upgrades/<name>/bin/$DAEMON_NAME` atomically
//! (temporary file, fsync, rename). One given as `--url` goes through the same staging code as
//! a plan's binary (`switchyard_store::stage_from_source`): download with resume, checksum
//! verified while streaming (`--checksum`, a `?checksum=` in the URL, or the URL's line in a
//! `--checksums-url` file; required unless `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=false`), archives
//! unpacked safely, atomic install, and a `version` preflight.
//!
//! `--from-registry` takes the URL and checksum from the chain registry
//! (`SWITCHYARD_CHAIN_REGISTRY`): its version of this name, this platform's entry, after
//! checking that the registry's `chain_id` is the one in the home's `config/genesis.json`; then
//! it is staged like `--url`.
//!
//! `--force` means what it means to cosmovisor: without it, an upgrade that already has a binary
//! (or, with a height, is already registered) is refused before anything changes; with it, the
//! binary and the registered height are replaced. A height must be above the node's committed
//! height (when its RPC answers) and positive: cosmovisor reads an explicit `0` as "no height",
//! switchyard refuses it, naming the node's height. With a height, the upgrade is registered as a manual upgrade in our own store, never
//! in the node's `data/upgrade-info.json`, after the collision checks in
//! `switchyard_core::schedule`.
//!
//! `add-batch-upgrade` replaces binaries and registrations of the names it lists, as cosmovisor's
//! does (it has no `--force`). Its `--upgrade-file` is headerless CSV `name,path,height` (what
//! cosmovisor reads), older switchyard's `name:path:height` lines, or a JSON array of
//! `{"name", "height"}` plans (what cosmovisor's help describes) whose binaries are in place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use switchyard_core::BinaryOrigin;
use switchyard_core::{check_manual, ManualUpgrade};
use switchyard_core::{BinarySource, Checksum, UpgradeName};
use switchyard_store::{Journal, Layout, StageError, StageOptions, StageOutcome};

use crate::cli::{AddBatchArgs, AddUpgradeArgs};
use crate::config::Config;

pub(super) fn run(cfg: &Config, args: &AddUpgradeArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let name = UpgradeName::parse(&args.name, cfg.disable_recase)?;
    // A height given is checked like any other (a 0 or negative one is refused with the node's
    // height, as is one the node has passed); only an absent flag schedules nothing.
    let height = args.height;
    let bin = layout.upgrade_binary(&name);
    let had_binary = std::fs::symlink_metadata(&bin).is_ok();
    // Everything is checked before anything changes, so a refusal leaves the home as it was.
    if had_binary && !args.force {
        bail!(
            "upgrade {name} already has a binary at {}; pass --force to replace it",
            bin.display()
        );
    }
    let manual = height.map(|height| ManualUpgrade {
        name: name.clone(),
        height,
    });
    if let Some(m) = &manual {
        check_new_manual(cfg, &layout, std::slice::from_ref(m), args.force)?;
    }
    match (&args.binary, &args.url) {
        (Some(path), _) => place_binary(&layout, &name, path)?,
        (None, Some(url)) => fetch_binary(cfg, &layout, &name, url, args, had_binary)?,
        (None, None) if args.from_registry => {
            let source = registry_source(cfg, &args.name, height)?;
            stage_source(
                cfg,
                &layout,
                &name,
                source,
                BinaryOrigin::Registry,
                had_binary,
            )?
        }
        (None, None) => bail!("give the upgrade's binary, or --url to download it"),
    }
    match &manual {
        Some(m) => {
            register(&layout, std::slice::from_ref(m))?;
            println!(
                "upgrade {name} at height {} registered; binary in {}",
                m.height,
                layout.upgrade_dir(&name).display()
            );
        }
        None => println!(
            "binary for upgrade {name} placed in {}",
            layout.upgrade_dir(&name).display()
        ),
    }
    Ok(0)
}

pub(super) fn run_batch(cfg: &Config, args: &AddBatchArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let mut entries = Vec::new();
    for list in &args.upgrade_list {
        entries.extend(parse_list(list, cfg.disable_recase)?);
    }
    if let Some(file) = &args.upgrade_file {
        // Bounded and regular files only, like every file switchyard reads.
        let bytes = switchyard_store::read_untrusted_file(file, 1024 * 1024)?
            .with_context(|| format!("{} does not exist", file.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
        entries.extend(
            parse_upgrade_file(&text, cfg.disable_recase)
                .with_context(|| format!("upgrade file {}", file.display()))?,
        );
    }
    if entries.is_empty() {
        bail!("no upgrades given: use --upgrade-list name:path:height,... or --upgrade-file FILE");
    }
    let manual: Vec<ManualUpgrade> = entries.iter().map(|e| e.upgrade.clone()).collect();
    for (i, m) in manual.iter().enumerate() {
        if manual[..i].iter().any(|o| o.name == m.name) {
            bail!("upgrade {} is listed twice", m.name);
        }
    }
    for e in &entries {
        match &e.binary {
            Some(path) => Layout::check_executable(path)
                .with_context(|| format!("binary for upgrade {}", e.upgrade.name))?,
            None => Layout::check_executable(&layout.upgrade_binary(&e.upgrade.name))
                .with_context(|| {
                    format!(
                        "upgrade {} lists no binary, and none is in place (place it with `switchyard add-upgrade {} <binary>` first)",
                        e.upgrade.name, e.upgrade.name
                    )
                })?,
        }
    }
    check_new_manual(cfg, &layout, &manual, true)?;
    for e in &entries {
        if let Some(path) = &e.binary {
            place_binary(&layout, &e.upgrade.name, path)?;
        }
    }
    register(&layout, &manual)?;
    for m in &manual {
        println!("upgrade {} at height {} registered", m.name, m.height);
    }
    Ok(0)
}

/// One upgrade of a batch: the binary to copy in (`None`: it is in place already).
struct BatchEntry {
    upgrade: ManualUpgrade,
    binary: Option<PathBuf>,
}

/// `--upgrade-list`: `name:path:height` entries, comma separated. The path is everything
/// between the first and the last colon.
fn parse_list(text: &str, disable_recase: bool) -> anyhow::Result<Vec<BatchEntry>> {
    let mut out = Vec::new();
    for raw in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (Some((name, rest)), true) = (raw.split_once(':'), raw.matches(':').count() >= 2)
        else {
            bail!("batch entry {raw:?} is not name:path:height");
        };
        let (path, height) = rest.rsplit_once(':').expect("two colons");
        out.push(entry(raw, name, Some(path), height, disable_recase)?);
    }
    Ok(out)
}

fn entry(
    raw: &str,
    name: &str,
    path: Option<&str>,
    height: &str,
    disable_recase: bool,
) -> anyhow::Result<BatchEntry> {
    let height: i64 = height
        .trim()
        .parse()
        .with_context(|| format!("batch entry {raw:?}: height {height:?} is not a whole number"))?;
    let name = UpgradeName::parse(name.trim(), disable_recase)
        .with_context(|| format!("batch entry {raw:?}"))?;
    Ok(BatchEntry {
        upgrade: ManualUpgrade { name, height },
        binary: path.map(|p| PathBuf::from(p.trim())),
    })
}

/// `--upgrade-file`: a JSON array of plans, or CSV lines (older `name:path:height` lines too).
fn parse_upgrade_file(text: &str, disable_recase: bool) -> anyhow::Result<Vec<BatchEntry>> {
    if text.trim_start().starts_with('[') {
        return parse_json_plans(text, disable_recase);
    }
    let mut out = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("line {}", i + 1))?;
        let fields: Vec<&str> = record.iter().collect();
        let line = fields.join(",");
        match fields.as_slice() {
            [""] => {}
            // Older switchyard: `name:path:height` entries, one or more per line.
            f if f.iter().all(|x| x.matches(':').count() >= 2) => {
                out.extend(parse_list(&line, disable_recase)?)
            }
            [name, path, height] => {
                out.push(entry(&line, name, Some(path), height, disable_recase)?)
            }
            _ => bail!(
                "line {line:?} has {} fields; expected name,path-to-binary,height",
                fields.len()
            ),
        }
    }
    Ok(out)
}

/// A JSON array of upgrade plans (`{"name": ..., "height": ...}`, the height a number or a
/// string as the chain's JSON writes it; `info` and `time` are ignored).
fn parse_json_plans(text: &str, disable_recase: bool) -> anyhow::Result<Vec<BatchEntry>> {
    #[derive(serde::Deserialize)]
    struct Plan {
        name: String,
        height: serde_json::Value,
    }
    let plans: Vec<Plan> =
        serde_json::from_str(text).context("not a JSON array of {\"name\", \"height\"} plans")?;
    plans
        .iter()
        .map(|p| {
            let height = match &p.height {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => bail!("plan {:?}: height {other} is not a number", p.name),
            };
            entry(&p.name, &p.name, None, &height, disable_recase)
        })
        .collect()
}

/// Checks new manual upgrades against each other, the registered ones, applied ones, the chain
/// height and the scheduled plan (when the chain can be asked quickly). With `replace`, a
/// registered upgrade of the same name gives way (it is about to be replaced).
fn check_new_manual(
    cfg: &Config,
    layout: &Layout,
    new: &[ManualUpgrade],
    replace: bool,
) -> anyhow::Result<()> {
    let mut pending = switchyard_store::load_manual_upgrades(layout)?;
    let applied = Journal::new(layout).applied_map()?;
    pending.retain(|m| !applied.contains_key(&m.name));
    if replace {
        pending.retain(|m| !new.iter().any(|n| n.name == m.name));
    }
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

/// Registers `new`, replacing registrations of the same names.
fn register(layout: &Layout, new: &[ManualUpgrade]) -> anyhow::Result<()> {
    let mut all = switchyard_store::load_manual_upgrades(layout)?;
    all.retain(|m| !new.iter().any(|n| n.name == m.name));
    all.extend(new.iter().cloned());
    switchyard_store::save_manual_upgrades(layout, &all)?;
    Ok(())
}

/// Copies `src` into `upgrades/<name>/bin/$DAEMON_NAME` (replacing what is there: the caller
/// has applied the `--force` rule).
fn place_binary(layout: &Layout, name: &UpgradeName, src: &Path) -> anyhow::Result<()> {
    Layout::check_executable(src).with_context(|| format!("binary for upgrade {name}"))?;
    install_copy(src, &layout.upgrade_binary(name))?;
    // Whatever switchyard may have staged for this name before, this binary is the operator's
    // now: drop the old record so nothing compares it with a download it no longer is.
    switchyard_store::remove_staging_record(layout, name)?;
    Ok(())
}

/// Copies `src` to `dest` atomically and makes it executable.
pub(super) fn install_copy(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::read(src)
        .and_then(|bytes| switchyard_store::write_atomic_with_mode(dest, &bytes, Some(0o755)))
        .with_context(|| format!("copying {} to {}", src.display(), dest.display()))
}

/// Downloads, verifies, installs and preflights the binary at `url` as upgrade `name`'s.
fn fetch_binary(
    cfg: &Config,
    layout: &Layout,
    name: &UpgradeName,
    url: &str,
    args: &AddUpgradeArgs,
    replace: bool,
) -> anyhow::Result<()> {
    let mut source =
        BinarySource::from_url(url).with_context(|| format!("the checksum in {url}"))?;
    if let Some(c) = &args.checksum {
        source.checksum = Some(Checksum::parse(c).with_context(|| format!("--checksum {c}"))?);
    }
    let opts = crate::upgrade_binary::stage_options(cfg, true);
    let rt = super::runtime()?;
    if let Some(sums_url) = &args.checksums_url {
        source.checksum =
            Some(rt.block_on(checksum_from_sums_file(layout, url, sums_url, &opts.fetch))?);
    }
    if source.checksum.is_none() && cfg.download_must_have_checksum {
        bail!(
            "{url} would be installed unverified: give --checksum sha256:<hex> or --checksums-url <SHA256SUMS url> (or a ?checksum= in the URL), or set DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=false"
        );
    }
    stage_source(cfg, layout, name, source, BinaryOrigin::ManualUrl, replace)
}

/// The chain registry's binary for the version `wanted` (as typed) on this platform, after
/// checking the registry is for this home's chain. A registered `height` the registry's
/// version disagrees with is reported, not refused.
fn registry_source(
    cfg: &Config,
    wanted: &str,
    height: Option<i64>,
) -> anyhow::Result<BinarySource> {
    use crate::chain_registry::{binary_for_home, read_once};
    let rt = super::runtime()?;
    let Some(state) = rt.block_on(read_once(cfg)) else {
        bail!("--from-registry needs SWITCHYARD_CHAIN_REGISTRY (the chain's chain.json: a path or URL)");
    };
    let home = cfg.home.as_deref().context("DAEMON_HOME is not set")?;
    let (source, mismatch) =
        binary_for_home(&state, home, wanted, height).map_err(|why| anyhow::anyhow!(why))?;
    if let Some(m) = mismatch {
        tracing::warn!("upgrade {wanted}: {m}");
    }
    tracing::info!(
        "upgrade {wanted}: the chain registry ({}) lists {}",
        state.source,
        source.url
    );
    Ok(source)
}

/// Stages `source` as upgrade `name`'s binary (`replace`: a binary is there and `--force` was
/// given; it is put back if the new one is not installed).
fn stage_source(
    cfg: &Config,
    layout: &Layout,
    name: &UpgradeName,
    source: BinarySource,
    origin: BinaryOrigin,
    replace: bool,
) -> anyhow::Result<()> {
    if source.checksum.is_none() && cfg.download_must_have_checksum {
        bail!(
            "{} has no checksum, and DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM is true: it would be installed unverified",
            source.url
        );
    }
    let opts = StageOptions {
        origin: Some(origin),
        ..crate::upgrade_binary::stage_options(cfg, true)
    };
    let rt = super::runtime()?;
    let aside = if replace {
        Some(SetAside::take(layout, name)?)
    } else {
        None
    };
    let result = rt.block_on(switchyard_store::stage_from_source(
        layout, name, &source, &opts,
    ));
    match (&result, aside) {
        // Not installed: put the binary we had back.
        (Err(e), Some(aside)) if !matches!(e, StageError::Preflight { .. }) => aside.restore()?,
        (_, Some(aside)) => aside.discard(),
        (_, None) => {}
    }
    match result {
        Ok(StageOutcome::Staged(r)) | Ok(StageOutcome::AlreadyStaged(r)) => {
            tracing::info!(
                "upgrade {name}: {} from {} ({}), preflight {:?}",
                r.binary_path.display(),
                r.url,
                r.digest,
                r.preflight.status
            );
            Ok(())
        }
        Ok(StageOutcome::OperatorPlaced { binary }) => bail!(
            "{} appeared while downloading; left it alone",
            binary.display()
        ),
        Err(StageError::Preflight { record, message }) => bail!(
            "{} is installed (verified), but it does not start on this host: {message}",
            record.binary_path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("fetching the binary of upgrade {name}")),
    }
}

/// Fetches a SHA256SUMS-style file and picks the line for `url`'s file name.
async fn checksum_from_sums_file(
    layout: &Layout,
    url: &str,
    sums_url: &str,
    fetch: &switchyard_store::FetchOptions,
) -> anyhow::Result<Checksum> {
    let file_name = crate::sums_file::file_name_of(url)?;
    let state = layout.state_dir();
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let tmp = state.join(format!(".checksums-{}.txt", std::process::id()));
    let opts = switchyard_store::FetchOptions {
        max_bytes: 1 << 20,
        progress: false,
        ..fetch.clone()
    };
    let got = switchyard_store::download(sums_url, &tmp, None, &opts).await;
    let text = got.map_err(anyhow::Error::from).and_then(|_| {
        std::fs::read(&tmp)
            .with_context(|| format!("reading {}", tmp.display()))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    let _ = std::fs::remove_file(&tmp);
    let text = text.with_context(|| format!("fetching the checksums file {sums_url}"))?;
    let sum = crate::sums_file::pick(&text, &file_name)
        .with_context(|| format!("checksums file {sums_url}"))?;
    tracing::info!("{file_name}: {sum} (from {sums_url})");
    Ok(sum)
}

/// The binary being replaced by `add-upgrade --force --url`, kept beside our state until the new
/// one is installed, so a failed download leaves the old binary in place.
struct SetAside {
    binary: PathBuf,
    kept: PathBuf,
    layout: Layout,
    name: UpgradeName,
    record: Option<switchyard_store::StagingRecord>,
}

impl SetAside {
    fn take(layout: &Layout, name: &UpgradeName) -> anyhow::Result<SetAside> {
        let binary = layout.upgrade_binary(name);
        let kept = layout
            .state_dir()
            .join(format!("replaced-{name}-{}", std::process::id()));
        std::fs::create_dir_all(layout.state_dir())?;
        let record = switchyard_store::load_staging_record(layout, name)
            .ok()
            .flatten();
        std::fs::rename(&binary, &kept)
            .with_context(|| format!("moving {} aside to {}", binary.display(), kept.display()))?;
        switchyard_store::remove_staging_record(layout, name)?;
        Ok(SetAside {
            binary,
            kept,
            layout: layout.clone(),
            name: name.clone(),
            record,
        })
    }

    fn restore(self) -> anyhow::Result<()> {
        std::fs::rename(&self.kept, &self.binary).with_context(|| {
            format!(
                "putting the old binary back from {} to {}",
                self.kept.display(),
                self.binary.display()
            )
        })?;
        if let Some(r) = &self.record {
            switchyard_store::save_staging_record(&self.layout, &self.name, r)?;
        }
        tracing::info!("kept the binary that was there: {}", self.binary.display());
        Ok(())
    }

    fn discard(self) {
        if let Err(e) = std::fs::remove_file(&self.kept) {
            tracing::warn!("removing the replaced binary {}: {e}", self.kept.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[BatchEntry]) -> Vec<(String, i64, Option<String>)> {
        v.iter()
            .map(|e| {
                (
                    e.upgrade.name.to_string(),
                    e.upgrade.height,
                    e.binary.as_ref().map(|p| p.display().to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn the_csv_cosmovisor_reads_and_older_lines() {
        let text = "v2, /bins/v2/simd, 100\n# comment\nv3,/bins/v3:odd/simd,200\nv4:/b/simd:300,v5:/c:400\n";
        let got = names(&parse_upgrade_file(text, false).unwrap());
        assert_eq!(
            got,
            [
                ("v2".into(), 100, Some("/bins/v2/simd".into())),
                ("v3".into(), 200, Some("/bins/v3:odd/simd".into())),
                ("v4".into(), 300, Some("/b/simd".into())),
                ("v5".into(), 400, Some("/c".into())),
            ]
        );
        assert!(parse_upgrade_file("v2,/b,100,extra\n", false).is_err());
        assert!(parse_upgrade_file("v2,/b,soon\n", false).is_err());
    }

    #[test]
    fn the_json_its_help_describes() {
        let text = r#"[{"name":"V2","height":"100","info":""},{"name":"v3","height":200}]"#;
        let got = names(&parse_upgrade_file(text, false).unwrap());
        assert_eq!(got, [("v2".into(), 100, None), ("v3".into(), 200, None)]);
        assert!(parse_upgrade_file(r#"[{"name":"v2"}]"#, false).is_err());
        assert!(parse_upgrade_file(r#"[{"name":"v2","height":true}]"#, false).is_err());
    }

    #[test]
    fn list_entries_keep_colons_in_paths() {
        let got = names(&parse_list("a:/x:y/bin:5,b:/z:6", true).unwrap());
        assert_eq!(
            got,
            [
                ("a".into(), 5, Some("/x:y/bin".into())),
                ("b".into(), 6, Some("/z".into()))
            ]
        );
        assert!(parse_list("a:/x", false).is_err());
    }
}
