//! `switchyard run` against fake nodes: the swap at an on-chain plan's halt, crashes, signals,
//! pre-upgrade exit codes, and the start-up rules. Each test asserts what an operator would see:
//! which binary executed which height, exit codes, and where `current` points.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

fn plan_setup(home: &Home, height: i64) {
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", &format!("v2 {height}"));
}

/// Runs until the new binary has executed a few blocks past the plan height, then stops.
fn run_through_upgrade(home: &Home, height: i64, env: &[(&str, &str)]) -> Running {
    let mut sy = home.run(env);
    wait_for(
        "blocks past the upgrade on the new binary",
        T,
        || home.committed() >= height + 3,
        || format!("{}\nevents:\n{}", sy.log(), home.events()),
    );
    let status = sy.stop();
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    sy
}

#[test]
fn swaps_when_the_node_halts_and_keeps_running() {
    let home = Home::new();
    plan_setup(&home, 8);
    let sy = run_through_upgrade(&home, 8, &[]);
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 8 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    assert_eq!(home.current_target(), "upgrades/v2");
    let events = home.events();
    assert!(
        events.contains("genesis halt for upgrade v2 at 8"),
        "{events}"
    );
    assert!(events.contains("v2 applying upgrade v2 at 8"), "{events}");
    assert!(!events.contains("error"), "{events}");
    assert!(home.applied().contains("\"v2\""));
    assert!(sy.log().contains("upgrade v2 applied"), "{}", sy.log());
    // cosmovisor writes the plan into the upgrade folder; so do we.
    let info =
        std::fs::read_to_string(home.path().join("cosmovisor/upgrades/v2/upgrade-info.json"))
            .unwrap();
    assert!(info.contains("\"height\":8"), "{info}");
    // A backup was taken (UNSAFE_SKIP_BACKUP unset).
    let backups: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("data-backup-"))
        .collect();
    assert_eq!(backups.len(), 1);
}

/// A plan name cosmovisor escapes (`V2,Ü` lives in `upgrades/v2%2C%C3%BC`, lower-cased and
/// path-escaped): its binary is found there, and in an unescaped folder made by hand; a folder
/// `add-upgrade` makes is cosmovisor's (issue 24 #10).
#[test]
fn plan_names_are_found_in_the_folder_cosmovisor_escapes_them_into() {
    const PLAN: &str = "V2,Ü";
    for folder in ["v2%2C%C3%BC", "v2,ü"] {
        let home = Home::new();
        let genesis = home.binary("genesis", "", "v0.50.10");
        let v2 = home.binary("v2", PLAN, "v0.50.10");
        home.setup(&genesis, &[]);
        let bin_dir = home
            .path()
            .join("cosmovisor/upgrades")
            .join(folder)
            .join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::copy(&v2, bin_dir.join(DAEMON)).unwrap();
        home.fake("plan", &format!("{PLAN} 6"));
        run_through_upgrade(&home, 6, &[("UNSAFE_SKIP_BACKUP", "true")]);
        assert_each_height_once(&home.executed(), |h, id| {
            id == if h < 6 { "genesis" } else { "v2" }
        });
        assert_eq!(home.current_target(), format!("upgrades/{folder}"));
    }
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", PLAN, "v0.50.10");
    home.setup(&genesis, &[(PLAN, &v2)]);
    assert!(home
        .path()
        .join("cosmovisor/upgrades/v2%2C%C3%BC/bin")
        .join(DAEMON)
        .is_file());
}

/// A binary placed as cosmovisor v1.5's add-upgrade places it (mode 0600) gets its execute bit
/// and the upgrade goes through, saying so (issue 24 #11).
#[test]
fn a_binary_without_execute_bits_is_made_executable_and_swapped_to() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    plan_setup(&home, 6);
    let bin = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sy = run_through_upgrade(&home, 6, &[("UNSAFE_SKIP_BACKUP", "true")]);
    assert_each_height_once(&home.executed(), |h, id| {
        id == if h < 6 { "genesis" } else { "v2" }
    });
    assert_eq!(home.current_target(), "upgrades/v2");
    let mode = std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o711);
    assert!(
        sy.log().contains("had no execute bit") && sy.log().contains("added it"),
        "{}",
        sy.log()
    );
}

