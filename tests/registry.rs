//! Binaries from the chain registry (`SWITCHYARD_CHAIN_REGISTRY`), end to end: a registry
//! folder (`chain.json` + `versions.json`, in the registry's current shape) served on
//! 127.0.0.1 next to the binary it lists. `run` pre-stages from it when the plan's info is
//! empty; `plan` names the source; `prepare` and `add-upgrade --from-registry` refuse a
//! registry that disagrees with the plan, one of another chain, and malformed or huge files,
//! with clear errors and nothing staged.

#[path = "common/api.rs"]
mod api;
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

const T: Duration = Duration::from_secs(40);

/// A registry folder in `home` (`registry/`), holding `chain.json` for `chain_id`, a
/// `versions.json` with version `v2` at height 1000 listing `binary_url` for this platform,
/// and the v2 fake binary itself (as `DAEMON`). Returns the folder and the binary's sha256.
fn registry_folder(
    home: &Home,
    chain_id: &str,
    binary_url: impl Fn(&str) -> String,
) -> (PathBuf, String) {
    let dir = home.path().join("registry");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = home.binary("v2", "v2", "v0.50.10");
    std::fs::copy(&v2, dir.join(DAEMON)).unwrap();
    let sum = sha256_hex(&v2);
    let chain = json!({"$schema": "../chain.schema.json", "chain_name": "fake", "chain_id": chain_id,
        "daemon_name": DAEMON, "codebase": {"recommended_version": "v1.0.0"}});
    std::fs::write(dir.join("chain.json"), chain.to_string()).unwrap();
    let versions = json!({"$schema": "../versions.schema.json", "chain_name": "fake", "versions": [
        {"name": "v1", "recommended_version": "v1.0.0"},
        {"name": "v2", "height": 1000, "proposal": 7, "recommended_version": "v2.0.0",
         "binaries": {this_platform(): binary_url(&sum), "windows/amd64": "https://example.invalid/x.exe"}}]});
    std::fs::write(dir.join("versions.json"), versions.to_string()).unwrap();
    (dir, sum)
}

