//! The shape of switchyard's own log lines: no ANSI colours under journald (even on what looks
//! like a terminal), `COSMOVISOR_COLOR_LOGS` forcing them on or off elsewhere, and
//! `SWITCHYARD_LOG_FORMAT=json` for one JSON object per line.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use common::*;

const ESC: &str = "\x1b[";

/// `switchyard init` (which logs a couple of INFO lines) with colour settings left to `env`.
fn init_cmd(home: &Home, env: &[(&str, &str)]) -> Command {
    let genesis = home.binary("genesis", "", "v0.50.10");
    let mut c = home.switchyard();
    c.env_remove("COSMOVISOR_COLOR_LOGS")
        .args(["init", genesis.to_str().unwrap()])
        .stdout(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs `cmd` with its stderr on a pipe; returns what it wrote there.
fn stderr_of(mut cmd: Command) -> String {
    let out = cmd.stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` with its stderr on a pseudo-terminal; `journal` makes `JOURNAL_STREAM` name that
/// terminal, as systemd does for the stream it connects. Returns what it wrote there.
fn stderr_on_a_terminal(mut cmd: Command, journal: bool) -> String {
    let pty = nix::pty::openpty(None, None).unwrap();
    if journal {
        let st = nix::sys::stat::fstat(pty.slave.as_raw_fd()).unwrap();
        cmd.env("JOURNAL_STREAM", format!("{}:{}", st.st_dev, st.st_ino));
    }
    let mut child = cmd.stderr(Stdio::from(pty.slave)).spawn().unwrap();
    // Close our copy of the terminal's other side, so reading ends (EIO) once the child exits.
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(child.wait().unwrap().success());
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn colours_follow_the_terminal_and_never_reach_journald() {
    let home = Home::new();
    // A terminal: coloured.
    let tty = stderr_on_a_terminal(init_cmd(&home, &[]), false);
    assert!(tty.contains(ESC) && tty.contains("INFO"), "{tty:?}");
    // The same terminal announced as journald's stream: plain, even when asked for colours.
    let home = Home::new();
    let journal = stderr_on_a_terminal(init_cmd(&home, &[]), true);
    assert!(
        journal.contains("INFO") && !journal.contains(ESC),
        "{journal:?}"
    );
    let home = Home::new();
    let forced = stderr_on_a_terminal(init_cmd(&home, &[("COSMOVISOR_COLOR_LOGS", "true")]), true);
    assert!(
        forced.contains("INFO") && !forced.contains(ESC),
        "{forced:?}"
    );
    // A terminal with colours turned off: plain.
    let home = Home::new();
    let off = stderr_on_a_terminal(
        init_cmd(&home, &[("COSMOVISOR_COLOR_LOGS", "false")]),
        false,
    );
    assert!(off.contains("INFO") && !off.contains(ESC), "{off:?}");
}

#[test]
fn color_logs_set_explicitly_forces_colours_into_a_pipe() {
    let home = Home::new();
    let plain = stderr_of(init_cmd(&home, &[]));
    assert!(plain.contains("INFO") && !plain.contains(ESC), "{plain:?}");
    let home = Home::new();
    let forced = stderr_of(init_cmd(&home, &[("COSMOVISOR_COLOR_LOGS", "true")]));
    assert!(forced.contains(ESC), "{forced:?}");
}

#[test]
fn json_log_lines() {
    let home = Home::new();
    let out = stderr_on_a_terminal(
        init_cmd(
            &home,
            &[
                ("SWITCHYARD_LOG_FORMAT", "json"),
                ("COSMOVISOR_COLOR_LOGS", "true"),
            ],
        ),
        false,
    );
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "{out:?}");
    for line in &lines {
        assert!(!line.contains(ESC), "{line:?}");
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert_eq!(v["level"], "INFO", "{v}");
        assert!(v["message"].is_string(), "{v}");
        assert!(v["timestamp"].is_string(), "{v}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`current` points at genesis")),
        "{out}"
    );
    // A bad value is refused with the key named.
    let home = Home::new();
    let bad = init_cmd(&home, &[("SWITCHYARD_LOG_FORMAT", "xml")])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(
        e.contains("SWITCHYARD_LOG_FORMAT") && e.contains("xml"),
        "{e}"
    );
}