#[test]
fn swaps_when_the_node_halts_and_exits() {
    let home = Home::new();
    plan_setup(&home, 6);
    home.fake("halt_exit", "");
    run_through_upgrade(&home, 6, &[("UNSAFE_SKIP_BACKUP", "true")]);
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 6 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    assert_eq!(home.current_target(), "upgrades/v2");
}

#[test]
fn a_node_that_ignores_sigterm_is_killed_after_the_grace() {
    let home = Home::new();
    plan_setup(&home, 6);
    home.fake("ignore_term", "");
    let sy = home.run(&[
        ("DAEMON_SHUTDOWN_GRACE", "300ms"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ]);
    wait_for(
        "the new binary to run",
        T,
        || home.committed() >= 7,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert!(
        home.events().contains("genesis ignored TERM"),
        "{}",
        home.events()
    );
    assert!(sy.log().contains("SIGKILL"), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    // The new binary ignores SIGTERM too (same control file); stopping still ends everything.
    let mut sy = sy;
    let status = sy.stop();
    assert_eq!(status.code(), Some(128 + 9), "{}", sy.log());
}

/// DAEMON_RESTART_DELAY is waited right after the old binary stops, before pre-upgrade and the
/// switch, also when the node is not restarted afterwards (cosmovisor's order).
#[test]
fn the_restart_delay_comes_after_the_stop_and_before_the_switch() {
    let home = Home::new();
    plan_setup(&home, 5);
    let mut sy = home.run(&[
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
        ("DAEMON_RESTART_DELAY", "2s"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ]);
    let status = sy.wait(T);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    let log = sy.log();
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the log:\n{log}"))
    };
    assert!(
        at("old node stopped") < at("waiting DAEMON_RESTART_DELAY"),
        "{log}"
    );
    assert!(
        at("waiting DAEMON_RESTART_DELAY") < at("`current` now points at"),
        "{log}"
    );
    // The pre-upgrade ran after the stop.
    let events = home.events();
    let stopped = events.find("genesis stopped at").unwrap();
    let pre = events.find("v2 pre-upgrade").unwrap();
    assert!(stopped < pre, "{events}");
    assert_eq!(home.current_target(), "upgrades/v2");
}

#[test]
fn no_restart_after_upgrade_when_disabled() {
    let home = Home::new();
    plan_setup(&home, 5);
    let mut sy = home.run(&[
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ]);
    let status = sy.wait(T);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    assert!(!home.events().contains("v2 start"), "{}", home.events());
}

#[test]
fn restart_picks_up_a_halt_the_node_already_hit() {
    // The node halted at 5 under a previous supervisor (cosmovisor would relaunch the old binary
    // here and stall): switchyard switches before starting anything.
    let home = Home::new();
    plan_setup(&home, 5);
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "4").unwrap();
    std::fs::write(
        home.path().join("data/upgrade-info.json"),
        r#"{"name":"v2","time":"0001-01-01T00:00:00Z","height":5}"#,
    )
    .unwrap();
    let _sy = run_through_upgrade(&home, 5, &[("UNSAFE_SKIP_BACKUP", "true")]);
    assert!(
        !home.events().contains("genesis start"),
        "old binary must not start: {}",
        home.events()
    );
    let exec = home.executed();
    assert_eq!(
        exec.first(),
        Some(&(5, "v2".to_string())),
        "block 5 must run on v2: {exec:?}"
    );
    assert!(exec.iter().all(|(_, id)| id == "v2"), "{exec:?}");
}

#[test]
fn a_crash_is_restarted_and_a_crash_loop_gives_up() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("crash_once_at", "3");
    let mut sy = home.run(&[]);
    wait_for(
        "recovery after the crash",
        T,
        || home.committed() >= 6,
        || sy.log(),
    );
    assert!(
        sy.log().contains("node crashed; restarting"),
        "{}",
        sy.log()
    );
    // The run lock is held across the crash restart.
    assert_second_run_refused(&home, sy.pid());
    assert_eq!(sy.stop().code(), Some(0));
    assert_each_height_once(&home.executed(), |_, id| id == "genesis");

    let home = Home::new();
    home.setup(&genesis, &[]);
    home.fake("crash_at", "2");
    let mut sy = home.run(&[("SWITCHYARD_CRASH_LOOP_MAX", "3")]);
    let status = sy.wait(T);
    assert_eq!(status.code(), Some(1));
    assert!(sy.log().contains("crashed 3 times"), "{}", sy.log());
    assert_eq!(home.events().matches("crash at 2").count(), 3);
}

#[test]
fn crash_restart_can_be_turned_off_and_clean_exit_ends_with_zero() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("crash_at", "2");
    let mut sy = home.run(&[("SWITCHYARD_RESTART_ON_CRASH", "false")]);
    assert_eq!(
        sy.wait(T).code(),
        Some(3),
        "the node's own exit code: {}",
        sy.log()
    );

    let home = Home::new();
    home.setup(&genesis, &[]);
    home.fake("exit_at", "3");
    let mut sy = home.run(&[]);
    assert_eq!(sy.wait(T).code(), Some(0), "{}", sy.log());
    assert_eq!(home.events().matches("genesis start").count(), 1);
}

