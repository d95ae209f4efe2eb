//! The pure decision core of switchyard.
//!
//! Everything in this crate is plain data and plain functions: no I/O, no clock reads, no async.
//! The shells around it (`switchyard-watcher` observes, `switchyard-store` and `switchyard-exec`
//! act) hand it what they saw and carry out what it decides. That keeps every rule about *when*
//! to swap a binary unit-testable and property-testable.
//!
//! - [`name`]: upgrade names, which come from governance and are untrusted input.
//! - [`upgrade_info`]: the node's own `data/upgrade-info.json`, parsed and validated.
//! - [`binaries`]: a plan's `info` field turned into per-platform download sources.
//! - [`schedule`]: the upgrades we know of (on-chain plan, proposals, manual) and their rules.
//! - [`halt`]: which `--halt-height` makes block H run on the new binary, per SDK version.
//! - [`restart`]: the crash-restart policy (exponential backoff, crash-loop detection).
//! - [`decide`]: the state machine that turns observations into decisions.

pub mod binaries;
pub mod decide;
pub mod halt;
pub mod name;
pub mod restart;
pub mod schedule;
pub mod upgrade_info;

pub use name::{NameError, UpgradeName};
pub use schedule::{Current, ManualUpgrade, UpgradeKind};
pub use upgrade_info::{UpgradeInfo, UpgradeInfoError};