/// A fake chain at height 990 with plan v2 at 1000 whose info is `info`.
async fn chain_with_plan(info: &str) -> FakeChain {
    FakeChain::start(Scenario {
        height: 990,
        plan: Some(PlanScript {
            name: "v2".into(),
            height: 1000,
            info: info.into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn plan_json(home: &Home, rpc: &str, registry: &str) -> (i32, Value) {
    let h = home.path().to_str().unwrap();
    let env = [
        ("DAEMON_HOME", h),
        ("DAEMON_NAME", DAEMON),
        ("SWITCHYARD_CHAIN_REGISTRY", registry),
    ];
    let (code, stdout, stderr) = run_plan(&["--json", "--rpc", rpc], &env).await;
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (code, v)
}

fn staged(home: &Home) -> bool {
    home.path()
        .join(format!("cosmovisor/upgrades/v2/bin/{DAEMON}"))
        .exists()
}

fn prepare(home: &Home, rpc: &str, registry: &str) -> (std::process::Output, Value) {
    let out = home
        .switchyard()
        .args(["prepare", "--json", "--rpc", rpc])
        .env("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true")
        .env("SWITCHYARD_CHAIN_REGISTRY", registry)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, v)
}

/// The home's `config/genesis.json`, for chain `fakechain-1` (the fake chain's).
fn write_genesis(home: &Home) {
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/genesis.json"),
        r#"{"chain_id":"fakechain-1","app_state":{}}"#,
    )
    .unwrap();
}

fn init(home: &Home) {
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prestages_from_the_registry_when_the_plan_info_is_empty() {
    let home = Home::new();
    init(&home);
    let server_dir = home.path().join("registry");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = FileServer::start(&server_dir, None);
    let url = server.url.clone();
    registry_folder(&home, "fakechain-1", |sum| {
        format!("{url}/{DAEMON}?checksum=sha256:{sum}")
    });
    let chain = chain_with_plan("").await;
    home.rpc_from_fake_chain(&chain.rpc_url());
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "990").unwrap();
    home.fake("pause", "");

    let registry_url = format!("{}/chain.json", server.url);
    let port = api::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sy = home.run(&[
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("SWITCHYARD_CHAIN_REGISTRY", &registry_url),
        ("SWITCHYARD_LISTEN", &listen),
    ]);
    let record = home.path().join("cosmovisor/switchyard/staged/v2.json");
    wait_for(
        "v2 to be staged from the registry and preflighted",
        T,
        || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("\"ok\"")),
        || {
            format!(
                "{}\n{}",
                sy.log(),
                std::fs::read_to_string(&record).unwrap_or_default()
            )
        },
    );
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["origin"], "registry", "{rec}");
    assert_eq!(rec["preflight"]["output"], "v2", "{rec}");
    let log = sy.log();
    assert!(log.contains("from the chain registry"), "{log}");
    assert!(
        log.contains("chain registry") && log.contains("chain fakechain-1 (fake), 2 versions"),
        "{log}"
    );

    // `/status` names the staged binary's source...
    // (The API client blocks: run it where blocking is allowed.)
    let status = tokio::task::block_in_place(|| {
        api::Api::new(port).wait_status(
            "/status to show v2 staged from the registry",
            T,
            |s| {
                s.plan.as_ref().is_some_and(|p| {
                    p.upgrades.iter().any(|u| {
                        u.name == "v2"
                            && u.binary.staged == Some(true)
                            && u.binary.source == Some(common::schema::BinarySourceKind::Registry)
                    })
                })
            },
            || sy.log(),
        )
    });
    assert!(status.plan.unwrap().upgrades[0].ready);
    // ... and so does `plan`.
    let (code, v) = plan_json(&home, &chain.rpc_url(), &registry_url).await;
    let b = &v["upgrades"][0]["binary"];
    assert_eq!(b["source"], "registry", "{v:#}");
    assert_eq!(b["staged"], true, "{v:#}");
    assert_eq!(code, 0, "{v:#}");
    sy.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_the_source_and_says_when_there_is_none() {
    let home = Home::new();
    init(&home);
    let (dir, sum) = registry_folder(&home, "fakechain-1", |sum| {
        format!("https://mirror.example/{DAEMON}?checksum=sha256:{sum}")
    });
    let registry = dir.join("chain.json");
    let registry = registry.to_str().unwrap();

    // Empty info: the registry's binary, named as such.
    let chain = chain_with_plan("").await;
    let (_, v) = plan_json(&home, &chain.rpc_url(), registry).await;
    let u = &v["upgrades"][0];
    assert_eq!(u["binary"]["source"], "registry", "{v:#}");
    assert_eq!(u["binary"]["checksum"], format!("sha256:{sum}"), "{v:#}");
    assert_eq!(u["readiness"]["binary_source"], "yes", "{v:#}");

    // Without a registry: no binary source, in the JSON and in the table.
    let (_, v) = plan_json(&home, &chain.rpc_url(), "").await;
    let u = &v["upgrades"][0];
    assert_eq!(u["binary"]["source"], Value::Null, "{v:#}");
    assert_eq!(u["readiness"]["binary_source"], "no", "{v:#}");
    assert!(
        u["problems"].to_string().contains("no binary source"),
        "{v:#}"
    );
    let out = home
        .switchyard()
        .args(["plan", "--rpc", &chain.rpc_url()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("BINARY FROM"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("v2") && l.contains(" none ")),
        "{table}"
    );

    // A plan whose info gives its own binary: plan_info.
    let info = json!({"binaries": {this_platform(): format!("https://mirror.example/{DAEMON}?checksum=sha256:{sum}")}});
    chain
        .control_json(json!({"op":"schedule_plan","plan":{"name":"v2","height":1000,"info":info.to_string()}}))
        .unwrap();
    let (_, v) = plan_json(&home, &chain.rpc_url(), registry).await;
    assert_eq!(v["upgrades"][0]["binary"]["source"], "plan_info", "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_and_a_registry_that_disagree_stage_nothing_and_both_are_named() {
    let home = Home::new();
    init(&home);
    let (dir, sum) = registry_folder(&home, "fakechain-1", |sum| {
        format!("http://127.0.0.1:9/{DAEMON}?checksum=sha256:{sum}")
    });
    let registry = dir.join("chain.json");
    let registry = registry.to_str().unwrap();
    let other = "b".repeat(64);
    let info = json!({"binaries": {this_platform(): format!("http://127.0.0.1:9/other?checksum=sha256:{other}")}});
    let chain = chain_with_plan(&info.to_string()).await;

    let (code, v) = plan_json(&home, &chain.rpc_url(), registry).await;
    assert_eq!(code, 2, "{v:#}");
    let problems = v["upgrades"][0]["problems"].to_string();
    assert!(
        problems.contains(&sum) && problems.contains(&other),
        "{problems}"
    );
    assert_eq!(v["upgrades"][0]["binary"]["source"], Value::Null, "{v:#}");

    let (out, v) = prepare(&home, &chain.rpc_url(), registry);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = v["upgrades"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&sum) && msg.contains(&other) && msg.contains("a human decides"),
        "{msg}"
    );
    assert!(!staged(&home));
    // `run`: nothing is pre-staged, the log says why once, and `/status` names both.
    home.rpc_from_fake_chain(&chain.rpc_url());
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "990").unwrap();
    home.fake("pause", "");
    let port = api::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sy = home.run(&[
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("SWITCHYARD_CHAIN_REGISTRY", registry),
        ("SWITCHYARD_LISTEN", &listen),
    ]);
    tokio::task::block_in_place(|| {
        api::Api::new(port).wait_status(
            "/status to name both sources of v2",
            T,
            |s| {
                s.plan.as_ref().is_some_and(|p| {
                    p.upgrades.iter().any(|u| {
                        let p = u.problems.join(" ");
                        u.name == "v2" && p.contains(&sum) && p.contains(&other)
                    })
                })
            },
            || sy.log(),
        )
    });
    wait_for(
        "the log to say why v2 is not pre-staged",
        T,
        || sy.log().contains("not pre-staging v2"),
        || sy.log(),
    );
    sy.stop();
    let log = sy.log();
    assert_eq!(log.matches("not pre-staging v2").count(), 1, "{log}");
    assert!(!staged(&home), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_of_another_chain_is_refused() {
    let home = Home::new();
    init(&home);
    let (dir, _) = registry_folder(&home, "osmosis-1", |sum| {
        format!("http://127.0.0.1:9/{DAEMON}?checksum=sha256:{sum}")
    });
    let registry = dir.join("chain.json");
    let registry = registry.to_str().unwrap();
    let chain = chain_with_plan("").await;

    let (_, v) = plan_json(&home, &chain.rpc_url(), registry).await;
    let problems = v["upgrades"][0]["problems"].to_string();
    assert!(
        problems.contains("the chain registry is for chain \\\"osmosis-1\\\" (fake), but this node is on \\\"fakechain-1\\\""),
        "{problems}"
    );
    let (out, v) = prepare(&home, &chain.rpc_url(), registry);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        v["upgrades"][0]["message"]
            .as_str()
            .unwrap()
            .contains("osmosis-1"),
        "{v}"
    );
    assert!(!staged(&home));

    // By hand, against the home's genesis.json.
    write_genesis(&home);
    let out = home
        .switchyard()
        .args(["add-upgrade", "v2", "--from-registry"])
        .env("SWITCHYARD_CHAIN_REGISTRY", registry)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("this node is on \"fakechain-1\""),
        "{}",
        text(&out)
    );
    assert!(!staged(&home));
}

/// A registry for another chain is said even when the plan's own info lists the binary (so the
/// registry is not needed for this upgrade): the operator learns of the wrong setting before an
/// upgrade that would need it. The plan's binary is still the one reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_of_another_chain_is_named_even_when_the_plan_lists_the_binary() {
    let home = Home::new();
    init(&home);
    let (dir, sum) = registry_folder(&home, "osmosis-1", |sum| {
        format!("http://127.0.0.1:9/{DAEMON}?checksum=sha256:{sum}")
    });
    let registry = dir.join("chain.json");
    let plan_url = format!("http://127.0.0.1:9/from-plan?checksum=sha256:{sum}");
    let info = json!({"binaries": {this_platform(): plan_url}}).to_string();
    let chain = chain_with_plan(&info).await;

    let (_, v) = plan_json(&home, &chain.rpc_url(), registry.to_str().unwrap()).await;
    let u = &v["upgrades"][0];
    assert_eq!(u["binary"]["source"], "plan_info", "{v}");
    assert!(
        u["binary"]["url"]
            .as_str()
            .unwrap_or("")
            .contains("/from-plan"),
        "{v}"
    );
    let problems = u["problems"].to_string();
    assert!(
        problems.contains("the chain registry is for chain \\\"osmosis-1\\\""),
        "{problems}"
    );
}

/// Malformed and oversized registry files: clear errors naming the file, nothing staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_huge_registry_files_are_refused() {
    let home = Home::new();
    init(&home);
    let (dir, _) = registry_folder(&home, "fakechain-1", |sum| {
        format!("http://127.0.0.1:9/{DAEMON}?checksum=sha256:{sum}")
    });
    let chain = chain_with_plan("").await;
    let server = FileServer::start(&dir, None);
    let versions = std::fs::read(dir.join("versions.json")).unwrap();
    let mut huge = b"{\"chain_name\":\"fake\",\"versions\":[],\"pad\":\"".to_vec();
    huge.resize(5 << 20, b'x');
    huge.extend_from_slice(b"\"}");
    for (file, bytes, want) in [
        (
            "versions.json",
            b"{\"chain_name\":\"fake\",\"versions\":[{\"height\":5}]}".to_vec(),
            "missing field `name`",
        ),
        ("versions.json", huge, "larger than"),
        (
            "chain.json",
            b"<html>502</html>".to_vec(),
            "chain.json cannot be read",
        ),
    ] {
        std::fs::write(dir.join(file), &bytes).unwrap();
        for registry in [
            dir.join("chain.json").to_str().unwrap().to_string(),
            format!("{}/chain.json", server.url),
        ] {
            let (_, v) = plan_json(&home, &chain.rpc_url(), &registry).await;
            let problems = v["upgrades"][0]["problems"].to_string();
            assert!(
                problems.contains(want) && problems.contains("no binary source"),
                "{file} {registry}: {problems}"
            );
            let (out, v) = prepare(&home, &chain.rpc_url(), &registry);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let msg = v["upgrades"][0]["message"].as_str().unwrap();
            assert!(msg.contains(want), "{file} {registry}: {msg}");
            assert!(!staged(&home));
        }
        std::fs::write(dir.join("versions.json"), &versions).unwrap();
        if file == "chain.json" {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_upgrade_from_registry_stages_a_named_version_by_hand() {
    let home = Home::new();
    init(&home);
    let server_dir = home.path().join("registry");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = FileServer::start(&server_dir, None);
    let url = server.url.clone();
    registry_folder(&home, "fakechain-1", |sum| {
        format!("{url}/{DAEMON}?checksum=sha256:{sum}")
    });
    write_genesis(&home);
    let registry = format!("{}/chain.json", server.url);
    let add = |name: &str, extra: &[&str]| {
        home.switchyard()
            .args(["add-upgrade", name, "--from-registry"])
            .args(extra)
            .env("SWITCHYARD_CHAIN_REGISTRY", &registry)
            .output()
            .unwrap()
    };
    // A version the registry lists without binaries, and one it does not list.
    let out = add("v1", &[]);
    assert!(text(&out).contains("has no binary for"), "{}", text(&out));
    let out = add("v3", &[]);
    assert!(
        text(&out).contains("no version named \"v3\" (it lists v1, v2)"),
        "{}",
        text(&out)
    );
    // v2, registered at another height than the registry's: staged, the height reported.
    let out = add("v2", &["--upgrade-height", "1200"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("records height 1000"), "{}", text(&out));
    assert!(staged(&home));
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("cosmovisor/switchyard/staged/v2.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["origin"], "registry", "{rec}");
    assert_eq!(rec["preflight"]["status"], "ok", "{rec}");

    // `plan` lists the manual upgrade with its source; once its binary is gone, the registry
    // is still where it would come from.
    let chain = FakeChain::start(Scenario {
        height: 990,
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, v) = plan_json(&home, &chain.rpc_url(), &registry).await;
    let row = &v["upgrades"][0];
    assert_eq!(
        (&row["source"], &row["binary"]["source"]),
        (&json!("manual"), &json!("registry")),
        "{v:#}"
    );
    std::fs::remove_dir_all(home.path().join("cosmovisor/upgrades/v2")).unwrap();
    std::fs::remove_file(home.path().join("cosmovisor/switchyard/staged/v2.json")).unwrap();
    let (_, v) = plan_json(&home, &chain.rpc_url(), &registry).await;
    let row = &v["upgrades"][0];
    assert_eq!(row["binary"]["source"], "registry", "{v:#}");
    assert_eq!(row["binary"]["staged"], false, "{v:#}");
    assert_eq!(row["readiness"]["binary_source"], "yes", "{v:#}");
    assert!(
        row["problems"].to_string().contains("records height 1000"),
        "{v:#}"
    );
    let (_, v) = plan_json(&home, &chain.rpc_url(), "").await;
    assert_eq!(
        v["upgrades"][0]["readiness"]["binary_source"], "no",
        "{v:#}"
    );
}
