//! switchyard's processes.
//!
//! - [`child`]: the node process — spawned with inherited stdio and working directory, tied to
//!   our life (it gets SIGTERM if switchyard dies), signalled only while it is ours, stopped
//!   gracefully (SIGTERM, grace period, SIGKILL).
//! - [`preupgrade`]: the custom pre-upgrade script and the new binary's `pre-upgrade` command,
//!   with cosmovisor's exit-code meanings, retries and timeouts.
//! - [`node_version`]: asks a node binary for its Cosmos SDK version.
//!
//! Nothing here decides *when*; that is `switchyard-core`'s job.

pub mod child;
pub mod node_version;
pub mod preupgrade;

pub use child::{ExecError, NodeProcess};
