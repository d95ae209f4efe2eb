//! switchyard is SIGKILLed at every step of a swap (test-only fault points), then started again:
//! the second start must finish the pending upgrade, `current` must always point at a complete
//! binary, and every block must still run exactly once, on the right binary.
//!
//! Proves invariant 2 of docs/invariants.md.

mod common;

use std::time::Duration;

use common::*;

use switchyard_store::SWAP_FAULT_POINTS as POINTS;

#[test]
fn killed_at_each_step_of_a_swap_recovers_on_the_next_start() {
    for point in POINTS {
        let home = Home::new();
        let genesis = home.binary("genesis", "", "v0.50.10");
        let v2 = home.binary("v2", "v2", "v0.50.10");
        home.setup(&genesis, &[("v2", &v2)]);
        home.fake("plan", "v2 5");

        let mut first = home.run(&[("SWITCHYARD_TEST_FAULT", point)]);
        let status = first.wait(Duration::from_secs(30));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: expected a SIGKILL at the fault point\n{}",
            first.log()
        );

        // Right after the kill, `current` names a complete, executable binary.
        let target = home.current_target();
        assert!(
            target == "genesis" || target == "upgrades/v2",
            "{point}: current -> {target:?}"
        );
        let bin = home
            .path()
            .join("cosmovisor")
            .join(&target)
            .join("bin")
            .join(DAEMON);
        assert!(bin.is_file(), "{point}: {} missing", bin.display());
        // The old node was told to stop when its supervisor died.
        wait_for(
            "the orphaned node to stop",
            Duration::from_secs(10),
            || home.events().contains("genesis stopped at"),
            || home.events(),
        );

        let mut second = home.run(&[]);
        wait_for(
            "the new binary past the upgrade",
            Duration::from_secs(30),
            || home.committed() >= 8,
            || format!("{point}:\n{}\n{}", second.log(), home.events()),
        );
        assert_eq!(second.stop().code(), Some(0));
        assert_eq!(home.current_target(), "upgrades/v2", "{point}");
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 5 {
                id == "genesis"
            } else {
                id == "v2"
            }
        });
        assert_eq!(
            home.applied().matches("\"name\": \"v2\"").count(),
            1,
            "{point}: {}",
            home.applied()
        );
        assert!(
            !home.path().join("cosmovisor/switchyard/swap.json").exists(),
            "{point}: journal left behind"
        );
        assert_eq!(
            home.events().matches("genesis start").count(),
            1,
            "{point}: old binary restarted\n{}",
            home.events()
        );
        assert!(
            second.log().contains("finishing it"),
            "{point}: {}",
            second.log()
        );
    }
}

/// switchyard is frozen before the halt and SIGKILLed while the old node sits halted at H (the
/// node gets SIGTERM from its parent-death signal); started again, it swaps, and every block
/// still runs once, on the right binary.
#[test]
fn killed_while_the_node_sits_at_the_halt_swaps_on_the_next_start() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 8");
    let mut first = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "blocks",
        Duration::from_secs(30),
        || home.committed() >= 3,
        || first.log(),
    );
    // Frozen, it cannot act on the halt; the node runs on to it by itself.
    send(first.pid(), nix::sys::signal::Signal::SIGSTOP as i32);
    wait_for(
        "the node to halt at 8",
        Duration::from_secs(30),
        || home.path().join("data/upgrade-info.json").is_file() && home.committed() == 7,
        || home.events(),
    );
    first.signal(9);
    first.wait(Duration::from_secs(10));
    wait_for(
        "the orphaned node to stop",
        Duration::from_secs(10),
        || home.events().contains("genesis stopped at 7"),
        || home.events(),
    );
    assert_eq!(home.current_target(), "genesis");
    let mut second = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "the new binary past the upgrade",
        Duration::from_secs(30),
        || home.committed() >= 10,
        || format!("{}\n{}", second.log(), home.events()),
    );
    assert_eq!(second.stop().code(), Some(0));
    assert_eq!(home.current_target(), "upgrades/v2");
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 8 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    assert!(
        second.log().contains("already halted for this upgrade"),
        "{}",
        second.log()
    );
}

/// switchyard is SIGKILLed while it downloads the binary at the halt (nothing was staged); its
/// next start goes through the same "make the binary ready" step a fresh swap takes: it
/// downloads again, verifies, and swaps.
#[test]
fn killed_during_a_download_at_the_halt_finishes_on_the_next_start() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    let state = home.path().join("slow");
    std::fs::create_dir_all(&state).unwrap();
    let port_file = state.join("port");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slowserver/serve.py");
    let mut server = std::process::Command::new("python3")
        .arg(&script)
        .arg(v2.parent().unwrap())
        .arg(&port_file)
        .arg(&state)
        .spawn()
        .unwrap();
    wait_for(
        "the slow server",
        Duration::from_secs(20),
        || port_file.is_file(),
        String::new,
    );
    let port = std::fs::read_to_string(&port_file).unwrap();
    let digest = sha256_hex(&v2);
    home.fake("plan", "v2 5");
    home.fake(
        "plan_info",
        &format!(
            r#"{{"binaries":{{"linux/amd64":"http://127.0.0.1:{port}/{DAEMON}?checksum=sha256:{digest}","linux/arm64":"http://127.0.0.1:{port}/{DAEMON}?checksum=sha256:{digest}"}}}}"#
        ),
    );
    let env = [
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ];
    let mut first = home.run(&env);
    let requests = state.join("requests.log");
    wait_for(
        "the download at the halt to start",
        Duration::from_secs(30),
        || requests.is_file(),
        || first.log(),
    );
    first.signal(9);
    first.wait(Duration::from_secs(10));
    assert_eq!(home.current_target(), "genesis");
    std::fs::write(state.join("release"), "").unwrap();
    let mut second = home.run(&env);
    wait_for(
        "the new binary past the upgrade",
        Duration::from_secs(30),
        || home.committed() >= 7,
        || format!("{}\n{}", second.log(), home.events()),
    );
    assert_eq!(second.stop().code(), Some(0));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(home.current_target(), "upgrades/v2");
    let log = second.log();
    assert!(log.contains("finishing it"), "{log}");
    assert!(log.contains("downloaded and verified at the halt"), "{log}");
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 5 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
}
