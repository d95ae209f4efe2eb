//! The fake's answers have the same shape as answers recorded from real nodes: the same keys at
//! every level and the same JSON types (int64 as strings, times as strings, value as base64).

use serde_json::{json, Value};
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

fn real(name: &str) -> Value {
    let p = format!(
        "{}/../../tests/fixtures/real/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Lists every (path, type) in `v`; arrays contribute their first element.
fn shape(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                shape(c, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => match a.first() {
            Some(c) => shape(c, &format!("{path}[]"), out),
            None => out.push(format!("{path}: empty array")),
        },
        Value::String(_) => out.push(format!("{path}: string")),
        Value::Number(_) => out.push(format!("{path}: number")),
        Value::Bool(_) => out.push(format!("{path}: bool")),
        Value::Null => out.push(format!("{path}: null")),
    }
}

fn shape_of(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    shape(v, "", &mut out);
    out.sort();
    out
}

/// Asserts every path of the real answer appears in the fake one with the same type (the
/// `id` is the client's and is left out).
fn assert_same_shape(fake: &Value, real: &Value, what: &str) {
    let f = shape_of(&fake["result"]);
    let r = shape_of(&real["result"]);
    let missing: Vec<_> = r.iter().filter(|p| !f.contains(p)).collect();
    let extra: Vec<_> = f.iter().filter(|p| !r.contains(p)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:#?}\nextra {extra:#?}"
    );
}

async fn call(url: &str, method: &str, params: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn rpc_answers_match_recorded_real_shapes() {
    let chain = FakeChain::start(Scenario {
        plan: Some(PlanScript {
            name: "v1.5.0".into(),
            height: 8375044,
            info: "{}".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = chain.rpc_url();
    assert_same_shape(
        &call(&url, "status", json!({})).await,
        &real("cosmos-node-exporter/status.json"),
        "status",
    );
    assert_same_shape(
        &call(&url, "abci_info", json!({})).await,
        &real("tendermint-rs/kvstore_fixtures__v0_38__incoming__abci_info.json"),
        "abci_info",
    );
    assert_same_shape(
        &call(&url, "block", json!({"height": "10"})).await,
        &real("tendermint-rs/kvstore_fixtures__v0_38__incoming__block_at_height_10.json"),
        "block",
    );
    assert_same_shape(
        &call(&url, "net_info", json!({})).await,
        &real("vatz-cosmoshub/net_info_agoric-3.json"),
        "net_info",
    );
    let q = call(
        &url,
        "abci_query",
        json!({"path": "/cosmos.upgrade.v1beta1.Query/CurrentPlan", "data": "", "height": "0", "prove": false}),
    )
    .await;
    assert_same_shape(
        &q,
        &real("cosmos-node-exporter/upgrade-plan.json"),
        "abci_query",
    );
}

#[tokio::test]
async fn peers_and_frozen_blocks_are_scripted() {
    let chain = FakeChain::start(Scenario::default()).await.unwrap();
    let url = chain.rpc_url();
    let n = call(&url, "net_info", json!({})).await;
    assert_eq!(n["result"]["n_peers"], "3");
    assert_eq!(n["result"]["peers"].as_array().unwrap().len(), 3);
    chain
        .control_json(json!({"op": "set_peers", "count": 0}))
        .unwrap();
    let n = call(&url, "net_info", json!({})).await;
    assert_eq!(n["result"]["n_peers"], "0");
    assert_eq!(n["result"]["peers"], json!([]));
    // Frozen: nothing moves the height until it thaws.
    chain
        .control_json(json!({"op": "freeze", "value": true}))
        .unwrap();
    chain
        .control_json(json!({"op": "advance", "blocks": 5}))
        .unwrap();
    assert_eq!(chain.height(), 100);
    chain
        .control_json(json!({"op": "freeze", "value": false}))
        .unwrap();
    chain
        .control_json(json!({"op": "advance", "blocks": 5}))
        .unwrap();
    assert_eq!(chain.height(), 105);
}

#[tokio::test]
async fn the_current_plan_answer_has_the_real_bytes_layout() {
    // Scripted with the plan the real Nibiru answer carries, the fake's abci_query value must be
    // byte-for-byte the recorded one.
    let real_answer = real("cosmos-node-exporter/upgrade-plan.json");
    let real_value = real_answer["result"]["response"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&real_value)
        .unwrap();
    use prost::Message as _;
    let plan = cosmos_sdk_proto::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse::decode(
        bytes.as_slice(),
    )
    .unwrap()
    .plan
    .unwrap();
    let chain = FakeChain::start(Scenario {
        plan: Some(PlanScript {
            name: plan.name.clone(),
            height: plan.height,
            info: plan.info.clone(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let q = call(
        &chain.rpc_url(),
        "abci_query",
        json!({"path": "/cosmos.upgrade.v1beta1.Query/CurrentPlan", "data": ""}),
    )
    .await;
    assert_eq!(
        q["result"]["response"]["value"].as_str().unwrap(),
        real_value
    );
}

#[tokio::test]
async fn websocket_new_block_event_matches_real_shape() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let chain = FakeChain::start(Scenario::default()).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/websocket", chain.rpc_addr))
            .await
            .unwrap();
    ws.send(Message::text(
        json!({"jsonrpc":"2.0","id":7,"method":"subscribe","params":{"query":"tm.event = 'NewBlock'"}}).to_string(),
    ))
    .await
    .unwrap();
    let next = |m: Message| serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap();
    let ack = next(ws.next().await.unwrap().unwrap());
    assert_eq!(
        ack["result"],
        real("tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_newblock.json")
    );
    chain
        .control_json(json!({"op": "advance", "blocks": 1}))
        .unwrap();
    let ev = next(ws.next().await.unwrap().unwrap());
    assert_eq!(ev["id"], json!(7));
    assert_eq!(
        ev["result"]["data"]["value"]["block"]["header"]["height"],
        json!("101")
    );
    assert_same_shape(
        &ev,
        &real("tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_newblock_0.json"),
        "NewBlock event",
    );
    // A malformed query is refused as CometBFT refuses it.
    ws.send(Message::text(
        json!({"jsonrpc":"2.0","id":8,"method":"subscribe","params":{"query":"tm.event NewBlock"}})
            .to_string(),
    ))
    .await
    .unwrap();
    let err = next(ws.next().await.unwrap().unwrap());
    let real_err =
        real("tendermint-rs/kvstore_fixtures__v0_38__incoming__subscribe_malformed.json");
    assert_eq!(err["error"]["code"], real_err["error"]["code"]);
    assert_eq!(err["error"]["message"], real_err["error"]["message"]);
}
