//! switchyard's disk.
//!
//! - [`layout`]: the cosmovisor-compatible folder layout and the `current` symlink.
//! - [`journal`]: a small write-ahead journal that makes every swap crash-safe.
//! - [`backup`]: the snapshot of `data/` taken before an upgrade (tables hard-linked, the rest
//!   copied), its space check and retention, and restoring one.
//! - [`manual`]: manual upgrades registered with `add-upgrade --height` (no on-chain plan).
//! - [`pidfile`]: the node process we started, so a restarted switchyard can find its orphan.
//! - [`checksum`], [`fetch`], [`archive`], [`install`], [`preflight`], [`staged`]: getting the next
//!   binary onto disk early: download, verify, unpack, install atomically, prove it starts, record it.
//!
//! Our own state lives in `$DAEMON_HOME/cosmovisor/switchyard/`, never inside `data/`.

pub mod archive;
pub mod backup;
pub mod checksum;
pub mod fetch;
pub mod fsutil;
pub mod install;
pub mod journal;
pub mod layout;
pub mod manual;
pub mod pidfile;
pub mod preflight;
pub mod staged;

pub use layout::Layout;
