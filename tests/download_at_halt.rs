//! The last-resort path: no binary was staged before the halt, downloads are allowed, and the
//! node's upgrade-info.json carries the plan's `binaries` map. switchyard downloads, verifies and
//! swaps; a wrong checksum leaves `current` on the old binary with a clear error.
//!
//! Proves invariant 3 of docs/invariants.md.

mod common;

use std::time::Duration;

use common::*;
use switchyard_core::this_platform;

const T: Duration = Duration::from_secs(40);

fn scenario(checksum_ok: bool) -> (Home, Running, std::process::ExitStatus) {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    let server = FileServer::start(v2.parent().unwrap(), None);
    let url = server.url.clone();
    let digest = if checksum_ok {
        sha256_hex(&v2)
    } else {
        "0".repeat(64)
    };
    home.fake("plan", "v2 5");
    home.fake(
        "plan_info",
        &format!(r#"{{"binaries":{{"linux/amd64":"{url}/{DAEMON}?checksum=sha256:{digest}","linux/arm64":"{url}/{DAEMON}?checksum=sha256:{digest}"}}}}"#),
    );
    let mut sy = home.run(&[
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
    ]);
    let status = sy.wait(T);
    drop(server);
    (home, sy, status)
}

#[test]
fn downloads_verifies_and_swaps_at_the_halt_when_nothing_was_staged() {
    let (home, sy, status) = scenario(true);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert!(sy.log().contains("downloading it now"), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    let staged =
        std::fs::read_to_string(home.path().join("cosmovisor/upgrades/v2/bin/fakend")).unwrap();
    assert!(staged.contains("FAKE_ID=v2"));
}

#[test]
fn a_checksum_mismatch_at_the_halt_leaves_current_alone() {
    let (home, sy, status) = scenario(false);
    assert_eq!(status.code(), Some(1), "{}", sy.log());
    let log = sy.log();
    assert!(
        log.contains("expected") && log.contains(&"0".repeat(64)),
        "{log}"
    );
    assert_eq!(home.current_target(), "genesis");
    assert!(!home
        .path()
        .join("cosmovisor/upgrades/v2/bin/fakend")
        .exists());
}

/// The plan's info lists no binary and nothing was staged: the last resort takes the binary the
/// chain registry (`SWITCHYARD_CHAIN_REGISTRY`) lists for the plan's name, as pre-staging would,
/// after checking the registry is for this home's chain.
#[test]
fn at_the_halt_a_plan_without_binaries_is_downloaded_from_the_chain_registry() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/genesis.json"),
        r#"{"chain_id":"fakechain-1","app_state":{}}"#,
    )
    .unwrap();
    let server = FileServer::start(v2.parent().unwrap(), None);
    let binary = format!(
        "{}/{DAEMON}?checksum=sha256:{}",
        server.url,
        sha256_hex(&v2)
    );
    let registry = home.path().join("chain.json");
    let chain = serde_json::json!({"chain_name": "fake", "chain_id": "fakechain-1",
        "codebase": {"versions": [{"name": "v2", "binaries": {this_platform(): binary}}]}});
    std::fs::write(&registry, chain.to_string()).unwrap();
    home.fake("plan", "v2 5");
    let mut sy = home.run(&[
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
        ("SWITCHYARD_CHAIN_REGISTRY", registry.to_str().unwrap()),
    ]);
    let status = sy.wait(T);
    drop(server);
    let log = sy.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("downloading it now"), "{log}");
    assert!(log.contains("from the chain registry"), "{log}");
    assert_eq!(home.current_target(), "upgrades/v2");
    let staged =
        std::fs::read_to_string(home.path().join("cosmovisor/upgrades/v2/bin/fakend")).unwrap();
    assert!(staged.contains("FAKE_ID=v2"));
}
