//! Script commands: what a test (or `POST /control` with a JSON body) can do to the fake chain.
//!
//! A body is one command object or an array of them, each tagged by `op`:
//! `{"op":"advance","blocks":5}`, `{"op":"set_height","height":500}`,
//! `{"op":"submit_proposal","proposal":{"kind":"software_upgrade","plan":{"name":"v2","height":200,"info":""}}}`,
//! `{"op":"pass","id":1}`, `{"op":"reject","id":1}`, `{"op":"schedule_plan","plan":{..}}`,
//! `{"op":"cancel_plan"}`, `{"op":"apply_plan"}`, `{"op":"set_mode","mode":"silent"}` (RPC) or
//! `{"op":"set_grpc_mode","mode":"error"}` (modes: normal, silent, garbage, oversized, error,
//! garbage_value), `{"op":"catching_up","value":true}`, `{"op":"set_peers","count":0}` (the
//! `/net_info` peer count), `{"op":"freeze","value":true}` (blocks stop: nothing advances the
//! height until unfrozen),
//! `{"op":"drop_websockets"}`, `{"op":"refuse_websockets","count":3}`,
//! `{"op":"set_info_doc","path":"v2.json","body":"{..}"}`, `{"op":"auto_blocks","interval_ms":200}`
//! (0 stops), `{"op":"replay","method":"status","body":"<raw JSON>"}` (answer a method
//! with a recorded body verbatim; no body stops), `{"op":"state"}`. Each answers with the chain's summary (or the proposal id).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::plan_script::PlanScript;
use crate::state::{Mode, ProposalScript};
use crate::Shared;

/// One script command; as JSON, an object tagged by `op` in snake_case
/// (`{"op":"advance","blocks":5}`). Each answers with the chain's summary, except
/// `SubmitProposal` and `Pass`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Produces up to `blocks` blocks, one at a time (fewer when halted at a plan, none while
    /// frozen); websocket subscribers get an event for each.
    Advance {
        /// How many blocks to produce.
        blocks: u64,
    },
    /// Sets the height as is, past any halt or freeze; subscribers get one event, and only when
    /// the height went up.
    SetHeight {
        /// The new latest block height.
        height: i64,
    },
    /// Adds a proposal at the current height. Answers `{"id": <id>}`.
    SubmitProposal {
        /// The proposal to add.
        proposal: ProposalScript,
    },
    /// Passes a proposal and executes its messages as x/gov would: the plan is scheduled or
    /// cancelled, or the proposal FAILS (status 5) when its plan's height is not above the current
    /// one. Answers `{"id", "status", "plan"}`.
    Pass {
        /// The proposal's id.
        id: u64,
    },
    /// Marks a proposal rejected (status 4); nothing is executed.
    Reject {
        /// The proposal's id.
        id: u64,
    },
    /// Makes `plan` the current plan, replacing any, with no proposal and no height check.
    SchedulePlan {
        /// The plan to schedule.
        plan: PlanScript,
    },
    /// Drops the current plan.
    CancelPlan,
    /// The new binary took over: records the current plan as applied (for `AppliedPlan`) and
    /// drops it, which ends the halt. Fails when no plan is scheduled.
    ApplyPlan,
    /// Sets how the JSON-RPC server misbehaves.
    SetMode {
        /// The new mode.
        mode: Mode,
        /// Size of an oversized answer, in bytes, for RPC and gRPC alike; unchanged when absent.
        #[serde(default)]
        bytes: Option<usize>,
    },
    /// Sets how the gRPC server misbehaves.
    SetGrpcMode {
        /// The new mode.
        mode: Mode,
    },
    /// Sets `catching_up` in `/status` and `syncing` in gRPC `GetSyncing`.
    CatchingUp {
        /// Whether the node says it is catching up.
        value: bool,
    },
    /// Sets the number of peers `/net_info` reports.
    SetPeers {
        /// How many peers.
        count: u32,
    },
    /// Stops or restarts the blocks: while frozen, `Advance` and auto blocks leave the height as it
    /// is.
    Freeze {
        /// Whether the chain is frozen.
        value: bool,
    },
    /// Drops every websocket connection without a close handshake, like a node going away.
    DropWebsockets,
    /// Refuses the next websocket handshakes with 503 Service Unavailable.
    RefuseWebsockets {
        /// How many handshakes to refuse (replaces any count left).
        count: u32,
    },
    /// Serves a document at `GET /info/<path>`.
    SetInfoDoc {
        /// The path after `/info/`.
        path: String,
        /// The document, served as `application/json`.
        body: String,
    },
    /// Answer `method` with `body` verbatim (`None` stops replaying it).
    Replay {
        /// The JSON-RPC method (e.g. `status`), matched on HTTP POST and URI-style GET, not on the
        /// websocket.
        method: String,
        /// The raw answer body.
        #[serde(default)]
        body: Option<String>,
    },
    /// Produces one block every `interval_ms` by itself; 0 stops.
    AutoBlocks {
        /// Milliseconds between blocks (at least 10 are waited). A non-zero value also becomes the
        /// scenario's `block_interval_ms`, which spaces the block times.
        interval_ms: u64,
    },
    /// Changes nothing; answers with the chain's summary.
    State,
}

