//! A stop signal is always answered (issue 14.10): whatever long step switchyard is in — a
//! pre-upgrade hook that hangs, a version probe of a binary that hangs, a read of the halt file
//! that never returns, a background download, a backup — SIGTERM ends it promptly, with the node
//! stopped, the step's processes gone, nothing half-written, `current` untouched and the swap
//! journal left for the next start to finish.
//!
//! Proves invariant 4 of docs/invariants.md.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(30);
/// "Promptly": well below every limit of the steps involved (a 10 minute hook timeout, the 20 s
/// version probe limit), with room for a loaded machine.
const PROMPT: Duration = Duration::from_secs(10);

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn wait_gone(what: &str, pid: i32) {
    wait_for(
        &format!("{what} (pid {pid}) to be gone"),
        Duration::from_secs(10),
        || !alive(pid),
        String::new,
    );
}

/// SIGTERM once `pid_file` (written last by the hanging step) exists; returns (exit status,
/// time to exit).
fn stop_when_hanging(sy: &mut Running, pid_file: &Path) -> (std::process::ExitStatus, Duration) {
    wait_for(
        "the hook to hang",
        T,
        || read_pid(pid_file).is_some(),
        || sy.log(),
    );
    let asked = Instant::now();
    sy.signal(15);
    let status = sy.wait(T);
    (status, asked.elapsed())
}

/// SIGTERM once `marker` (written when the step is under way) exists; returns (exit status,
/// time to exit).
fn stop_when_hanging_on(sy: &mut Running, marker: &Path) -> (std::process::ExitStatus, Duration) {
    wait_for(
        "the step to be under way",
        T,
        || marker.exists(),
        || sy.log(),
    );
    let asked = Instant::now();
    sy.signal(15);
    let status = sy.wait(T);
    (status, asked.elapsed())
}

#[test]
fn sigterm_while_a_preupgrade_hook_hangs_ends_promptly_and_the_next_start_finishes() {
    for custom in [true, false] {
        let home = Home::new();
        let genesis = home.binary("genesis", "", "v0.50.10");
        let v2 = home.binary("v2", "v2", "v0.50.10");
        home.setup(&genesis, &[("v2", &v2)]);
        home.fake("plan", "v2 5");
        let (pid_file, child_file) = if custom {
            home.hanging_custom_hook();
            ("fake/hook.pid", "fake/hook_child.pid")
        } else {
            home.fake("preupgrade_hang", "");
            ("fake/preupgrade.pid", "fake/preupgrade_child.pid")
        };
        let mut env = vec![
            ("UNSAFE_SKIP_BACKUP", "true"),
            ("SWITCHYARD_PREUPGRADE_TIMEOUT", "10m"),
        ];
        if custom {
            env.push(("COSMOVISOR_CUSTOM_PREUPGRADE", "hang.sh"));
        }
        let mut sy = home.run(&env);
        let (status, took) = stop_when_hanging(&mut sy, &home.path().join(child_file));
        let log = sy.log();
        assert!(took < PROMPT, "custom={custom}: took {took:?}\n{log}");
        assert_eq!(status.code(), Some(0), "custom={custom}: {log}");
        assert!(log.contains("arrived during upgrade v2"), "{log}");
        // Nothing half-done: the hook and what it started are gone, the old node is stopped,
        // `current` did not move, and the journal says where the swap stands.
        wait_gone("the hook", read_pid(&home.path().join(pid_file)).unwrap());
        wait_gone(
            "the hook's child",
            read_pid(&home.path().join(child_file)).unwrap(),
        );
        assert!(
            home.events().contains("genesis stopped at"),
            "{}",
            home.events()
        );
        assert_eq!(home.current_target(), "genesis");
        let journal =
            std::fs::read_to_string(home.path().join("cosmovisor/switchyard/swap.json")).unwrap();
        assert!(journal.contains("\"v2\""), "{journal}");

        // The next start finishes the upgrade once the hook behaves.
        std::fs::remove_file(home.path().join("fake/preupgrade_hang")).ok();
        home.fake("hook_ok", "");
        let mut again = home.run(&env);
        wait_for(
            "v2 past the upgrade",
            T,
            || home.committed() >= 7,
            || format!("{}\n{}", again.log(), home.events()),
        );
        assert_eq!(again.stop().code(), Some(0));
        assert_eq!(home.current_target(), "upgrades/v2");
        assert!(again.log().contains("finishing it"), "{}", again.log());
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 5 {
                id == "genesis"
            } else {
                id == "v2"
            }
        });
    }
}

