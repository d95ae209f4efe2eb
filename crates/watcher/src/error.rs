//! The watcher's typed errors: every way talking to a node (or reading its config) can fail,
//! each naming what was asked, of whom, and what went wrong.

use std::path::PathBuf;

/// An error from querying the chain or resolving where to query it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// No address to ask at all.
    #[error("no CometBFT RPC or gRPC address: pass --rpc URL (or --grpc URL), set DAEMON_GRPC_ADDRESS, or set DAEMON_HOME so config/config.toml can be read")]
    NoEndpoint,
    /// The address could not be understood.
    #[error("bad {what} address {addr:?}: {why}")]
    BadAddress {
        /// Which address it was: `"RPC"`, `"gRPC"`, or `"gRPC method"`.
        what: &'static str,
        /// The address as given (for `"gRPC method"`, the method path).
        addr: String,
        /// Why it was refused, from the URL parser or the HTTP/gRPC client builder.
        why: String,
    },
    /// Connection refused, DNS failure, reset: nothing answered.
    #[error("cannot reach {what} at {addr}: {why}")]
    Unreachable {
        /// What was being asked, e.g. `"CometBFT RPC status"`.
        what: String,
        /// The RPC or gRPC URL dialed.
        addr: String,
        /// The transport error, with its causes.
        why: String,
    },
    /// Something answered, but not within the time allowed.
    #[error("{what} at {addr} did not answer within {:.1}s", .after.as_secs_f64())]
    Timeout {
        /// What was being asked.
        what: String,
        /// The RPC or gRPC URL dialed.
        addr: String,
        /// How long we waited: the client's configured timeout.
        after: std::time::Duration,
    },
    /// The answer was larger than we accept.
    #[error("{what} at {addr} sent more than {limit} bytes; refusing to read further")]
    TooLarge {
        /// What was being asked.
        what: String,
        /// The RPC or gRPC URL dialed.
        addr: String,
        /// The response size cap that was exceeded, in bytes.
        limit: u64,
    },
    /// The answer could not be decoded (not JSON, wrong shape, bad protobuf, bad base64).
    #[error("{what} at {addr} sent an answer that cannot be read: {why}")]
    Garbage {
        /// What was being asked.
        what: String,
        /// The RPC or gRPC URL that answered.
        addr: String,
        /// What was wrong with the answer.
        why: String,
    },
    /// The node answered with an error (JSON-RPC error, non-zero ABCI code, gRPC status).
    #[error("{what} at {addr} answered with an error: {why}")]
    Remote {
        /// What was being asked.
        what: String,
        /// The RPC or gRPC URL that answered.
        addr: String,
        /// The node's error: JSON-RPC message, ABCI code and log, or gRPC status.
        why: String,
    },
    /// The answer came from another node than the supervised one (its node id or chain id is
    /// not the home's): its heights must not time anything.
    #[error("{what} at {addr} is not this node: {why}; refusing its answers (check SWITCHYARD_RPC_ADDRESS / DAEMON_GRPC_ADDRESS, or the node's config)")]
    ForeignNode {
        /// Which route answered, e.g. `"CometBFT RPC"`.
        what: String,
        /// The RPC or gRPC URL that answered.
        addr: String,
        /// Which of node id and chain id differed, and how.
        why: String,
    },
    /// A node config file (`config.toml`, `app.toml`) could not be read.
    #[error("cannot read node config {path}: {why}")]
    NodeConfig {
        /// The file that could not be read.
        path: PathBuf,
        /// Why: an I/O error, a refused file kind or size, not UTF-8, or bad TOML.
        why: String,
    },
}

impl WatchError {
    /// Whether trying again later could help (network trouble rather than a bad address).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            WatchError::NoEndpoint | WatchError::BadAddress { .. } | WatchError::NodeConfig { .. }
        )
    }

    /// Whether this is a transport failure (nothing or nobody answered), as opposed to an answer
    /// that was wrong. Used to fall back from gRPC to `abci_query`.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            WatchError::Unreachable { .. } | WatchError::Timeout { .. }
        )
    }
}

/// Shorthand used across the crate.
pub(crate) type Result<T, E = WatchError> = std::result::Result<T, E>;
