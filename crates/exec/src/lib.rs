//! switchyard's processes.
//!
//! Inside (private modules; the surface is what this file re-exports):
//! - `child`: the node process ([`NodeProcess`]) — spawned with inherited stdio and working
//!   directory, tied to our life (it gets SIGTERM if switchyard dies), signalled only while it is
//!   ours, stopped gracefully (SIGTERM, grace period, SIGKILL).
//! - `preupgrade`: the custom pre-upgrade script ([`run_custom_preupgrade`]) and the new binary's
//!   `pre-upgrade` command ([`run_binary_preupgrade`]), with cosmovisor's exit-code meanings,
//!   retries and timeouts; and the probe that asks, before the halt, whether the binary has
//!   that command at all ([`probe_preupgrade`]).
//! - `node_version`: asks a node binary for its Cosmos SDK version ([`sdk_version`]).
//! - `helper`: how hooks and probes run (own process group, output logged line by line or
//!   captured, killed with their group at the time limit or when cancelled).
//! - `guard`: the guard process that SIGKILLs a node outliving a killed switchyard
//!   ([`GUARD_ARG`], [`guard_main`]).
//! - `identity`: a process named by PID and start time ([`ProcessIdentity`]), so a reused PID is
//!   never signalled.
//!
//! Nothing here decides *when*; that is `switchyard-core`'s job.

mod child;
mod guard;
mod helper;
mod identity;
mod node_version;
mod preupgrade;

pub use child::{exit_code, ExecError, NodeProcess, StopOutcome};
pub use guard::{guard_main, GUARD_ARG};
pub use helper::{
    run as run_helper, Finished as HelperFinished, Output as HelperOutput, Ran as HelperRan,
};
pub use identity::{ProcessIdentity, Stopped, KILL_WAIT};
pub use node_version::{sdk_version, VersionError};
pub use preupgrade::{
    probe_binary as probe_preupgrade, run_binary as run_binary_preupgrade,
    run_custom as run_custom_preupgrade, PreUpgradeError, PreUpgradeOutcome,
};
