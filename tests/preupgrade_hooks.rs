//! Pre-upgrade hooks as cosmovisor runs them (issue 10.3), with their output in switchyard's log
//! (issue 10.4): `COSMOVISOR_CUSTOM_PREUPGRADE` runs in `$DAEMON_HOME` (switchyard itself runs
//! in `/`, as under systemd) with `<name> <height>` and switchyard's environment, a missing
//! owner execute bit is added as cosmovisor does, and every line either hook prints reaches
//! switchyard's stderr tagged with the upgrade — none of it the node's stdout stream.
//!
//! Proves invariant 8 of docs/invariants.md.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

#[test]
fn hooks_run_in_the_home_and_their_output_goes_to_switchyards_log() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 5");
    let script = home.path().join("cosmovisor/pre.sh");
    let ran = home.path().join("script.ran");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\npwd > {ran}\necho \"$1 $2 $DAEMON_NAME $HOOK_MARK\" >> {ran}\necho \"script says: in $(pwd)\"\necho \"script warns\" >&2\n",
            ran = ran.display()
        ),
    )
    .unwrap();
    // Readable but not executable, as a script copied without its mode would be.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = home.path().join("stdout.log");
    let err = home.path().join("stderr.log");
    let sy = home
        .switchyard()
        .current_dir("/")
        .args(["run", "start", "--home", home.path().to_str().unwrap()])
        .env("COSMOVISOR_CUSTOM_PREUPGRADE", "pre.sh")
        .env("HOOK_MARK", "from-switchyards-env")
        .env("UNSAFE_SKIP_BACKUP", "true")
        .env("DAEMON_RESTART_AFTER_UPGRADE", "false")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut sy = Running {
        child: sy,
        log: err.clone(),
    };
    let status = sy.wait(T);
    let log = std::fs::read_to_string(&err).unwrap();
    let node_out = std::fs::read_to_string(&out).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(home.current_target(), "upgrades/v2", "{log}");

    // cosmovisor's way of running the script.
    let ran = std::fs::read_to_string(&ran).unwrap();
    let mut lines = ran.lines();
    assert_eq!(
        std::path::Path::new(lines.next().unwrap())
            .canonicalize()
            .unwrap(),
        home.path().canonicalize().unwrap(),
        "working directory"
    );
    assert_eq!(
        lines.next(),
        Some("v2 5 fakend from-switchyards-env"),
        "arguments and environment"
    );
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o744,
        "owner execute bit added"
    );

    // Their output: in switchyard's log, line by line, with the upgrade's name.
    let tagged = |needle: &str| {
        log.lines()
            .any(|l| l.contains(needle) && l.contains("upgrade=v2"))
    };
    for needle in [
        "custom pre-upgrade stdout: script says: in ",
        "custom pre-upgrade stderr: script warns",
        "pre-upgrade stdout: pre-upgrade of v2: migrating",
        "pre-upgrade stderr: pre-upgrade of v2: a warning",
    ] {
        assert!(tagged(needle), "{needle:?} not in the log:\n{log}");
    }
    // ... and not in the node's output stream.
    for needle in ["script says", "script warns", "migrating", "a warning"] {
        assert!(
            !node_out.contains(needle),
            "{needle:?} in the node's stdout:\n{node_out}"
        );
    }
}

/// Starts switchyard on a home with a manual upgrade v2 at height 5 whose binary lacks
/// `pre-upgrade`, blocks held until the probe's verdict on that binary is on disk; returns the
/// running switchyard.
fn probed_before_the_halt(home: &Home) -> Running {
    probed_before_the_halt_with_mode(home, 0o755)
}

/// [`probed_before_the_halt`] with the upgrade binary's mode set to `mode` before the start.
fn probed_before_the_halt_with_mode(home: &Home, mode: u32) -> Running {
    probed_before_the_halt_with(home, mode, None)
}

