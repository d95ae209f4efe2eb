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
//! - `halt`: which `--halt-height` makes block H run on the new binary, per SDK version.
//! - `restart`: the crash-restart policy (exponential backoff, crash-loop detection).
//! - `decide`: the state machine that turns observations into decisions.

mod decide;
mod halt;
mod name;
mod plan_info;
mod restart;
mod schedule;
mod upgrade_info;

pub use decide::{
    missed_manual, on_exit, on_start, while_running, ArmedHalt, ExitDecision, ExitKind, Known,
    RunningDecision, StartDecision, SwapTarget, MAX_HEIGHT_LAG,
};
pub use halt::{HaltMethod, SdkVersion};
pub use name::{NameError, UpgradeName, MAX_NAME_LEN};
pub use plan_info::{
    binaries_from_json, parse_info, this_platform, BinarySource, Checksum, ChecksumAlgo,
    ChecksumError, PlanBinaries, PlanInfo, RejectedEntry,
};
pub use restart::{CrashDecision, CrashPolicy, CrashPolicyConfig};
pub use schedule::{
    armed_manual, check_manual, displaced_manual, Current, ManualUpgrade, ScheduleError,
    ScheduledPlan, UpgradeKind,
};
pub use upgrade_info::{UpgradeInfo, UpgradeInfoError};
