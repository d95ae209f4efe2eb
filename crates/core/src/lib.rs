//! The pure decision core of switchyard.
//!
//! Everything in this crate is plain data and plain functions: no I/O, no clock reads, no async.
//! The shells around it (`switchyard-watcher` observes, `switchyard-store` and `switchyard-exec`
//! act) hand it what they saw and carry out what it decides. That keeps every rule about *when*
//! to swap a binary unit-testable and property-testable.
//!
//! Inside (private modules; the surface is what this file re-exports):
//! - `name`: upgrade names, which come from governance and are untrusted input ([`UpgradeName`]).
//! - `upgrade_info`: the `upgrade-info.json` format, parsed and validated ([`UpgradeInfo`]).
//! - `plan_info`: a plan's `info` field turned into per-platform download sources.
//! - `schedule`: the upgrades we know of (on-chain plan, manual) and their collision rules.
//! - `halt`: what `--halt-height` does on a binary, and which flag makes block H run on the new
//!   binary.
//! - `heights`: the running node's sampled heights, and "stopped before its halt height".
//! - `node_args`: what the node's own arguments say (`--unsafe-skip-upgrades`, `start`,
//!   `--halt-height`), and where a halt the node was told to make stops it.
//! - `backoff`: the doubling delay every retry loop uses.
//! - `retention`: which backups `SWITCHYARD_BACKUP_KEEP` removes.
//! - `restart`: the crash-restart policy (backoff, crash-loop detection).
//! - `staging_rules`: what to stage ahead of the halt, and what to do without a binary at it.
//! - `registry`: the Cosmos chain registry's `chain.json`/`versions.json` as a binary source.
//! - `staged_source`: whether a staged binary is the one the plan lists now.
//! - `readiness`: whether the node is ready for an upcoming upgrade (`plan` and `/metrics`).
//! - `stall`: whether a running node has stopped making progress (sentry supervision).
//! - `preupgrade_probe`: whether a new binary has a `pre-upgrade` command, judged before the halt.
//! - `decide`: the state machine that turns observations into decisions.
//! - `settings`: setting values read as cosmovisor's Go code reads them (`strconv.ParseBool`,
//!   `time.ParseDuration`, `strconv.Atoi`).
//! - `error_chain`: an error and its sources on one line, for messages ([`error_chain()`]).

mod backoff;
mod block_time;
mod decide;
mod error_chain;
mod halt;
mod heights;
mod name;
mod node_args;
mod plan_info;
mod preupgrade_probe;
mod readiness;
mod registry;
mod restart;
mod retention;
mod schedule;
mod settings;
mod staged_source;
mod staging_rules;
mod stall;
mod upgrade_info;

pub use backoff::Backoff;
pub use block_time::{
    judge_block_time, BlockTimeVerdict, EARLIEST_PLAUSIBLE_BLOCK_UNIX, MOST_BLOCK_TIME_AHEAD_SECS,
};
pub use decide::{
    desired_halt, halt_file_may_come, halt_is_near, height_watch, missed_manual, next_halt_height,
    on_exit, on_start, pending_upgrade_height, rearm, skipped_halt, while_running, ArmedHalt,
    ExitDecision, ExitKind, HeightWatch, Known, Rearm, RearmReason, RunningDecision, StartDecision,
    SwapTarget, DEFAULT_BLIND_AFTER_MS, MAX_HEIGHT_LAG, NEAR_HALT_BLOCKS, OVERDUE_FACTOR,
};
pub use error_chain::error_chain;
pub use halt::{HaltBehaviour, HaltFlag, SdkVersion};
pub use heights::{stopped_before_window_ms, HeightHistory, HeightSample};
pub use name::{NameError, UpgradeName, MAX_NAME_LEN};
pub use node_args::{
    halt_stop_commit, is_start_command, operator_halt_stop, operator_halt_time,
    unsafe_skip_heights, AppHalt,
};
pub use plan_info::{
    binaries_from_json, parse_info, this_platform, BinarySource, Checksum, ChecksumAlgo,
    ChecksumError, PlanBinaries, PlanInfo, RejectedEntry,
};
pub use preupgrade_probe::{
    ask_again, binaries_to_probe, judge_preupgrade, preupgrade_needed, PreUpgradeCommand, ProbeRun,
    ProposedUpgrade, CONTROL_COMMAND, PROBE_ATTEMPTS,
};
pub use readiness::{
    readiness, BackupFact, BinaryFact, Blocker, Check, ListingFact, Obstacle, PreflightFact,
    Readiness, ReadinessFacts,
};
pub use registry::{
    choose_source, parse_chain, parse_versions, pick_binary, BinaryOrigin, BinaryPick, ChainFile,
    Chosen, HeightMismatch, PlanListing, Registry, RegistryBinary, RegistryError, RegistryInput,
    RegistryVersion, SourceConflict, VersionsFile, MAX_REGISTRY_BYTES,
};
pub use restart::{restarts_after_crash, CrashDecision, CrashPolicy, CrashPolicyConfig};
pub use retention::{backups_to_remove, BackupOrder};
pub use schedule::{
    armed_manual, check_manual, displaced_manual, plan_displaces, Current, ManualUpgrade,
    ScheduleError, ScheduledPlan, UpgradeKind,
};
pub use settings::{env_bool, go_bool, go_duration, go_int, DurationError, IntError};
pub use staged_source::{staged_against_plan, SourceMismatch, StagedFrom};
pub use staging_rules::{
    binary_step, should_stage, BinaryStep, ProposalPhase, Sighting, StagingCandidate, StagingPolicy,
};
pub use stall::{
    stall_threshold, Excuse, HeightHeard, StallContext, StallReason, StallTracker, StallVerdict,
    MIN_STALL_AFTER, STALL_BLOCKS,
};
pub use upgrade_info::{UpgradeInfo, UpgradeInfoError};
