//! Turns the outside world into typed observations for the decision core: what the chain has
//! decided (height, block times, the scheduled plan, upgrade proposals) and what the node wrote to
//! `data/upgrade-info.json`.
//!
//! # For the supervisor
//!
//! - [`endpoints::resolve`] finds the RPC/gRPC addresses from `$DAEMON_HOME/config/{config,app}.toml`,
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
//!   [`ChainView::chain_plan`] gives the plan as `switchyard_core::schedule::ChainPlan`.
//! - [`upgrade_file::UpgradeFileWatcher::spawn`] watches `data/upgrade-info.json` and delivers
//!   `Result<UpgradeInfo, UpgradeFileError>` values through a `tokio::sync::mpsc::Receiver`.
//!
//! # One-shot (the `plan` command)
//!
//! [`query::ChainClient::connect`] then [`snapshot::snapshot`] reads everything once into a
//! [`snapshot::ChainSnapshot`].
//!
//! # Modules
//! - [`endpoints`]: where to ask. [`rpc`]: CometBFT JSON-RPC client. [`grpc`]: gRPC client;
//!   [`grpc_node`]: height and time over gRPC when no RPC address is known.
//! - [`wire`]: decoding CometBFT JSON. [`query`]: module queries over gRPC or `abci_query`.
//! - [`proposals`]: upgrade messages inside gov proposals. [`info`]: a plan's info → binaries.
//! - [`view`]: plan/proposals merged into upcoming upgrades. [`mod@snapshot`]: one look at the chain.
//! - [`blocks`]: the NewBlock feed. [`block_times`]: average block time.
//! - [`watcher`]: the long-running [`ChainWatcher`]; [`events`]: what changed, for logs.
//! - [`upgrade_file`]: the node's upgrade-info.json.
//! - [`error`]: the crate's error type, [`WatchError`].

pub mod block_times;
pub mod blocks;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod grpc;
pub mod grpc_node;
pub mod info;
pub mod proposals;
pub mod query;
pub mod rpc;
pub mod snapshot;
pub mod upgrade_file;
pub mod view;
pub mod watcher;
pub mod wire;

pub use blocks::{BlockFeed, BlockFeedOptions, BlockSource, NewBlock};
pub use endpoints::{resolve, EndpointInputs, Endpoints};
pub use error::WatchError;
pub use events::WatchEvent;
pub use info::PlanBinariesView;
pub use proposals::{PlanSpec, ProposalStatus, UpgradeProposal};
pub use query::{ChainClient, GovVersion, Transport};
pub use rpc::Limits;
pub use snapshot::{snapshot, ChainSnapshot, SnapshotOptions};
pub use upgrade_file::{UpgradeFileError, UpgradeFileWatcher};
pub use view::{PlanView, ProposalView, Upcoming, UpgradeSource};
pub use watcher::{ChainView, ChainWatcher, WatcherOptions};
