//! `switchyard plan --json` against the fake node, on both transports: chain state only (no
//! DAEMON_HOME), with a home (staged or not, manual upgrades), and found with zero configuration
//! from the node's own config files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

mod common;

use common::run_plan;
use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

const SHA: &str = "673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca";

fn info_for_this_platform() -> String {
    json!({"binaries": {
        this_platform(): format!("https://example.invalid/simd-v2?checksum=sha256:{SHA}"),
        "docker": "ghcr.io/example/simd:v2",
    }})
    .to_string()
}

async fn plan_json(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, out, err) = run_plan(&a, env).await;
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{e}: stdout {out:?} stderr {err:?}"));
    (code, v)
}

async fn chain_with_plan() -> FakeChain {
    FakeChain::start(Scenario {
        height: 1000,
        block_interval_ms: 5000,
        plan: Some(PlanScript {
            name: "v2".into(),
            height: 1100,
            info: info_for_this_platform(),
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn chain_state_only(use_grpc: bool) {
    let chain = chain_with_plan().await;
    let rpc = chain.rpc_url();
    let grpc = chain.grpc_url();
    let mut args = vec!["--rpc", rpc.as_str()];
    if use_grpc {
        args.extend(["--grpc", grpc.as_str()]);
    }
    let (code, v) = plan_json(&args, &[]).await;
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["chain_id"], "fakechain-1");
    assert_eq!(v["height"], 1000);
    assert_eq!(v["block_time_seconds"], 5.0);
    assert_eq!(v["transport"], if use_grpc { "grpc" } else { "abci_query" });
    let u = &v["upgrades"][0];
    assert_eq!(u["name"], "v2");
    assert_eq!(u["height"], 1100);
    assert_eq!(u["source"], "plan");
    assert_eq!(u["proposal_id"], Value::Null);
    assert_eq!(u["eta_seconds"], 500);
    assert_eq!(
        u["binary"]["url"],
        "https://example.invalid/simd-v2?checksum=sha256:".to_string() + SHA
    );
    assert_eq!(u["binary"]["checksum"], format!("sha256:{SHA}"));
    assert_eq!(u["binary"]["staged"], Value::Null);
    assert_eq!(u["binary"]["source"], "plan_info");
    assert_eq!(u["ready"], true);
    assert_eq!(u["problems"], json!([]));
    // Chain state only: nothing about the disk is known.
    assert_eq!(
        u["readiness"],
        json!({"binary_staged": "unknown", "checksum_verified": "unknown", "preflight_ok": "unknown", "backup_space_ok": "unknown", "binary_source": "yes"})
    );

    // A proposal enters voting, for a plan with plain-text info: not ready, exit 2.
    chain
        .control_json(json!({"op":"submit_proposal","proposal":{"kind":"software_upgrade","plan":{"name":"v3","height":5000,"info":"see the forum"}}}))
        .unwrap();
    let (code, v) = plan_json(&args, &[]).await;
    assert_eq!(code, 2, "{v:#}");
    let u = &v["upgrades"][1];
    assert_eq!(
        (u["name"].as_str(), u["source"].as_str()),
        (Some("v3"), Some("proposal"))
    );
    assert_eq!(u["proposal_id"], 1);
    assert_eq!(u["proposal_status"], "PROPOSAL_STATUS_VOTING_PERIOD");
    assert_eq!(u["ready"], false);
    assert!(
        u["problems"][0].as_str().unwrap().contains("no binaries"),
        "{u:#}"
    );

    // It passes (replacing v2), so v3 is now the plan: still no binaries.
    chain.control_json(json!({"op":"pass","id":1})).unwrap();
    let (code, v) = plan_json(&args, &[]).await;
    assert_eq!(code, 2);
    assert_eq!(v["upgrades"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["upgrades"][0]["source"], "plan");
    assert_eq!(v["upgrades"][0]["proposal_id"], 1);
    assert_eq!(
        v["upgrades"][0]["proposal_status"],
        "PROPOSAL_STATUS_PASSED"
    );

    // Cancelled: nothing is coming, exit 0.
    chain.control_json(json!({"op":"cancel_plan"})).unwrap();
    let (code, v) = plan_json(&args, &[]).await;
    assert_eq!(code, 0);
    assert_eq!(v["upgrades"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_over_rpc_only() {
    chain_state_only(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_over_grpc() {
    chain_state_only(true).await;
}

fn write_node_config(home: &Path, rpc: &str, grpc: &str, grpc_enabled: bool) {
    let cfg = home.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    let laddr = rpc.replace("http://", "tcp://");
    std::fs::write(
        cfg.join("config.toml"),
        format!("moniker = \"node\"\n\n[rpc]\nladdr = \"{laddr}\"\n"),
    )
    .unwrap();
    let grpc_addr = grpc.trim_start_matches("http://");
    std::fs::write(
        cfg.join("app.toml"),
        format!("minimum-gas-prices = \"\"\n\n[grpc]\nenable = {grpc_enabled}\naddress = \"{grpc_addr}\"\n"),
    )
    .unwrap();
}

fn place_binary(home: &Path, name: &str) {
    let bin = home.join("cosmovisor/upgrades").join(name).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let p = bin.join("simd");
    std::fs::write(&p, "#!/bin/sh\necho v2\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_configuration_on_a_node_host_and_staging() {
    let chain = chain_with_plan().await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    write_node_config(home.path(), &chain.rpc_url(), &chain.grpc_url(), true);
    let env = [("DAEMON_HOME", h), ("DAEMON_NAME", "simd")];

    // Addresses come from config.toml and app.toml; the binary is not staged yet.
    let (code, v) = plan_json(&[], &env).await;
    assert_eq!(v["transport"], "grpc", "{v:#}");
    assert_eq!(code, 2, "{v:#}");
    let u = &v["upgrades"][0];
    assert_eq!(u["binary"]["staged"], false);
    assert_eq!(u["ready"], false);
    assert!(u["problems"].to_string().contains("not staged"), "{u:#}");

    // Without DAEMON_NAME the store cannot be looked at, and the report says so.
    let (_, v) = plan_json(&[], &[("DAEMON_HOME", h)]).await;
    assert_eq!(v["upgrades"][0]["binary"]["staged"], Value::Null);
    assert!(v["problems"].to_string().contains("DAEMON_NAME"), "{v:#}");

    // Staged: ready, exit 0.
    place_binary(home.path(), "v2");
    let (code, v) = plan_json(&[], &env).await;
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["upgrades"][0]["binary"]["staged"], true);
    assert_eq!(v["upgrades"][0]["ready"], true);

    // Written by cosmovisor's add-upgrade, with mode 0600: placed and ready all the same, since
    // the execute bit is added when it is staged or switched to (issue 24 #11).
    let bin = home.path().join("cosmovisor/upgrades/v2/bin/simd");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, v) = plan_json(&[], &env).await;
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["upgrades"][0]["binary"]["staged"], true, "{v:#}");
    assert_eq!(v["upgrades"][0]["ready"], true, "{v:#}");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();

    // gRPC disabled in app.toml: abci_query over RPC, same answer.
    write_node_config(home.path(), &chain.rpc_url(), &chain.grpc_url(), false);
    let (code, v) = plan_json(&[], &env).await;
    assert_eq!(
        (code, v["transport"].as_str()),
        (0, Some("abci_query")),
        "{v:#}"
    );

    // A broken gRPC address in the environment: flags win over it.
    let rpc = chain.rpc_url();
    let grpc = chain.grpc_url();
    let env2 = [
        ("DAEMON_HOME", h),
        ("DAEMON_NAME", "simd"),
        ("DAEMON_GRPC_ADDRESS", "127.0.0.1:1"),
    ];
    let (code, v) = plan_json(&["--rpc", &rpc, "--grpc", &grpc], &env2).await;
    assert_eq!((code, v["transport"].as_str()), (0, Some("grpc")), "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_upgrades_are_listed() {
    let chain = chain_with_plan().await;
    let home = tempfile::tempdir().unwrap();
    let layout = switchyard_store::Layout::new(home.path(), "simd");
    let m = |n: &str, height| switchyard_core::ManualUpgrade {
        name: switchyard_core::UpgradeName::parse(n, false).unwrap(),
        height,
    };
    switchyard_store::save_manual_upgrades(
        &layout,
        &[m("fix1", 1050), m("old", 900), m("clash", 1100)],
    )
    .unwrap();
    place_binary(home.path(), "v2");
    place_binary(home.path(), "fix1");
    // The binary running before fix1 reports its SDK version, so its halt height is known.
    let genesis = home.path().join("cosmovisor/genesis/bin");
    std::fs::create_dir_all(&genesis).unwrap();
    std::fs::write(
        genesis.join("simd"),
        "#!/bin/sh\necho '{\"cosmos_sdk_version\":\"v0.53.4\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(genesis.join("simd"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let h = home.path().to_str().unwrap();
    let rpc = chain.rpc_url();
    let (code, v) = plan_json(
        &["--rpc", &rpc],
        &[("DAEMON_HOME", h), ("DAEMON_NAME", "simd")],
    )
    .await;
    let rows: Vec<(String, String, bool)> = v["upgrades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["source"].as_str().unwrap().to_string(),
                u["ready"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("fix1".to_string(), "manual".to_string(), true),
            ("v2".to_string(), "plan".to_string(), true),
            ("clash".to_string(), "manual".to_string(), false),
        ],
        "{v:#}"
    );
    assert_eq!(v["upgrades"][0]["halt"]["halt_height"], 1050, "{v:#}");
    assert!(
        v["upgrades"][2]["problems"]
            .to_string()
            .contains("suspended"),
        "{v:#}"
    );
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_is_a_short_table() {
    let chain = chain_with_plan().await;
    let rpc = chain.rpc_url();
    let (code, out, _) = run_plan(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("fakechain-1") && lines[0].contains("1000"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("NAME") && lines[1].contains("READY"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("v2") && lines[2].contains("1100") && lines[2].contains("8m20s"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_record_and_preflight_are_reported() {
    use switchyard_store::{PreflightRecord, PreflightStatus, StagingRecord};
    let chain = chain_with_plan().await;
    let home = tempfile::tempdir().unwrap();
    place_binary(home.path(), "v2");
    let layout = switchyard_store::Layout::new(home.path(), "simd");
    let name = switchyard_core::UpgradeName::parse("v2", false).unwrap();
    let mut record = StagingRecord {
        name: "v2".into(),
        platform: Some(this_platform()),
        url: format!("https://example.invalid/simd-v2?checksum=sha256:{SHA}"),
        expected_checksum: Some(format!("sha256:{SHA}")),
        digest: format!("sha256:{SHA}"),
        size: 20,
        archive: None,
        binary_path: layout.upgrade_binary(&name),
        binary_sha256: SHA.into(),
        binary_size: 20,
        staged_at: chrono::Utc::now(),
        preflight: PreflightRecord {
            status: PreflightStatus::Failed,
            output: String::new(),
            message: Some("error while loading shared libraries: libwasmvm.x86_64.so".into()),
            ran_at: Some(chrono::Utc::now()),
        },
        binary_stamp: None,
        origin: None,
    };
    switchyard_store::save_staging_record(&layout, &name, &record).unwrap();
    let h = home.path().to_str().unwrap();
    let rpc = chain.rpc_url();
    let env = [("DAEMON_HOME", h), ("DAEMON_NAME", "simd")];
    let (code, v) = plan_json(&["--rpc", &rpc], &env).await;
    assert_eq!(code, 2, "{v:#}");
    let u = &v["upgrades"][0];
    assert_eq!(u["binary"]["staged"], true);
    assert_eq!(u["binary"]["preflight"]["status"], "failed");
    assert!(u["problems"].to_string().contains("libwasmvm"), "{u:#}");
    assert_eq!(
        u["readiness"],
        json!({"binary_staged": "yes", "checksum_verified": "yes", "preflight_ok": "no", "backup_space_ok": "unknown", "binary_source": "yes"})
    );

    record.preflight = PreflightRecord {
        status: PreflightStatus::Ok,
        output: "v2.0.0".into(),
        message: None,
        ran_at: Some(chrono::Utc::now()),
    };
    switchyard_store::save_staging_record(&layout, &name, &record).unwrap();
    let (code, v) = plan_json(&["--rpc", &rpc], &env).await;
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["upgrades"][0]["binary"]["preflight"]["output"], "v2.0.0");
    assert_eq!(v["upgrades"][0]["ready"], true);
    assert_eq!(v["upgrades"][0]["readiness"]["preflight_ok"], "yes");

    // Staged without a checksum (DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM=false): nothing proves it
    // is the chain's binary, and it was not test-run, so it is not ready.
    record.expected_checksum = None;
    record.preflight = PreflightRecord {
        status: PreflightStatus::Skipped,
        output: String::new(),
        message: None,
        ran_at: None,
    };
    switchyard_store::save_staging_record(&layout, &name, &record).unwrap();
    let (code, v) = plan_json(&["--rpc", &rpc], &env).await;
    assert_eq!(code, 2, "{v:#}");
    let u = &v["upgrades"][0];
    assert_eq!(u["ready"], false);
    assert_eq!(u["readiness"]["checksum_verified"], "no");
    assert_eq!(u["readiness"]["preflight_ok"], "no");
    assert!(
        u["problems"].to_string().contains("without a checksum"),
        "{u:#}"
    );

    // With UNSAFE_SKIP_BACKUP no backup is taken, so its space does not apply.
    let env2 = [
        ("DAEMON_HOME", h),
        ("DAEMON_NAME", "simd"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ];
    let (_, v) = plan_json(&["--rpc", &rpc], &env2).await;
    assert_eq!(
        v["upgrades"][0]["readiness"]["backup_space_ok"],
        "not_applicable"
    );
}
