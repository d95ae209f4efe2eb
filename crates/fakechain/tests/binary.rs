//! The `switchyard-fakechain` binary: reads a scenario file, prints its addresses as one JSON
//! line, and is scripted over `POST /control`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_addresses_and_obeys_control() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.json");
    std::fs::write(
        &scenario,
        json!({"chain_id":"bin-1","height":42,"plan":{"name":"v9","height":50,"info":""}})
            .to_string(),
    )
    .unwrap();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_switchyard-fakechain"))
            .arg("--scenario")
            .arg(&scenario)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addrs: Value = serde_json::from_str(&line).unwrap();
    let rpc = addrs["rpc"].as_str().unwrap();
    assert!(rpc.starts_with("http://127.0.0.1:"), "{line}");
    assert!(
        addrs["grpc"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{line}"
    );

    let http = reqwest::Client::new();
    let status: Value = http
        .post(rpc)
        .json(&json!({"jsonrpc":"2.0","id":1,"method":"status","params":{}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["result"]["node_info"]["network"], "bin-1");
    assert_eq!(status["result"]["sync_info"]["latest_block_height"], "42");

    let after: Value = http
        .post(addrs["control"].as_str().unwrap())
        .body(json!([{"op":"advance","blocks":100}]).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["height"], 50, "halted at the plan height: {after}");
    assert_eq!(after["last_committed"], 49);

    let bad = http
        .post(addrs["control"].as_str().unwrap())
        .body(r#"{"op":"fly"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // URI-style GET, as curl users call CometBFT.
    let got: Value = http
        .get(format!("{rpc}/abci_info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["result"]["response"]["last_block_height"], "49");
}
