//! Pre-staging: put an upgrade's binary in `upgrades/<name>/` long before the halt.
//!
//! [`stage_from_source`] is the one entry point (and [`stage_from_plan`] picks this platform's entry of a plan's
//! `binaries` first). One call:
//!
//! 1. takes the upgrade's lock (so `run` and `prepare` never stage the same name at once) and
//!    removes temporary folders left by attempts that died;
//! 2. leaves alone an upgrade folder that already holds a binary: one the operator placed
//!    ([`StageOutcome::OperatorPlaced`]), or one we staged earlier ([`StageOutcome::AlreadyStaged`],
//!    after re-hashing it and re-running a preflight that had not passed). If we staged it from a
//!    *different* source than the one asked for now, that is [`StageError::Conflict`]: we never
//!    replace a binary on our own;
//! 3. refuses a source without checksum when one is required (before any network access);
//! 4. downloads into `<work area>/<attempt>/`, verifying the digest while streaming
//!    ([`crate::fetch`]), and unpacks archives safely ([`crate::archive`]). The work area is on
//!    the destination's filesystem, so the final move is a rename there: normally
//!    `switchyard/staging/`, or `.switchyard-staging/` in the destination's real folder when
//!    `upgrades/` is another mount or a link to another disk (see `workspace`);
//! 5. sets the executable bit, fsyncs the tree, writes the [`StagingRecord`] (preflight pending),
//!    and moves the tree into `upgrades/<name>/` (see `place`): a crash leaves either no binary or
//!    a complete verified one, and never a folder that blocks the next attempt;
//! 6. runs the preflight (`<bin> version`) and records its result.
//!
//! Preflight failure: the binary **stays installed** (it is verified, and the host may well be
//! fixed before the halt, e.g. by installing libwasmvm), the record says `failed` with the
//! loader's message, and [`stage`] returns [`StageError::Preflight`]. The next call re-runs the
//! preflight without downloading again.
//!
//! A binary that had no checksum (allowed only with `must_have_checksum = false`) is installed
//! but **not** executed: its preflight is recorded as `skipped`, because nothing downloaded runs
//! before its checksum matched.

mod place;
mod workspace;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use switchyard_core::UpgradeName;
use switchyard_core::{BinaryOrigin, BinarySource, ChecksumAlgo, PlanBinaries};

use crate::archive::{self, ArchiveError, ArchiveKind, UnpackLimits};
use crate::checksum::hash_file;
use crate::fetch::{self, FetchError, FetchOptions};
use crate::preflight;
use crate::staging_record::{
    self, PreflightRecord, PreflightStatus, StagingRecord, StagingRecordError,
};
use crate::Layout;

/// How to stage. `Default` is switchyard's defaults (checksum required, HTTPS only, 4 GiB cap).
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Refuse sources without a checksum (`DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`, default true).
    pub must_have_checksum: bool,
    /// Download settings: `allow_http`, `max_bytes`, timeouts, retries, progress.
    pub fetch: FetchOptions,
    /// Most bytes an archive may unpack to (the decompression-bomb cap).
    pub max_unpacked_bytes: u64,
    /// Most entries an archive may hold.
    pub max_archive_entries: u64,
    /// Run `<bin> version` after installing.
    pub preflight: bool,
    /// Longest the preflight's `<bin> version` may run before it is killed and counted failed.
    pub preflight_timeout: Duration,
    /// Where the source came from, kept in the staging record ([`StagingRecord::origin`]).
    pub origin: Option<BinaryOrigin>,
}

impl Default for StageOptions {
    fn default() -> Self {
        StageOptions {
            must_have_checksum: true,
            fetch: FetchOptions::default(),
            max_unpacked_bytes: 4 << 30,
            max_archive_entries: 100_000,
            preflight: true,
            preflight_timeout: Duration::from_secs(30),
            origin: None,
        }
    }
}

/// What [`stage`] did. Preflight failure is an error ([`StageError::Preflight`]), not an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// Downloaded, verified, installed, and (unless skipped) preflighted now.
    Staged(StagingRecord),
    /// We had staged it before from the same source; nothing was downloaded.
    AlreadyStaged(StagingRecord),
    /// `upgrades/<name>/` holds a binary we did not stage (e.g. `add-upgrade`); left untouched.
    OperatorPlaced {
        /// The binary's path, `upgrades/<name>/bin/<DAEMON_NAME>`.
        binary: PathBuf,
    },
}

