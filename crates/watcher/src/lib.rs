//! Turns the outside world into typed observations for the decision core: what the chain has
//! decided (height, block times, the scheduled plan, upgrade proposals) and what the node wrote to
//! `data/upgrade-info.json`.
//!
//! # For the supervisor
//!
//! - [`resolve_endpoints`] finds the RPC/gRPC addresses from `$DAEMON_HOME/config/{config,app}.toml`,
//!   `DAEMON_GRPC_ADDRESS`, `SWITCHYARD_RPC_ADDRESS` and the `--rpc`/`--grpc` flags (flags win).
//! - [`ChainWatcher::spawn`] runs a background task and hands back a
//!   `tokio::sync::watch::Receiver<ChainView>` ([`ChainWatcher::view`]) holding the latest height,
//!   last committed height, block time, average block time, `catching_up`, chain id, the current
//!   plan with its parsed binaries, upgrade proposals, the merged upcoming upgrades, and the last
//!   error. It retries with backoff forever and never touches the node. It logs when a plan
//!   appears, changes, is cancelled, and when its height is 100 and 10 blocks away.
//!   [`ChainWatcher::new_blocks`] gives a `broadcast::Receiver<NewBlock>` of every new height
//!   (websocket `NewBlock`, with `/status` polling while the socket is down), and
//!   [`ChainWatcher::events`] a `broadcast::Receiver<WatchEvent>` of plan scheduled / changed /
//!   cancelled / applied / approaching and proposals entering voting.
//!   [`ChainView::scheduled_plan`] gives the plan as the core's `ScheduledPlan`.
//! - [`HaltFileWatcher::spawn`] watches the node's halt file, `data/upgrade-info.json`, and
//!   delivers `Result<UpgradeInfo, HaltFileError>` values through a `tokio::sync::mpsc::Receiver`;
//!   [`read_halt_file_now`] reads it once.
//!
//! # One-shot (the `plan` command)
//!
//! [`ChainClient::connect`] then [`snapshot()`] reads everything once into a [`ChainSnapshot`].
//!
//! # Inside (private modules; the surface is what this file re-exports)
//! - `endpoints`: where to ask (from `node_config`: the node's own config files, also read for
//!   [`app_halt`]). `rpc`: CometBFT JSON-RPC client. `grpc`: gRPC client;
//!   `grpc_node`: height and time over gRPC when no RPC address is known.
//! - `wire`: decoding CometBFT JSON. `query`: module queries over gRPC or `abci_query`.
//! - `proposals`: upgrade messages inside gov proposals. `plan_binaries`: a plan's info (inline,
//!   or fetched from its URL) resolved into binaries. `registry`: the chain registry's files
//!   (`SWITCHYARD_CHAIN_REGISTRY`) read from a path or URL.
//! - `view`: the [`ChainView`], and plan/proposals merged into upcoming upgrades.
//!   `snapshot`: one look at the chain.
//! - `blocks`: the NewBlock feed. `block_times`: average block time.
//! - `watcher`: the long-running [`ChainWatcher`]; `events`: what changed, for logs.
//!   `respawn`: a background loop that panics is logged and started again.
//! - `halt_file`: the node's `data/upgrade-info.json`.
//! - `error`: the crate's error type, [`WatchError`].
//! - [`fuzzing`] (public on purpose): the decoders above on raw bytes, for the fuzz targets.

mod block_times;
mod blocks;
mod endpoints;
mod error;
mod events;
mod folder_watch;
pub mod fuzzing;
mod grpc;
mod grpc_node;
mod halt_file;
mod identity;
mod node_config;
mod plan_binaries;
mod proposals;
mod query;
mod registry;
mod respawn;
mod rpc;
mod snapshot;
mod view;
mod watcher;
mod wire;

pub use blocks::{BlockFeed, BlockFeedOptions, BlockSource, NewBlock};
pub use endpoints::{resolve as resolve_endpoints, EndpointInputs, Endpoints};
pub use error::WatchError;
pub use events::WatchEvent;
pub use halt_file::{read_now as read_halt_file_now, HaltFileError, HaltFileWatcher};
pub use identity::{IdentityError, NodeIdentity};
pub use node_config::app_halt;
pub use plan_binaries::{resolve_info, InfoFetchLimits, PlanBinariesView};
pub use proposals::{ProposalStatus, RawPlan, UpgradeProposal};
pub use query::{ChainClient, GovVersion, Transport};
pub use registry::{load_registry, RegistryLimits, RegistryLoadError, RegistrySource};
pub use rpc::{Limits, RpcClient};
pub use snapshot::{snapshot, ChainSnapshot, SnapshotOptions};
pub use view::{ChainView, HeightsRead, PlanWithBinaries, ProposalWithBinaries, SeenIn, Upcoming};
pub use watcher::{ChainWatcher, WatcherOptions};
