//! CometBFT JSON-RPC answers in the shapes real nodes send (see tests/fixtures/real/): every int64
//! as a string, times in RFC 3339 with nanoseconds, `abci_query` values in base64.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::state::ChainState;

fn t(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn hash(h: i64, salt: u8) -> String {
    let mut out = String::with_capacity(64);
    for i in 0..32u8 {
        out.push_str(&format!(
            "{:02X}",
            (h as u8)
                .wrapping_mul(31)
                .wrapping_add(i)
                .wrapping_add(salt)
        ));
    }
    out
}

pub(crate) fn envelope(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub(crate) fn error(id: &Value, code: i64, message: &str, data: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}})
}

/// A real node's `/net_info` answer, the template for ours.
const REAL_NET_INFO: &str =
    include_str!("../../../tests/fixtures/real/vatz-cosmoshub/net_info_agoric-3.json");

/// `/net_info` in the shape recorded from a real node (`n_peers` as a string, one entry per
/// peer, each a copy of the recorded first peer with its own id and moniker).
pub(crate) fn net_info(st: &ChainState) -> Value {
    let real: Value = serde_json::from_str(REAL_NET_INFO).unwrap_or_default();
    let mut result = real["result"].clone();
    let template = result["peers"][0].clone();
    let peers: Vec<Value> = (0..st.s.peers)
        .map(|i| {
            let mut p = template.clone();
            p["node_info"]["id"] = json!(format!("{:040x}", i + 1));
            p["node_info"]["moniker"] = json!(format!("peer-{i}"));
            p["node_info"]["network"] = json!(st.s.chain_id);
            p
        })
        .collect();
    result["n_peers"] = json!(st.s.peers.to_string());
    result["peers"] = json!(peers);
    json!(result)
}

/// The fake chain's node id, in `/status` and gRPC `GetNodeInfo`.
pub const NODE_ID: &str = "99c7d7cc3295ea495610ff3e84fd44562b919754";

pub(crate) fn status(st: &ChainState) -> Value {
    let h = st.height();
    json!({
        "node_info": {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "id": NODE_ID,
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": st.s.chain_id,
            "version": "0.38.12",
            "channels": "40202122233038606100",
            "moniker": "fakechain",
            "other": {"tx_index": "on", "rpc_address": "tcp://127.0.0.1:26657"}
        },
        "sync_info": {
            "latest_block_hash": hash(h, 1),
            "latest_app_hash": hash(h, 2),
            "latest_block_height": h.to_string(),
            "latest_block_time": t(st.block_time(h)),
            "earliest_block_hash": hash(st.s.earliest_height, 1),
            "earliest_app_hash": hash(st.s.earliest_height, 2),
            "earliest_block_height": st.s.earliest_height.to_string(),
            "earliest_block_time": t(st.block_time(st.s.earliest_height)),
            "catching_up": st.s.catching_up
        },
        "validator_info": {
            "address": "DFA9DD9F731B4D94E19285E810D5D425CC6BB1E3",
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "n6W7++UOScOo1hPDuVaTx3bXHbsPWaSiYiWr+raVgKw="},
            "voting_power": "0"
        }
    })
}

pub(crate) fn abci_info(st: &ChainState) -> Value {
    json!({
        "response": {
            "data": "SimApp",
            "version": st.s.app_version,
            "app_version": "0",
            "last_block_height": st.last_committed().to_string(),
            "last_block_app_hash": base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        }
    })
}

pub(crate) fn header(st: &ChainState, h: i64) -> Value {
    json!({
        "version": {"block": "11", "app": "0"},
        "chain_id": st.s.chain_id,
        "height": h.to_string(),
        "time": t(st.block_time(h)),
        "last_block_id": {"hash": hash(h - 1, 1), "parts": {"total": 1, "hash": hash(h - 1, 3)}},
        "last_commit_hash": hash(h, 4),
        "data_hash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "validators_hash": hash(0, 5),
        "next_validators_hash": hash(0, 5),
        "consensus_hash": "048091BC7DDC283F77BFBF91D73C44DA58C3DF8A9CBC867405D8B7F3DAADA22F",
        "app_hash": hash(h - 1, 2),
        "last_results_hash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "evidence_hash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "proposer_address": "DFA9DD9F731B4D94E19285E810D5D425CC6BB1E3"
    })
}

fn block_body(st: &ChainState, h: i64) -> Value {
    json!({
        "header": header(st, h),
        "data": {"txs": []},
        "evidence": {"evidence": []},
        "last_commit": {
            "height": (h - 1).to_string(),
            "round": 0,
            "block_id": {"hash": hash(h - 1, 1), "parts": {"total": 1, "hash": hash(h - 1, 3)}},
            "signatures": [{
                "block_id_flag": 2,
                "validator_address": "DFA9DD9F731B4D94E19285E810D5D425CC6BB1E3",
                "timestamp": t(st.block_time(h)),
                "signature": "/sTY1fEFE0vpbjM9r+1E3Fo0vOdMh6HTBfCLK3UHR2jf4VGQxdebXzEnNShfQg+UQkvGp7Rqe4nhxmhbo/DmCQ=="
            }]
        }
    })
}

/// `/block?height=h`; `Err` (JSON-RPC error data) when the height is not stored.
pub(crate) fn block(st: &ChainState, h: Option<i64>) -> Result<Value, String> {
    let h = h.unwrap_or(st.height());
    if h < st.s.earliest_height || h > st.height() {
        return Err(format!(
            "height {h} is not available, lowest height is {}",
            st.s.earliest_height
        ));
    }
    Ok(json!({
        "block_id": {"hash": hash(h, 1), "parts": {"total": 1, "hash": hash(h, 3)}},
        "block": block_body(st, h)
    }))
}

/// The websocket event for a new block (CometBFT 0.38 shape).
pub(crate) fn new_block_event(st: &ChainState, sub_id: &Value, h: i64) -> Value {
    envelope(
        sub_id,
        json!({
            "query": "tm.event = 'NewBlock'",
            "data": {
                "type": "tendermint/event/NewBlock",
                "value": {
                    "block": block_body(st, h),
                    "block_id": {"hash": hash(h, 1), "parts": {"total": 1, "hash": hash(h, 3)}},
                    "result_finalize_block": {"app_hash": "BgAAAAAAAAA=", "validator_updates": []}
                }
            },
            "events": {"tm.event": ["NewBlock"]}
        }),
    )
}

/// The websocket event for a new block header (CometBFT 0.38 shape, as recorded from wasmd
/// v0.55.1: the header alone).
pub(crate) fn new_block_header_event(st: &ChainState, sub_id: &Value, h: i64) -> Value {
    envelope(
        sub_id,
        json!({
            "query": "tm.event = 'NewBlockHeader'",
            "data": {
                "type": "tendermint/event/NewBlockHeader",
                "value": {"header": header(st, h)}
            },
            "events": {"tm.event": ["NewBlockHeader"]}
        }),
    )
}

/// `abci_query`'s result.
pub(crate) fn abci_query(st: &ChainState, answer: Result<Vec<u8>, (u32, String)>) -> Value {
    let (code, log, value, codespace) = match answer {
        Ok(v) => (
            0,
            String::new(),
            base64::engine::general_purpose::STANDARD.encode(v),
            "",
        ),
        Err((code, log)) => (code, log, String::new(), "sdk"),
    };
    json!({
        "response": {
            "code": code,
            "log": log,
            "info": "",
            "index": "0",
            "key": null,
            "value": value,
            "proofOps": null,
            "height": st.last_committed().to_string(),
            "codespace": codespace
        }
    })
}