/// [`probed_before_the_halt_with_mode`], the binary's unknown-command answers starting with the
/// words of `clock` in turn (the fake node's `help_clock`), when given.
fn probed_before_the_halt_with(home: &Home, mode: u32, clock: Option<&str>) -> Running {
    if let Some(words) = clock {
        home.fake("help_clock", words);
    }
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let out = home.cmd(&[
        "add-upgrade",
        "v2",
        v2.to_str().unwrap(),
        "--upgrade-height",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let bin = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(mode)).unwrap();
    home.fake("no_preupgrade", "");
    home.fake("pause", "");
    let sy = home.run(&[
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("DAEMON_RESTART_AFTER_UPGRADE", "false"),
    ]);
    let record = home.path().join("cosmovisor/switchyard/preupgrade/v2.json");
    wait_for(
        "the pre-upgrade probe's verdict",
        T,
        || std::fs::read(&record).is_ok_and(|b| !b.is_empty()),
        || sy.log(),
    );
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(rec["command"], "absent", "{rec}");
    sy
}

/// `switchyard plan`'s word on v2's `pre-upgrade`: the `binary.pre_upgrade` of `--json`, and the
/// text report.
fn plan_says(home: &Home) -> (serde_json::Value, String) {
    // The node's RPC may still be coming up: the probe runs as soon as the upgrade is known.
    let last = std::cell::RefCell::new(None);
    wait_for(
        "`plan --json` to read the chain",
        T,
        || {
            let out = home.cmd(&["plan", "--json"]);
            let ok = matches!(out.status.code(), Some(0 | 2));
            *last.borrow_mut() = Some(out);
            ok
        },
        || last.borrow().as_ref().map(text).unwrap_or_default(),
    );
    let json = last.into_inner().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = doc["upgrades"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["name"] == "v2"))
        .unwrap_or_else(|| panic!("no row for v2: {doc}"));
    let words = home.cmd(&["plan"]);
    assert!(
        matches!(words.status.code(), Some(0 | 2)),
        "{}",
        text(&words)
    );
    (
        row["binary"]["pre_upgrade"].clone(),
        String::from_utf8_lossy(&words.stdout).into_owned(),
    )
}

#[test]
fn a_binary_without_pre_upgrade_is_asked_before_the_halt_and_not_started_at_it() {
    let home = Home::new();
    let mut sy = probed_before_the_halt(&home);
    let (verdict, words) = plan_says(&home);
    assert_eq!(verdict["command"], "absent", "{verdict}");
    assert_eq!(verdict["run_at_halt"], false, "{verdict}");
    assert!(
        words.contains("this binary has no pre-upgrade command (asked ")
            && words.contains("nothing to run at the halt"),
        "{words}"
    );
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    let status = sy.wait(T);
    let log = sy.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(home.current_target(), "upgrades/v2", "{log}");
    let events = home.events();
    assert!(
        !events.contains("unknown command pre-upgrade"),
        "the binary was started for pre-upgrade at the halt:\n{events}"
    );
    assert!(
        log.contains("the new binary has no pre-upgrade command (asked before the halt"),
        "{log}"
    );
}

/// A binary written as cosmovisor's add-upgrade writes it (mode 0600) gets its execute bit
/// before it is asked, so the verdict is a real one, not "could not start it" (issue 24 #11).
#[test]
fn a_binary_without_execute_bits_is_made_executable_before_the_probe() {
    let home = Home::new();
    let mut sy = probed_before_the_halt_with_mode(&home, 0o600);
    let bin = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    let mode = std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o711);
    assert!(sy.log().contains("had no execute bit"), "{}", sy.log());
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    let status = sy.wait(T);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2", "{}", sy.log());
}

/// wasmd starts its unknown-command error with the time of day: when the probe and the control
/// fall on either side of a minute their answers differ, and the pair is asked again, so the
/// verdict is still "absent" (not "unknown", which would start the binary at the halt).
#[test]
fn answers_on_either_side_of_a_minute_are_asked_again() {
    let home = Home::new();
    let mut sy = probed_before_the_halt_with(&home, 0o755, Some("2:05AM 2:06AM"));
    assert!(
        !std::fs::read_to_string(home.path().join("fake/help_clock"))
            .unwrap()
            .contains("2:05AM"),
        "the first answer's minute was used"
    );
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    let status = sy.wait(T);
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert!(
        !home.events().contains("unknown command pre-upgrade"),
        "the binary was started for pre-upgrade at the halt:\n{}",
        home.events()
    );
}

#[test]
fn a_verdict_on_another_file_is_not_used() {
    let home = Home::new();
    let mut sy = probed_before_the_halt(&home);
    // The binary is replaced after the probe by one that has the command.
    let bin = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    let bytes = std::fs::read(&bin).unwrap();
    let tmp = bin.with_extension("new");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &bin).unwrap();
    let (verdict, words) = plan_says(&home);
    assert!(
        verdict.is_null(),
        "a verdict on the replaced file is reported: {verdict}"
    );
    assert!(!words.contains("pre-upgrade command"), "{words}");
    std::fs::remove_file(home.path().join("fake/no_preupgrade")).unwrap();
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    let status = sy.wait(T);
    let log = sy.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(home.current_target(), "upgrades/v2", "{log}");
    assert!(
        home.events().contains("v2 pre-upgrade exit=0"),
        "pre-upgrade did not run at the halt:\n{}\n{log}",
        home.events()
    );
}