#[test]
fn sigterm_while_a_version_probe_hangs_ends_promptly_without_starting_the_node() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    // A manual upgrade is armed: the node's SDK version is probed before it starts.
    let out = home.cmd(&["add-upgrade", "v2", v2.to_str().unwrap(), "--height", "50"]);
    assert!(out.status.success(), "{}", text(&out));
    home.fake("version_hang", "");
    let mut sy = home.run(&[]);
    let (status, took) = stop_when_hanging(&mut sy, &home.path().join("fake/version_child.pid"));
    assert!(took < PROMPT, "took {took:?}\n{}", sy.log());
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    wait_gone(
        "the probe",
        read_pid(&home.path().join("fake/version.pid")).unwrap(),
    );
    wait_gone(
        "the probe's child",
        read_pid(&home.path().join("fake/version_child.pid")).unwrap(),
    );
    assert!(
        !home.events().contains("genesis start"),
        "no node is started just to be stopped: {}",
        home.events()
    );
}

/// Makes `data/upgrade-info.json` a FIFO.
fn make_fifo(home: &Home) {
    let path = home.path().join("data/upgrade-info.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

/// Waits until switchyard hangs on the FIFO — a reader has it open (then a writer end is held,
/// so that reader stays blocked in read() rather than seeing end-of-file) — or until it said why
/// it will not read it (a reader that refuses anything but a regular file never opens it).
fn hung_on_fifo(home: &Home, sy: &Running) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.path().join("data/upgrade-info.json");
    let mut file = None;
    wait_for(
        "switchyard to hang on the FIFO or refuse it",
        T,
        || {
            // Opening a FIFO for writing without blocking succeeds only once a reader exists.
            file = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(&path)
                .ok();
            file.is_some() || sy.log().contains(&path.display().to_string())
        },
        || sy.log(),
    );
    file
}

#[test]
fn sigterm_while_the_halt_file_is_a_fifo_ends_promptly() {
    // The FIFO appears while the node runs: the halt-file watcher blocks on it.
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let mut sy = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    make_fifo(&home);
    let writer = hung_on_fifo(&home, &sy);
    let asked = Instant::now();
    sy.signal(15);
    let status = sy.wait(T);
    assert!(
        asked.elapsed() < PROMPT,
        "{:?}\n{}",
        asked.elapsed(),
        sy.log()
    );
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    assert!(
        home.events().contains("genesis stopped at"),
        "{}",
        home.events()
    );
    drop(writer);

    // The FIFO is there before switchyard starts: the loop's own read blocks on it.
    let home = Home::new();
    home.setup(&genesis, &[]);
    make_fifo(&home);
    let mut sy = home.run(&[]);
    let writer = hung_on_fifo(&home, &sy);
    if writer.is_none() {
        // Refused, so the node was started: stop it only once it makes blocks (its SIGTERM trap
        // may not be set before, and a node killed by the signal is not a graceful stop).
        wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    }
    let asked = Instant::now();
    sy.signal(15);
    let status = sy.wait(T);
    assert!(
        asked.elapsed() < PROMPT,
        "{:?}\n{}",
        asked.elapsed(),
        sy.log()
    );
    assert_eq!(status.code(), Some(0), "{}", sy.log());
    drop(writer);
    // Whatever ran is stopped.
    if let Ok(rec) = std::fs::read(home.path().join("cosmovisor/switchyard/node.pid")) {
        let rec: serde_json::Value = serde_json::from_slice(&rec).unwrap();
        wait_gone("the node", rec["pid"].as_i64().unwrap() as i32);
    }
}

/// The backup folders (`prefix` `data-backup-`) or their partial copies (`.data-backup-`) in
/// the home.
fn backups(home: &Home, prefix: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect()
}

/// SIGTERM in the middle of the backup a swap takes: the copy stops at its next file and its
/// partial folder is removed before switchyard exits (nothing half-written is left behind), the
/// node stays stopped on the old binary, and the next start takes the backup and the upgrade.
#[test]
fn sigterm_during_a_backup_ends_promptly_and_leaves_no_partial_copy() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 5");
    // Enough small files (each copied, not linked) that the copy takes a while.
    let many = home.path().join("data/wasm/cache");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..40_000 {
        std::fs::write(many.join(format!("{i:06}.module")), [i as u8; 1024]).unwrap();
    }
    let mut sy = home.run(&[]);
    wait_for(
        "the backup's partial copy to appear",
        T,
        || !backups(&home, ".data-backup-").is_empty(),
        || format!("{}\n{}", sy.log(), home.events()),
    );
    let asked = Instant::now();
    sy.signal(15);
    let status = sy.wait(T);
    let took = asked.elapsed();
    let log = sy.log();
    assert!(took < PROMPT, "took {took:?}\n{log}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("arrived during upgrade v2"), "{log}");
    assert!(
        backups(&home, ".data-backup-").is_empty(),
        "a partial backup was left: {log}"
    );
    assert!(backups(&home, "data-backup-").is_empty(), "{log}");
    assert_eq!(home.current_target(), "genesis");

    let mut again = home.run(&[]);
    wait_for(
        "v2 past the upgrade",
        Duration::from_secs(120),
        || home.committed() >= 7,
        || format!("{}\n{}", again.log(), home.events()),
    );
    assert_eq!(again.stop().code(), Some(0));
    assert_eq!(home.current_target(), "upgrades/v2");
    let taken = backups(&home, "data-backup-");
    assert_eq!(taken.len(), 1, "{}", again.log());
    assert_eq!(
        std::fs::read_dir(taken[0].join("wasm/cache"))
            .unwrap()
            .count(),
        40_000
    );
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 5 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
}

/// An HTTP server on 127.0.0.1 for one file: the first request gets the headers and half the
/// bytes, then the connection hangs (a download in progress); every later request gets it all.
struct HangingServer {
    url: String,
    half_sent: std::path::PathBuf,
}

impl HangingServer {
    fn start(body: Vec<u8>, marker_dir: &Path) -> HangingServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/simd", listener.local_addr().unwrap());
        let half_sent = marker_dir.join("half_sent");
        let marker = half_sent.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut s) = stream else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                if n == 0 {
                    let _ = s.write_all(&body[..body.len() / 2]);
                    let _ = s.flush();
                    std::fs::write(&marker, "").unwrap();
                    held.push(s); // never finished
                } else {
                    let _ = s.write_all(&body);
                }
            }
        });
        HangingServer { url, half_sent }
    }
}