impl StageOutcome {
    /// The record, when the binary is one we staged.
    pub fn record(&self) -> Option<&StagingRecord> {
        match self {
            StageOutcome::Staged(r) | StageOutcome::AlreadyStaged(r) => Some(r),
            StageOutcome::OperatorPlaced { .. } => None,
        }
    }
}

/// Why staging an upgrade's binary failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The plan's `binaries` has no entry for this platform nor `any`, and none was rejected.
    #[error("no binary for platform {platform} (the plan lists: {})", if available.is_empty() { "nothing usable".to_string() } else { available.join(", ") })]
    NoBinaryForPlatform {
        /// The platform asked for, e.g. `linux/amd64`.
        platform: String,
        /// The platform keys of the plan's usable entries.
        available: Vec<String>,
    },
    /// The plan lists an entry for this platform (or `any`), but it was rejected when the plan
    /// was read.
    #[error("the {platform} entry of the plan was rejected: {reason}")]
    RejectedEntry {
        /// The rejected entry's key: this platform's, or `any`.
        platform: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The source's URL carries no checksum and [`StageOptions::must_have_checksum`] is set;
    /// nothing was downloaded.
    #[error("{url} has no checksum, and DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM is true (add ?checksum=sha256:<hex> to the URL in the plan, or set it to false)")]
    MissingChecksum {
        /// The source's URL.
        url: String,
    },
    /// The URL was refused or the download failed, including a checksum mismatch.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The URL names an unsupported archive type, or the download could not be unpacked or
    /// holds no daemon binary.
    #[error("{url}: {source}")]
    Archive {
        /// The source's URL.
        url: String,
        /// What was wrong with the archive.
        #[source]
        source: ArchiveError,
    },
    /// The upgrade folder holds a binary we staged earlier from a different source than the
    /// one asked for now; it is left in place.
    #[error("{}: staged from {} ({}), but now asked for {wanted_url} ({}); remove {} and its record to stage again", .record.name, .record.url, .record.digest, .wanted_checksum.as_deref().unwrap_or("no checksum"), .record.binary_path.display())]
    Conflict {
        /// The record of the binary staged earlier.
        record: Box<StagingRecord>,
        /// The URL asked for now.
        wanted_url: String,
        /// The checksum asked for now, as `algo:hex`; `None` when its URL carries none.
        wanted_checksum: Option<String>,
    },
    /// The binary is installed and verified, but `<bin> version` failed, timed out or could not
    /// start on this host; the record, saved with status `failed`, is here.
    #[error("staged {} at {}, but it does not start on this host: {message}", .record.name, .record.binary_path.display())]
    Preflight {
        /// The staging record as saved, preflight result included.
        record: Box<StagingRecord>,
        /// What went wrong: the exit status and what the binary printed, the time limit, or
        /// why it could not start.
        message: String,
    },
    /// Reading, writing or stamping the staging record failed.
    #[error(transparent)]
    Record(#[from] StagingRecordError),
    /// No work area could be made from which the binary can be renamed into its upgrade
    /// folder: a folder on the way cannot be written.
    #[error("cannot stage into {folder}: {source} (the binary is installed there with a rename, so that folder's filesystem must be writable)")]
    NotWritable {
        /// The folder that cannot be written.
        folder: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another file system step failed: the upgrade's lock, the temporary folders, building,
    /// hashing or placing the tree, a background task; also an upgrade named after our own
    /// work area (`.switchyard-staging`).
    #[error("{path}: {source}")]
    Io {
        /// The path the step worked on.
        path: PathBuf,
        /// The OS error, or a description of the failure.
        #[source]
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |source| StageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The temporary area, on the same filesystem as `upgrades/`.
pub fn staging_work_dir(layout: &Layout) -> PathBuf {
    layout.state_dir().join("staging")
}

/// Picks `platform`'s entry (e.g. `linux/amd64`), else `any`; returns the key used.
pub fn select_source<'a>(
    binaries: &'a PlanBinaries,
    platform: &str,
) -> Result<(String, &'a BinarySource), StageError> {
    if let Some(src) = binaries.entries.get(platform) {
        return Ok((platform.to_string(), src));
    }
    if let Some(src) = binaries.entries.get("any") {
        return Ok(("any".to_string(), src));
    }
    if let Some(r) = binaries.rejection_for(platform) {
        return Err(StageError::RejectedEntry {
            platform: r.platform.clone(),
            reason: r.reason.clone(),
        });
    }
    Err(StageError::NoBinaryForPlatform {
        platform: platform.to_string(),
        available: binaries.entries.keys().cloned().collect(),
    })
}

/// [`select_source`] for `platform` (use [`switchyard_core::this_platform`]), then
/// [`stage`]. Nothing is downloaded when the plan has no entry for this platform; that is an
/// error unless a binary is already in place (then the outcome says whose it is).
pub async fn stage_from_plan(
    layout: &Layout,
    name: &UpgradeName,
    binaries: &PlanBinaries,
    platform: &str,
    opts: &StageOptions,
) -> Result<StageOutcome, StageError> {
    let (key, source) = match select_source(binaries, platform) {
        Ok(found) => found,
        Err(e) => {
            // Nothing for this platform, but a binary is already in place: report that instead.
            let bin = layout.upgrade_binary(name);
            if std::fs::symlink_metadata(&bin).is_err() {
                return Err(e);
            }
            if let Ok(Some(rec)) = staging_record::load_staging_record(layout, name) {
                let r = rec.clone();
                if rec.binary_path == bin
                    && blocking(&bin, move || staging_record::verify_installed_binary(&r))
                        .await?
                        .is_ok()
                {
                    return Ok(StageOutcome::AlreadyStaged(rec));
                }
            }
            return Ok(StageOutcome::OperatorPlaced { binary: bin });
        }
    };
    stage_inner(layout, name, source, Some(key), opts).await
}

/// Stages `source` as the binary of upgrade `name` (see the module docs for every step).
pub async fn stage_from_source(
    layout: &Layout,
    name: &UpgradeName,
    source: &BinarySource,
    opts: &StageOptions,
) -> Result<StageOutcome, StageError> {
    stage_inner(layout, name, source, None, opts).await
}

async fn blocking<T: Send + 'static>(
    what: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StageError::Io {
            path: what.to_path_buf(),
            source: std::io::Error::other(format!("background task failed: {e}")),
        })
}

async fn stage_inner(
    layout: &Layout,
    name: &UpgradeName,
    source: &BinarySource,
    platform: Option<String>,
    opts: &StageOptions,
) -> Result<StageOutcome, StageError> {
    let staging = staging_work_dir(layout);
    let _lock = lock_and_clean(&staging, name).await?;

    let bin = layout.upgrade_binary(name);
    if std::fs::symlink_metadata(&bin).is_ok() {
        return existing(layout, name, source, &bin, opts).await;
    }
    let url_kind = check_source(layout, name, source, opts)?;
    let ws = open_workspace(layout, name, &staging).await?;
    let fetched = download_verified(&ws, name, source, url_kind, opts).await?;
    let built = unpack_and_hash(layout, &ws, &fetched, source, opts).await?;

    let mut record = new_record(name, platform, source, &fetched, &built, &bin, opts);
    // Record first: a binary present with a matching record is ours, even after a crash here.
    staging_record::save_staging_record(layout, name, &record)?;
    install(layout, name, &ws, built).await?;
    drop(ws);
    tracing::info!("staging {name}: installed {}", bin.display());

    finish_preflight(layout, name, &mut record, opts).await?;
    Ok(StageOutcome::Staged(record))
}

/// Takes the upgrade's lock (held until dropped) and removes what interrupted attempts left.
async fn lock_and_clean(
    staging: &Path,
    name: &UpgradeName,
) -> Result<workspace::UpgradeLock, StageError> {
    let lock = {
        let (s, n) = (staging.to_path_buf(), name.as_str().to_string());
        blocking(staging, move || workspace::lock_upgrade(&s, &n))
            .await?
            .map_err(io_at(staging))?
    };
    match workspace::clean_leftovers(staging) {
        Ok(removed) => {
            for r in removed {
                tracing::info!("removed {} left by an interrupted staging", r.display());
            }
        }
        Err(e) => tracing::warn!("cleaning {}: {e}", staging.display()),
    }
    Ok(lock)
}

/// Refuses, before any download or folder, what cannot be staged; returns the URL's archive type.
fn check_source(
    layout: &Layout,
    name: &UpgradeName,
    source: &BinarySource,
    opts: &StageOptions,
) -> Result<Option<ArchiveKind>, StageError> {
    if opts.must_have_checksum && source.checksum.is_none() {
        return Err(StageError::MissingChecksum {
            url: source.url.clone(),
        });
    }
    let url_kind = archive::kind_from_url(&source.url).map_err(|e| StageError::Archive {
        url: source.url.clone(),
        source: e,
    })?;
    // Checked here too so a bad URL fails before any folder is made.
    fetch::check_url(&source.url, opts.fetch.allow_http)?;

    if name.as_str() == workspace::FOREIGN_AREA {
        return Err(StageError::Io {
            path: layout.upgrade_dir(name),
            source: std::io::Error::other(format!(
                "{} is the name of switchyard's own work area; an upgrade cannot be staged under it",
                workspace::FOREIGN_AREA
            )),
        });
    }
    Ok(url_kind)
}

/// Makes this attempt's temporary folder in a work area that renames into the upgrade folder.
async fn open_workspace(
    layout: &Layout,
    name: &UpgradeName,
    staging: &Path,
) -> Result<workspace::Workspace, StageError> {
    let area = {
        let (s, u, d) = (
            staging.to_path_buf(),
            layout.upgrades_dir(),
            layout.upgrade_dir(name),
        );
        blocking(staging, move || workspace::work_area(&s, &u, &d))
            .await?
            .map_err(|e| StageError::NotWritable {
                folder: e.folder,
                source: e.source,
            })?
    };
    if area != staging {
        tracing::info!(
            "staging {name}: {} is on another filesystem, working in {}",
            layout.upgrades_dir().display(),
            area.display()
        );
        if let Ok(removed) = workspace::clean_leftovers(&area) {
            for r in removed {
                tracing::info!("removed {} left by an interrupted staging", r.display());
            }
        }
    }
    workspace::Workspace::new(&area, name.as_str()).map_err(io_at(&area))
}

/// The verified download, in the workspace.
struct Fetched {
    /// Where it was saved: `<workspace>/download`.
    path: PathBuf,
    /// Its size and digest.
    got: fetch::Downloaded,
    /// Its archive type (from the URL, else sniffed); `None` for a plain binary.
    kind: Option<ArchiveKind>,
}

/// Downloads into the workspace, checked against the checksum if any; finds the archive type.
async fn download_verified(
    ws: &workspace::Workspace,
    name: &UpgradeName,
    source: &BinarySource,
    url_kind: Option<ArchiveKind>,
    opts: &StageOptions,
) -> Result<Fetched, StageError> {
    let download = ws.dir.join("download");
    tracing::info!("staging {name}: fetching {}", source.url);
    let got = fetch::download(
        &source.url,
        &download,
        source.checksum.as_ref(),
        &opts.fetch,
    )
    .await?;
    tracing::info!(
        "staging {name}: {} bytes, {} verified",
        got.size,
        got.digest
    );

    let kind = match url_kind {
        Some(k) => Some(k),
        None => archive::sniff(&download).map_err(|e| StageError::Archive {
            url: source.url.clone(),
            source: e,
        })?,
    };
    Ok(Fetched {
        path: download,
        got,
        kind,
    })
}

/// The tree to install, built in the workspace.
struct Built {
    /// The tree: `<workspace>/tree`.
    tree: PathBuf,
    /// The binary's path inside it, `bin/<daemon>`.
    binary_rel: PathBuf,
    /// The binary's sha256, in hex.
    binary_sha256: String,
    /// The binary's size in bytes.
    binary_size: u64,
}

/// Unpacks (or moves) the download into the workspace's tree, hashes the binary and fsyncs it.
async fn unpack_and_hash(
    layout: &Layout,
    ws: &workspace::Workspace,
    fetched: &Fetched,
    source: &BinarySource,
    opts: &StageOptions,
) -> Result<Built, StageError> {
    let tree = ws.dir.join("tree");
    let binary_rel = {
        let (download, kind, tree, daemon, url) = (
            fetched.path.clone(),
            fetched.kind,
            tree.clone(),
            layout.daemon_name.clone(),
            source.url.clone(),
        );
        let limits = UnpackLimits {
            max_bytes: opts.max_unpacked_bytes,
            max_entries: opts.max_archive_entries,
        };
        blocking(&ws.dir, move || {
            build_tree(&download, kind, &tree, &daemon, &limits, &url)
        })
        .await??
    };
    let (binary_sha256, binary_size) = {
        let (p, t) = (tree.join(&binary_rel), tree.clone());
        blocking(&tree, move || -> Result<_, StageError> {
            let (sum, size) = hash_file(&p, ChecksumAlgo::Sha256).map_err(io_at(&p))?;
            place::sync_tree(&t).map_err(io_at(&t))?;
            Ok((sum.hex, size))
        })
        .await??
    };
    Ok(Built {
        tree,
        binary_rel,
        binary_sha256,
        binary_size,
    })
}

/// The staging record of the binary about to be installed at `bin`, its preflight pending.
fn new_record(
    name: &UpgradeName,
    platform: Option<String>,
    source: &BinarySource,
    fetched: &Fetched,
    built: &Built,
    bin: &Path,
    opts: &StageOptions,
) -> StagingRecord {
    StagingRecord {
        name: name.to_string(),
        platform,
        url: source.url.clone(),
        expected_checksum: source.checksum.as_ref().map(ToString::to_string),
        digest: fetched.got.digest.to_string(),
        size: fetched.got.size,
        archive: fetched.kind.map(|k| k.as_str().to_string()),
        binary_path: bin.to_path_buf(),
        binary_sha256: built.binary_sha256.clone(),
        binary_size: built.binary_size,
        staged_at: Utc::now(),
        preflight: PreflightRecord::pending(),
        binary_stamp: None,
        origin: opts.origin,
    }
}

/// Moves the built tree into `upgrades/<name>/` (see `place`), keeping files already there.
async fn install(
    layout: &Layout,
    name: &UpgradeName,
    ws: &workspace::Workspace,
    built: Built,
) -> Result<(), StageError> {
    let (tree, dst, rel, spare) = (
        built.tree,
        layout.upgrade_dir(name),
        built.binary_rel,
        ws.dir.join("binary"),
    );
    let kept = blocking(&dst.clone(), move || {
        place::place(&tree, &dst, &rel, &spare)
    })
    .await?
    .map_err(io_at(&layout.upgrade_dir(name)))?;
    for k in kept {
        tracing::info!("staging {name}: kept existing {}", k.display());
    }
    Ok(())
}

/// The upgrade folder already holds a binary: ours (maybe preflight again) or the operator's.
async fn existing(
    layout: &Layout,
    name: &UpgradeName,
    source: &BinarySource,
    bin: &Path,
    opts: &StageOptions,
) -> Result<StageOutcome, StageError> {
    let record = match staging_record::load_staging_record(layout, name) {
        Ok(Some(r)) if r.binary_path == bin => r,
        Ok(_) => {
            return Ok(StageOutcome::OperatorPlaced {
                binary: bin.to_path_buf(),
            })
        }
        Err(e) => {
            tracing::warn!("{e}; treating {} as placed by the operator", bin.display());
            return Ok(StageOutcome::OperatorPlaced {
                binary: bin.to_path_buf(),
            });
        }
    };
    let ours = {
        let r = record.clone();
        blocking(bin, move || staging_record::verify_installed_binary(&r)).await?
    };
    if let Err(e) = ours {
        // Replaced by hand after we staged it: it is the operator's now.
        tracing::info!("{e}; treating it as placed by the operator");
        return Ok(StageOutcome::OperatorPlaced {
            binary: bin.to_path_buf(),
        });
    }
    if !record.matches(source) {
        return Err(StageError::Conflict {
            record: Box::new(record),
            wanted_url: source.url.clone(),
            wanted_checksum: source.checksum.as_ref().map(ToString::to_string),
        });
    }
    let mut record = record;
    if matches!(
        record.preflight.status,
        PreflightStatus::Pending | PreflightStatus::Failed
    ) {
        finish_preflight(layout, name, &mut record, opts).await?;
    }
    Ok(StageOutcome::AlreadyStaged(record))
}

/// Runs the preflight of a binary staged earlier once more (its record says it failed to start:
/// the host may have been fixed since, e.g. the missing shared library installed), saves the
/// record and returns it; fails as staging does ([`StageError::Preflight`] when it still does
/// not start).
pub async fn rerun_preflight(
    layout: &Layout,
    name: &UpgradeName,
    mut record: StagingRecord,
    opts: &StageOptions,
) -> Result<StagingRecord, StageError> {
    finish_preflight(layout, name, &mut record, opts).await?;
    Ok(record)
}

/// Runs (or skips) the preflight, records it, and turns a failure into [`StageError::Preflight`].
async fn finish_preflight(
    layout: &Layout,
    name: &UpgradeName,
    record: &mut StagingRecord,
    opts: &StageOptions,
) -> Result<(), StageError> {
    record.preflight = if record.expected_checksum.is_none() {
        PreflightRecord {
            status: PreflightStatus::Skipped,
            output: String::new(),
            message: Some(
                "no checksum was given, so the binary is not run before the upgrade".into(),
            ),
            ran_at: None,
        }
    } else if !opts.preflight {
        return Ok(());
    } else {
        preflight::run(&record.binary_path, opts.preflight_timeout).await
    };
    {
        // Hash the installed binary once more and stamp it, so the check at the halt is a stat.
        let mut r = record.clone();
        let bin = record.binary_path.clone();
        *record = blocking(&bin, move || {
            staging_record::stamp_installed_binary(&mut r).map(|()| r)
        })
        .await??;
    }
    staging_record::save_staging_record(layout, name, record)?;
    match record.preflight.status {
        PreflightStatus::Failed => Err(StageError::Preflight {
            message: record.preflight.message.clone().unwrap_or_default(),
            record: Box::new(record.clone()),
        }),
        _ => Ok(()),
    }
}

/// Puts the verified download into `tree` as `bin/<daemon>` (plain binary) or unpacks it; returns
/// the binary's path relative to `tree`, always `bin/<daemon>`, executable.
fn build_tree(
    download: &Path,
    kind: Option<ArchiveKind>,
    tree: &Path,
    daemon: &str,
    limits: &UnpackLimits,
    url: &str,
) -> Result<PathBuf, StageError> {
    use std::os::unix::fs::PermissionsExt;
    let arch_err = |source| StageError::Archive {
        url: url.to_string(),
        source,
    };
    let rel = Path::new("bin").join(daemon);
    let target = tree.join(&rel);
    match kind {
        None => {
            let bin_dir = tree.join("bin");
            std::fs::create_dir_all(&bin_dir).map_err(io_at(&bin_dir))?;
            std::fs::rename(download, &target).map_err(io_at(&target))?;
        }
        Some(kind) => {
            archive::unpack(download, kind, tree, limits).map_err(arch_err)?;
            let found = archive::find_binary(tree, daemon).map_err(arch_err)?;
            if found != rel {
                // `<daemon>` at the root: cosmovisor's layout wants it in bin/.
                let bin_dir = tree.join("bin");
                std::fs::create_dir_all(&bin_dir).map_err(io_at(&bin_dir))?;
                let from = tree.join(&found);
                if std::fs::symlink_metadata(&from)
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(false)
                {
                    std::os::unix::fs::symlink(Path::new("..").join(daemon), &target)
                        .map_err(io_at(&target))?;
                } else {
                    std::fs::rename(&from, &target).map_err(io_at(&target))?;
                }
            }
            std::fs::remove_file(download).map_err(io_at(download))?;
        }
    }
    // set_permissions follows a symlink to the (checked, inside-the-tree) file it names.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_at(&target))?;
    Ok(rel)
}