/// Applies one command.
pub(crate) fn apply(shared: &Shared, cmd: Command) -> Result<Value, String> {
    let mut new_heights = Vec::new();
    let out = {
        let mut st = shared.state.lock().unwrap();
        match cmd {
            Command::Advance { blocks } => new_heights = st.advance(blocks),
            Command::SetHeight { height } => {
                if height > st.s.height {
                    new_heights.push(height);
                }
                st.s.height = height;
            }
            Command::SubmitProposal { proposal } => {
                let id = st.submit(proposal)?;
                return Ok(json!({"id": id}));
            }
            Command::Pass { id } => {
                let status = st.pass(id)?;
                return Ok(json!({"id": id, "status": status, "plan": st.plan}));
            }
            Command::Reject { id } => st.reject(id)?,
            Command::SchedulePlan { plan } => st.plan = Some(plan),
            Command::CancelPlan => st.plan = None,
            Command::ApplyPlan => st.apply_plan()?,
            Command::SetMode { mode, bytes } => {
                st.s.mode = mode;
                if let Some(b) = bytes {
                    st.s.oversized_bytes = b;
                }
            }
            Command::SetGrpcMode { mode } => st.s.grpc_mode = mode,
            Command::CatchingUp { value } => st.s.catching_up = value,
            Command::SetPeers { count } => st.s.peers = count,
            Command::Freeze { value } => st.s.frozen = value,
            Command::DropWebsockets => {
                let _ = shared.kill_ws.send(());
            }
            Command::RefuseWebsockets { count } => {
                shared
                    .refuse_ws
                    .store(count, std::sync::atomic::Ordering::SeqCst);
            }
            Command::SetInfoDoc { path, body } => {
                st.s.info_docs.insert(path, body);
            }
            Command::AutoBlocks { interval_ms } => {
                st.s.auto_blocks = interval_ms > 0;
                if interval_ms > 0 {
                    st.s.block_interval_ms = interval_ms;
                }
            }
            Command::Replay { method, body } => match body {
                Some(b) => {
                    st.s.replay.insert(method, b);
                }
                None => {
                    st.s.replay.remove(&method);
                }
            },
            Command::State => {}
        }
        st.summary()
    };
    for h in new_heights {
        let _ = shared.blocks.send(h);
    }
    Ok(out)
}

/// Parses a control body: one command or an array; applies them in order and returns the last
/// answer.
pub(crate) fn apply_body(shared: &Shared, body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let cmds: Vec<Value> = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut last = Value::Null;
    for c in cmds {
        let cmd: Command = serde_json::from_value(c).map_err(|e| format!("bad command: {e}"))?;
        last = apply(shared, cmd)?;
    }
    Ok(last)
}
