//! Failing to log is never a reason to stop supervising (issue 14.11). switchyard's stderr is
//! closed (the reader gone, as when journald restarts) or stalled (a full pipe nobody reads) while
//! the node runs: the node keeps running, switchyard still swaps at the halt and never panics, and
//! a stalled stream that drains again gets the lines logged meanwhile (they were queued, within
//! a bound; the sink's unit tests cover lines lost past it).
//!
//! Proves invariant 5 of docs/invariants.md.

mod common;

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);

fn setup(home: &Home) {
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
}

/// Schedules v2 a few blocks ahead and waits until v2 has run past it.
fn swap_happens(home: &Home, sy: &mut std::process::Child, out: &std::path::Path) -> i64 {
    let at = home.committed() + 4;
    home.fake("plan", &format!("v2 {at}"));
    wait_for(
        "the swap and blocks on v2",
        T,
        || {
            assert!(
                matches!(sy.try_wait(), Ok(None)),
                "switchyard exited: {:?}\nstdout:\n{}\nevents:\n{}",
                sy.try_wait(),
                std::fs::read_to_string(out).unwrap_or_default(),
                home.events()
            );
            home.executed()
                .last()
                .is_some_and(|(h, id)| *h > at && id == "v2")
        },
        || home.events(),
    );
    at
}

#[test]
fn a_closed_stderr_does_not_stop_supervision() {
    let home = Home::new();
    setup(&home);
    let out = home.path().join("stdout.log");
    let mut sy = home
        .switchyard()
        .args(["run", "start", "--home", home.path().to_str().unwrap()])
        .env("UNSAFE_SKIP_BACKUP", "true")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read until the node runs, then close the reading end for good.
    let mut err = sy.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("started node") {
        let n = err.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stderr ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    drop(err);
    wait_for("blocks", T, || home.committed() >= 2, || home.events());

    let at = swap_happens(&home, &mut sy, &out);
    assert_eq!(home.current_target(), "upgrades/v2");
    assert_each_height_once(&home.executed(), |h, id| {
        if h < at {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    send(sy.id() as i32, 15);
    let status = sy.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "a clean stop, not a panic (101) nor SIGPIPE: {status:?}"
    );
    assert!(home.events().contains("v2 stopped at"), "{}", home.events());
}

#[test]
fn a_stalled_stderr_does_not_stall_supervision_and_logging_recovers() {
    let home = Home::new();
    setup(&home);
    // stderr is a FIFO: the test holds the read end and a second, non-blocking write end with
    // which it fills the pipe, so switchyard's own writes would block.
    let fifo = home.path().join("stderr.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let their_end = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut filler = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let out = home.path().join("stdout.log");
    let mut sy = home
        .switchyard()
        .args(["run", "start", "--home", home.path().to_str().unwrap()])
        .env("UNSAFE_SKIP_BACKUP", "true")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(their_end)
        .spawn()
        .unwrap();
    wait_for("blocks", T, || home.committed() >= 2, || home.events());
    // Fill the pipe to the brim.
    let chunk = [b'.'; 4096];
    loop {
        match std::io::Write::write(&mut filler, &chunk) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }

    // Every log line now finds a full pipe; supervision goes on regardless.
    swap_happens(&home, &mut sy, &out);
    assert_eq!(home.current_target(), "upgrades/v2");

    // Drain the pipe from now on: logging comes back with what was logged meanwhile.
    let got = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let (got, stop) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(n) if n > 0 => got.lock().unwrap().extend_from_slice(&buf[..n]),
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let text = || String::from_utf8_lossy(&got.lock().unwrap()).replace('.', "");
    send(sy.id() as i32, 15);
    wait_for(
        "the stop to be logged once the pipe drains",
        T,
        || text().contains("received"),
        text,
    );
    let status = sy.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", text());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drain.join().unwrap();
    let log = text();
    let applied = log.find("upgrade v2 applied").expect(&log);
    let stop = log.find("received").unwrap();
    assert!(applied < stop, "in order: {log}");
    drop(filler);
}
