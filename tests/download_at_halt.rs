//! The last-resort path: no binary was staged before the halt, downloads are allowed, and the
//! node's upgrade-info.json carries the plan's `binaries` map. switchyard downloads, verifies and
//! swaps; a wrong checksum leaves `current` on the old binary with a clear error.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `dir` on 127.0.0.1; returns the base URL.
fn serve(dir: &std::path::Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_for(
        "the http server",
        T,
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        String::new,
    );
    (Server(child), url)
}

fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn scenario(checksum_ok: bool) -> (Home, Running, std::process::ExitStatus) {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    let (server, url) = serve(v2.parent().unwrap());
    let digest = if checksum_ok {
        sha256(&v2)
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