#[test]
fn sighup_is_forwarded_and_sigterm_stops_the_node() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let mut sy = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    sy.signal(1);
    wait_for(
        "the node to see SIGHUP",
        T,
        || home.events().contains("got HUP"),
        || home.events(),
    );
    assert!(
        matches!(sy.child.try_wait(), Ok(None)),
        "SIGHUP must not end supervision"
    );
    assert_eq!(sy.stop().code(), Some(0));
    assert!(
        home.events().contains("genesis stopped at"),
        "{}",
        home.events()
    );
}

#[test]
fn a_killed_supervisor_does_not_leave_the_node_running() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let mut sy = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    sy.signal(9);
    sy.wait(T);
    // The node got its parent-death SIGTERM and stopped by itself.
    wait_for(
        "the node to stop",
        T,
        || home.events().contains("genesis stopped at"),
        || home.events(),
    );
    let h = home.committed();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        home.committed(),
        h,
        "blocks must stop once the supervisor is gone"
    );
}

fn preupgrade_case(
    codes: &str,
    extra: &[(&str, &str)],
) -> (Home, Running, std::process::ExitStatus) {
    let home = Home::new();
    plan_setup(&home, 5);
    home.fake("preupgrade_exit", codes);
    let mut env = vec![
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
    ];
    env.extend_from_slice(extra);
    let mut sy = home.run(&env);
    let status = sy.wait(T);
    (home, sy, status)
}

#[test]
fn preupgrade_exit_codes_follow_cosmovisor() {
    // 0: done; 1: not implemented, continue.
    for code in ["0", "1"] {
        let (home, sy, status) = preupgrade_case(code, &[]);
        assert_eq!(status.code(), Some(0), "exit {code}: {}", sy.log());
        assert_eq!(home.current_target(), "upgrades/v2");
    }
    // 30: abort; current stays on genesis and the reason is given.
    let (home, sy, status) = preupgrade_case("30", &[]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(home.current_target(), "genesis");
    assert!(sy.log().contains("exited with 30"), "{}", sy.log());
    assert!(
        sy.log().contains("`current` still points at genesis"),
        "{}",
        sy.log()
    );
    // 31: retried up to DAEMON_PREUPGRADE_MAX_RETRIES.
    let (home, sy, status) = preupgrade_case("31 31 0", &[("DAEMON_PREUPGRADE_MAX_RETRIES", "2")]);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    let (home, sy, status) = preupgrade_case("31 31 0", &[("DAEMON_PREUPGRADE_MAX_RETRIES", "1")]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(home.current_target(), "genesis");
    assert!(sy.log().contains("kept asking to retry"), "{}", sy.log());
}

#[test]
fn custom_preupgrade_runs_with_name_and_height_and_can_abort() {
    let home = Home::new();
    plan_setup(&home, 5);
    let script = home.path().join("cosmovisor/custom.sh");
    let out = home.path().join("custom.out");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $2\" > {}\nexit ${{CUSTOM_EXIT:-0}}\n",
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = [
        ("COSMOVISOR_CUSTOM_PREUPGRADE", "custom.sh"),
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
        ("CUSTOM_EXIT", "7"),
    ];
    let mut sy = home.run(&env);
    assert_eq!(sy.wait(T).code(), Some(1));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "v2 5\n");
    assert_eq!(home.current_target(), "genesis");
    assert!(
        sy.log().contains("custom pre-upgrade script"),
        "{}",
        sy.log()
    );
}

#[test]
fn a_missing_upgrade_binary_names_the_folder() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("plan", "v2 4");
    let mut sy = home.run(&[]);
    assert_eq!(sy.wait(T).code(), Some(1));
    let log = sy.log();
    assert!(log.contains("cosmovisor/upgrades/v2/bin/fakend"), "{log}");
    assert!(log.contains("DAEMON_ALLOW_DOWNLOAD_BINARIES"), "{log}");
    assert_eq!(home.current_target(), "genesis");
}

