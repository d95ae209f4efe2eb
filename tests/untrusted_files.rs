//! Files others can write to, planted with things that are not regular files: the real binary
//! refuses them at once with an error naming the file, and never blocks on them or reads them
//! without end (a FIFO at `data/upgrade-info.json` used to block `run` before the node started
//! and hang `show-upgrade-info`; a link to `/dev/zero` grew the supervisor to gigabytes).
//!
//! Proves invariant 4 of docs/invariants.md.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn mkfifo(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

/// Runs a command that must finish on its own; kills it and fails after `limit`.
fn finishes(mut c: std::process::Command, limit: Duration) -> std::process::Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?} (blocked?): {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn show_upgrade_info_refuses_a_fifo_and_an_endless_device() {
    let home = Home::new();
    let info = home.path().join("data/upgrade-info.json");
    mkfifo(&info);
    let mut c = home.switchyard();
    c.arg("show-upgrade-info");
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FIFO") && err.contains("upgrade-info.json"),
        "{}",
        text(&out)
    );

    std::fs::remove_file(&info).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &info).unwrap();
    let mut c = home.switchyard();
    c.arg("show-upgrade-info");
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("symbolic link") && err.contains("upgrade-info.json"),
        "{}",
        text(&out)
    );
}

/// The node writes `data/upgrade-info.json` as a regular file; a symlink there (to
/// `/etc/shadow`, say, under a root switchyard) used to be followed and its target printed.
#[test]
fn show_upgrade_info_refuses_a_symlink_and_does_not_print_its_target() {
    let home = Home::new();
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "root:$6$not-for-your-eyes\n").unwrap();
    let info = home.path().join("data/upgrade-info.json");
    std::fs::create_dir_all(info.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&secret, &info).unwrap();
    let mut c = home.switchyard();
    c.arg("show-upgrade-info");
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("not-for-your-eyes"),
        "the link's target was printed: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a symbolic link, refusing to read it")
            && err.contains("upgrade-info.json"),
        "{}",
        text(&out)
    );
}

#[test]
fn run_starts_the_node_despite_a_fifo_at_the_halt_file() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.0");
    home.setup(&genesis, &[]);
    mkfifo(&home.path().join("data/upgrade-info.json"));
    let mut run = home.run(&[("SWITCHYARD_WATCH_CHAIN", "false")]);
    wait_for(
        "the node to commit blocks",
        Duration::from_secs(60),
        || home.committed() >= 2,
        || run.log(),
    );
    assert!(
        run.log().contains("FIFO"),
        "the FIFO is reported: {}",
        run.log()
    );
    run.stop();
}

#[test]
fn a_config_file_that_is_a_fifo_is_a_configuration_error() {
    let home = Home::new();
    let cfg = home.path().join("config.toml");
    mkfifo(&cfg);
    let mut c = home.switchyard();
    c.args(["--config", cfg.to_str().unwrap(), "config"]);
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FIFO") && err.contains("config.toml"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_upgrade_list_file_that_is_a_fifo_is_refused() {
    let home = Home::new();
    let list = home.path().join("upgrades.txt");
    mkfifo(&list);
    let mut c = home.switchyard();
    c.args([
        "add-batch-upgrade",
        "--upgrade-file",
        list.to_str().unwrap(),
    ]);
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FIFO") && err.contains("upgrades.txt"),
        "{}",
        text(&out)
    );
}

/// The node's config/config.toml (where the RPC address is found) as a FIFO used to block
/// `plan` (and `run`'s chain watcher) forever; now it is a note and `plan` ends.
#[test]
fn a_node_config_that_is_a_fifo_does_not_block_plan() {
    let home = Home::new();
    mkfifo(&home.path().join("config/config.toml"));
    let mut c = home.switchyard();
    c.arg("plan");
    let out = finishes(c, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
}
