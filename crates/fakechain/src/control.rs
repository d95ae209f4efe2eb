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

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Advance {
        blocks: u64,
    },
    SetHeight {
        height: i64,
    },
    SubmitProposal {
        proposal: ProposalScript,
    },
    Pass {
        id: u64,
    },
    Reject {
        id: u64,
    },
    SchedulePlan {
        plan: PlanScript,
    },
    CancelPlan,
    ApplyPlan,
    SetMode {
        mode: Mode,
        #[serde(default)]
        bytes: Option<usize>,
    },
    SetGrpcMode {
        mode: Mode,
    },
    CatchingUp {
        value: bool,
    },
    SetPeers {
        count: u32,
    },
    Freeze {
        value: bool,
    },
    DropWebsockets,
    RefuseWebsockets {
        count: u32,
    },
    SetInfoDoc {
        path: String,
        body: String,
    },
    /// Answer `method` with `body` verbatim (`None` stops replaying it).
    Replay {
        method: String,
        #[serde(default)]
        body: Option<String>,
    },
    AutoBlocks {
        interval_ms: u64,
    },
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