#[test]
fn upgrade_names_from_the_chain_are_validated() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    for bad in ["../evil", "a/b", "", ".."] {
        let out = home.cmd(&["add-upgrade", bad, genesis.to_str().unwrap()]);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("upgrade name"),
            "{}",
            text(&out)
        );
    }
    // A hostile name in the node's upgrade-info.json never becomes a path.
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(
        home.path().join("data/upgrade-info.json"),
        r#"{"name":"../../etc","height":3}"#,
    )
    .unwrap();
    let out = home.cmd(&["show-upgrade-info"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'/'"),
        "{}",
        text(&out)
    );
    // Names are lowercased like cosmovisor's, unless COSMOVISOR_DISABLE_RECASE.
    let out = home.cmd(&["add-upgrade", "V3", genesis.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(home
        .path()
        .join("cosmovisor/upgrades/v3/bin/fakend")
        .is_file());
    let out = home
        .switchyard()
        .env("COSMOVISOR_DISABLE_RECASE", "true")
        .args(["add-upgrade", "V4", genesis.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(home
        .path()
        .join("cosmovisor/upgrades/V4/bin/fakend")
        .is_file());
}

#[test]
fn add_upgrade_refuses_to_overwrite_without_force() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    let out = home.cmd(&["add-upgrade", "v2", genesis.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        text(&out)
    );
    let out = home.cmd(&["add-upgrade", "v2", genesis.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let placed =
        std::fs::read_to_string(home.path().join("cosmovisor/upgrades/v2/bin/fakend")).unwrap();
    assert!(placed.contains("FAKE_ID=genesis"));
}

#[test]
fn config_shows_sources_and_rejects_bad_values() {
    let home = Home::new();
    let out = home
        .switchyard()
        .env("DAEMON_RESTART_DELAY", "1m")
        .args(["config"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        s.lines().any(|l| l.starts_with("DAEMON_RESTART_DELAY")
            && l.contains("1m")
            && l.contains("[environment]")),
        "{s}"
    );
    assert!(
        s.lines()
            .any(|l| l.starts_with("UNSAFE_SKIP_BACKUP") && l.contains("[default]")),
        "{s}"
    );
    let out = home
        .switchyard()
        .env("DAEMON_SHUTDOWN_GRACE", "forever")
        .args(["config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("DAEMON_SHUTDOWN_GRACE") && e.contains("forever"),
        "{e}"
    );
}

#[test]
fn version_prints_ours_then_the_nodes() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let out = home.cmd(&["version"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<_> = s.lines().collect();
    assert!(lines[0].starts_with("switchyard version: "), "{s}");
    assert_eq!(lines[1], "genesis");
    let out = home.cmd(&["version", "--json", "--long"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["app_version"]["cosmos_sdk_version"], "v0.50.10");
    assert!(v["switchyard_version"].is_string());
}

#[test]
fn an_orphaned_node_is_stopped_before_a_second_one_starts() {
    // A node that ignores SIGTERM survives its supervisor's SIGKILL (the parent-death signal is
    // a SIGTERM) for the shutdown grace. The next switchyard, started within it, must not start a
    // second node beside it.
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("ignore_term", "");
    // A long grace, so that the first switchyard's guard (which SIGKILLs a node outliving its
    // switchyard by the grace) is not the one to end the orphan here.
    let mut first = home.run(&[("DAEMON_SHUTDOWN_GRACE", "10m")]);
    wait_for("blocks", T, || home.committed() >= 2, || first.log());
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.path().join("cosmovisor/switchyard/node.pid")).unwrap(),
    )
    .unwrap();
    let orphan = rec["pid"].as_i64().unwrap() as i32;
    first.signal(9);
    first.wait(T);
    wait_for(
        "the orphan to ignore its SIGTERM",
        T,
        || home.events().contains("ignored TERM"),
        || home.events(),
    );
    assert!(alive(orphan), "the orphan should still run");

    let mut second = home.run(&[("DAEMON_SHUTDOWN_GRACE", "300ms")]);
    wait_for(
        "the second node",
        T,
        || home.events().matches("genesis start").count() == 2,
        || second.log(),
    );
    assert!(
        !alive(orphan),
        "the orphan must be gone before the new node starts"
    );
    assert!(
        second.log().contains("still running; stopping it first"),
        "{}",
        second.log()
    );
    // The second node's record is written right after it is spawned, which may be a moment
    // after it logged its start.
    let pid_file = home.path().join("cosmovisor/switchyard/node.pid");
    let second_node = || {
        std::fs::read(&pid_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["pid"].as_i64())
            .map(|p| p as i32)
            .filter(|p| *p != orphan)
    };
    wait_for(
        "the second node's pid record",
        T,
        || second_node().is_some(),
        || second.log(),
    );
    let node = second_node().unwrap();
    second.signal(9);
    second.wait(T);
    // Clean up the second node (it ignores SIGTERM as well).
    send(node, 9);
}

#[test]
fn sigterm_while_waiting_to_restart_ends_cleanly_without_starting_the_node() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("crash_once_at", "2");
    let mut sy = home.run(&[("SWITCHYARD_RESTART_BACKOFF_INITIAL", "30s")]);
    wait_for(
        "the crash",
        T,
        || sy.log().contains("restarting in"),
        || sy.log(),
    );
    sy.signal(15);
    assert_eq!(sy.wait(T).code(), Some(0), "{}", sy.log());
    assert_eq!(
        home.events().matches("genesis start").count(),
        1,
        "{}",
        home.events()
    );
}

#[test]
fn a_second_switchyard_on_the_same_home_refuses_and_leaves_the_node_alone() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let mut first = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 2, || first.log());
    assert_second_run_refused(&home, first.pid());
    let h = home.committed();
    wait_for(
        "blocks to go on",
        T,
        || home.committed() > h + 2,
        || home.events(),
    );
    assert_eq!(
        home.events().matches("genesis start").count(),
        1,
        "{}",
        home.events()
    );
    assert_eq!(first.stop().code(), Some(0));
}

/// A second `switchyard run` on `home` while `first_pid` supervises it: refused at once (exit 1),
/// naming the first one's pid, and the node left alone.
fn assert_second_run_refused(home: &Home, first_pid: i32) {
    let out = home.cmd(&["run", "start", "--home", home.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already supervising") && err.contains(&format!("pid {first_pid}")),
        "the refusal names the holder's pid {first_pid}: {}",
        text(&out)
    );
}

/// Invariant 5: the node's stdin, stdout and stderr are switchyard's own open files, inherited
/// (no pipe of ours in between to copy, delay or lose its output), before and after a swap.
#[test]
fn the_nodes_stdio_is_switchyards_own_before_and_after_a_swap() {
    let home = Home::new();
    plan_setup(&home, 5);
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    let pid_file = home.path().join("cosmovisor/switchyard/node.pid");
    let fds = |pid: i32| -> Vec<std::path::PathBuf> {
        (0..3)
            .map(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap())
            .collect()
    };
    let ours = fds(sy.pid());
    assert!(
        ours[1].ends_with("switchyard.log"),
        "the test gives switchyard its log file as stdout: {ours:?}"
    );
    for (what, until) in [("genesis", 2), ("v2", 7)] {
        wait_for(
            &format!("{what} making blocks"),
            T,
            || home.committed() >= until,
            || format!("{}\n{}", sy.log(), home.events()),
        );
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&pid_file).unwrap()).unwrap();
        let node = rec["pid"].as_i64().unwrap() as i32;
        assert_eq!(fds(node), ours, "{what}'s stdio");
    }
    assert_eq!(home.current_target(), "upgrades/v2");
    assert_eq!(sy.stop().code(), Some(0));
}