/// SIGTERM while pre-staging downloads the next binary in the background: switchyard ends
/// promptly, the pre-staging task says it was stopped, nothing is installed half-written, and
/// the next start stages the binary and its preflight passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_background_download_ends_promptly_and_installs_nothing() {
    use switchyard_fakechain::{FakeChain, PlanScript, Scenario};
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    // The binary, padded so half of it is a real part of a download.
    let mut body = std::fs::read(&v2).unwrap();
    body.extend(std::iter::repeat_n(b'\n', 4 << 20));
    let served = home.path().join("served-v2");
    std::fs::write(&served, &body).unwrap();
    let sum = sha256_hex(&served);
    let server = HangingServer::start(body, home.path());
    let info = serde_json::json!({"binaries": {switchyard_core::this_platform():
        format!("{}?checksum=sha256:{sum}", server.url)}})
    .to_string();
    let chain = FakeChain::start(Scenario {
        height: 990,
        plan: Some(PlanScript {
            name: "v2".into(),
            height: 1000,
            info: info.clone(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    home.rpc_from_fake_chain(&chain.rpc_url());
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "990").unwrap();
    home.fake("pause", "");
    let env = [
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ];
    let installed = home
        .path()
        .join(format!("cosmovisor/upgrades/v2/bin/{DAEMON}"));
    let record = home.path().join("cosmovisor/switchyard/staged/v2.json");

    let mut sy = home.run(&env);
    let (status, took) = stop_when_hanging_on(&mut sy, &server.half_sent);
    let log = sy.log();
    assert!(took < PROMPT, "took {took:?}\n{log}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("pre-staging stopped by the shutdown"),
        "the staging task ends by the shutdown, not by the runtime dropping it: {log}"
    );
    assert!(!installed.exists(), "installed half-written: {log}");
    // The dropped attempt took its work folder with it: nothing but locks is left there.
    let area = home.path().join("cosmovisor/switchyard/staging");
    let left: Vec<_> = std::fs::read_dir(&area)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.to_string_lossy().ends_with("lock")),
        "left in {}: {left:?}\n{log}",
        area.display()
    );
    assert!(
        !record.exists(),
        "a staging record for a download that did not finish: {log}"
    );
    assert_eq!(home.current_target(), "genesis");

    let mut again = home.run(&env);
    wait_for(
        "v2 to be staged and preflighted on the next start",
        T,
        || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("\"ok\"")),
        || again.log(),
    );
    assert_eq!(again.stop().code(), Some(0));
    assert_eq!(sha256_hex(&installed), sum, "{}", again.log());
}
