//! switchyard's disk.
//!
//! Inside (private modules; the surface is what this file re-exports):
//! - `layout`: the cosmovisor-compatible folder layout and the `current` symlink ([`Layout`]).
//! - `journal`: a small write-ahead journal that makes every swap crash-safe ([`Journal`]).
//! - [`backup`] (a public module, flat inside: its items read best as `backup::take`,
//!   `backup::restore`):
//!   the snapshot of `data/` taken before an upgrade (tables hard-linked, the rest copied or
//!   cloned), its space check and retention, and restoring one.
//! - `manual`: manual upgrades registered with `add-upgrade --height` (no on-chain plan).
//! - `pidfile`: the node process we started, so a restarted switchyard can find its orphan.
//! - `halt_record`: what `--halt-height` was seen to do on a binary, by its sha256.
//! - *Staging*, getting the next binary onto disk early: `fetch` (download with resume),
//!   `checksum` (digests), `archive` (safe unpacking), `staging` (verify, install atomically:
//!   [`stage_from_plan`], [`stage_from_source`]), `preflight` (prove it starts on this host) and
//!   `staging_record` (what was staged, from where, and how its preflight went).
//! - `preupgrade_record`: whether an upgrade's binary has a `pre-upgrade` command, as probed
//!   before the halt, tied to that file's stamp ([`current_preupgrade_probe`]).
//! - `fsutil`: atomic writes and directory fsync.
//! - `run_lock`: one process at a time drives a home ([`lock_run`]).
//! - [`fuzzing`] (public on purpose): the archive unpacker on a file, for the fuzz targets.
//! - `untrusted_file`: reading a small file others can write to without blocking on a FIFO or
//!   reading an endless one ([`read_untrusted_file`]; [`read_node_written_file`] also refuses a
//!   symlink at the file, for the node's own `data/upgrade-info.json`).
//!
//! Our own state lives in `$DAEMON_HOME/cosmovisor/switchyard/`, never inside `data/`.

mod archive;
pub mod backup;
mod checksum;
mod fetch;
mod fsutil;
pub mod fuzzing;
mod halt_record;
mod journal;
mod layout;
mod manual;
mod pidfile;
mod preflight;
mod preupgrade_record;
mod run_lock;
mod staging;
mod staging_record;
mod untrusted_file;

pub use archive::ArchiveError;
pub use checksum::{hash_file, hash_reader};
pub use fetch::{
    check_url, download, fetch_document, DocumentOptions, Downloaded, FetchError, FetchOptions,
};
pub use fsutil::{
    read_capped, sync_dir, write_atomic, write_atomic_with_mode, STATE_FILE_MAX_BYTES,
};
pub use halt_record::{
    halt_record_path, load_learned_halt, record_learned_halt, HaltRecordError, LearnedHalt,
};
pub use journal::{
    now_rfc3339, AppliedRecord, Journal, JournalError, SwapRecord, SwapStep, SWAP_FAULT_POINTS,
};
pub use layout::{CurrentRepair, Layout, LayoutError};
pub use manual::{load_manual_upgrades, manual_upgrades_path, save_manual_upgrades, ManualError};
pub use pidfile::{
    clear_node_record, is_same_process_alive, load_node_record, process_start_time,
    save_node_record, NodeRecord,
};
pub use preupgrade_record::{
    current_preupgrade_probe, preupgrade_record_path, save_preupgrade_probe, PreUpgradeProbeRecord,
    PreUpgradeRecordError,
};
pub use run_lock::{lock_run, RunLock, RunLockError};
pub use staging::{
    rerun_preflight, select_source, stage_from_plan, stage_from_source, staging_work_dir,
    StageError, StageOptions, StageOutcome,
};
pub use staging_record::{
    list_staging_records, load_staging_record, remove_staging_record, save_staging_record,
    verify_installed_binary, FileStamp, PreflightRecord, PreflightStatus, StagingRecord,
    StagingRecordError,
};
pub use untrusted_file::{read_node_written_file, read_untrusted_file, UntrustedFileError};
