//! A scriptable fake Cosmos node for tests: CometBFT JSON-RPC over HTTP and websocket, and the
//! gRPC query services of `x/upgrade` and `x/gov`, all on 127.0.0.1, answering in the wire shapes
//! recorded from real nodes.
//!
//! Use it in-process with [`FakeChain::start`] (then [`FakeChain::control`] to script it), or as
//! the `switchyard-fakechain` binary, which prints its addresses as one JSON line and takes the
//! same commands on `POST /control` (see [`Command`]).
//!
//! Inside (private modules; the surface is what this file re-exports):
//! - `state`: the chain (height, plan, proposals) and the script operations; `plan_script`: a
//!   plan as scripted; `decode`: what an executed proposal message does.
//! - `queries`: module query answers shared by gRPC and `abci_query`.
//! - `json`: CometBFT JSON shapes; `rpc_server`: HTTP + websocket; `grpc_server`: tonic.
//! - `control`: script commands.

mod control;
mod decode;
mod grpc_server;
mod json;
mod plan_script;
mod queries;
mod rpc_server;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use control::Command;
pub use json::NODE_ID;
pub use plan_script::PlanScript;
pub use state::{ChainState, Mode, ProposalKind, ProposalScript, Scenario};

/// State shared by the servers.
struct Shared {
    pub state: Mutex<ChainState>,
    /// New heights, for websocket subscribers.
    pub blocks: broadcast::Sender<i64>,
    /// Tells every websocket session to drop its connection.
    pub kill_ws: broadcast::Sender<()>,
    /// Refuse this many upcoming websocket handshakes.
    pub refuse_ws: AtomicU32,
}

/// A running fake node. Dropping it stops its servers.
pub struct FakeChain {
    /// Where the CometBFT JSON-RPC server listens (also `POST /control` and `GET /info/<path>`).
    pub rpc_addr: SocketAddr,
    /// Where the gRPC server listens.
    pub grpc_addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeChain {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeChain {
    /// Starts on free ports of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> anyhow::Result<Self> {
        Self::start_on(scenario, 0, 0).await
    }

    /// Starts on the given ports of 127.0.0.1 (0 = any free port).
    pub async fn start_on(
        scenario: Scenario,
        rpc_port: u16,
        grpc_port: u16,
    ) -> anyhow::Result<Self> {
        let state = ChainState::new(scenario).map_err(anyhow::Error::msg)?;
        let rpc = TcpListener::bind(("127.0.0.1", rpc_port)).await?;
        let grpc = TcpListener::bind(("127.0.0.1", grpc_port)).await?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            blocks: broadcast::channel(1024).0,
            kill_ws: broadcast::channel(16).0,
            refuse_ws: AtomicU32::new(0),
        });
        let rpc_addr = rpc.local_addr()?;
        let grpc_addr = grpc.local_addr()?;
        let tasks = vec![
            tokio::spawn(rpc_server::serve(rpc, shared.clone())),
            tokio::spawn(grpc_server::serve(grpc, shared.clone())),
            tokio::spawn(auto_blocks(shared.clone())),
        ];
        Ok(FakeChain {
            rpc_addr,
            grpc_addr,
            shared,
            tasks,
        })
    }

    /// `http://127.0.0.1:<rpc port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// `http://127.0.0.1:<grpc port>`.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// Applies a script command; see [`Command`].
    pub fn control(&self, cmd: Command) -> Result<serde_json::Value, String> {
        control::apply(&self.shared, cmd)
    }

    /// Applies a command given as JSON (`{"op":"advance","blocks":1}`).
    pub fn control_json(&self, cmd: serde_json::Value) -> Result<serde_json::Value, String> {
        control::apply_body(&self.shared, cmd.to_string().as_bytes())
    }

    /// The current height.
    pub fn height(&self) -> i64 {
        self.shared.state.lock().unwrap().height()
    }
}

async fn auto_blocks(shared: Arc<Shared>) {
    loop {
        let (on, interval) = {
            let st = shared.state.lock().unwrap();
            (st.s.auto_blocks, st.s.block_interval_ms.max(10))
        };
        tokio::time::sleep(Duration::from_millis(if on { interval } else { 50 })).await;
        if on {
            let _ = control::apply(&shared, Command::Advance { blocks: 1 });
        }
    }
}
