//! Shared helpers for the integration tests: a temporary node home with fake node binaries
//! (tests/fixtures/fakenode/node.sh), and the real `switchyard` binary run against it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const DAEMON: &str = "fakend";

/// The documented schema of switchyard's JSON documents, compiled from the very file the binary
/// uses (unknown fields are refused).
#[path = "../../src/report/schema.rs"]
pub(crate) mod schema;

/// Checks that a `switchyard plan --json` output parses into the documented schema (a
/// [`schema::PlanReport`], or a [`schema::ErrorReport`] with exit code 1) and that writing it
/// back gives the same JSON: nothing undocumented, nothing renamed.
pub(crate) fn check_plan_document(code: i32, stdout: &str) {
    let original: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("plan --json printed no JSON ({e}): {stdout:?}"));
    let again = if code == 1 {
        let e: schema::ErrorReport = serde_json::from_value(original.clone())
            .unwrap_or_else(|e| panic!("not the documented error document: {e}\n{original:#}"));
        serde_json::to_value(e).unwrap()
    } else {
        let r: schema::PlanReport = serde_json::from_value(original.clone())
            .unwrap_or_else(|e| panic!("not the documented plan document: {e}\n{original:#}"));
        serde_json::to_value(r).unwrap()
    };
    assert_eq!(
        again, original,
        "the schema does not round-trip plan --json"
    );
}

pub(crate) struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub(crate) fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a fake node binary called `DAEMON` for `id`, with upgrade handlers `handles`.
    pub(crate) fn binary(&self, id: &str, handles: &str, sdk: &str) -> PathBuf {
        self.binary_with_halt(id, handles, sdk, "")
    }

    /// [`Home::binary`] with `--halt-height` semantics `halt` (`commits-exit`, `commits-wait`,
    /// `stops-before`) whatever `sdk` says: a binary whose version cannot be told.
    pub(crate) fn binary_with_halt(
        &self,
        id: &str,
        handles: &str,
        sdk: &str,
        halt: &str,
    ) -> PathBuf {
        let body = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakenode/node.sh");
        let dir = self.path().join("bins").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(DAEMON);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nFAKE_ID={id}\nFAKE_HANDLES=\"{handles}\"\nFAKE_SDK={sdk}\nFAKE_HALT={halt}\nFAKE_DIR={}\n. {}\n",
                body.parent().unwrap().display(),
                body.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Gives the fake node a config/config.toml so it serves CometBFT RPC on a free loopback
    /// port (and switchyard finds it there, as it would on a real node host).
    pub(crate) fn serve_rpc(&self) -> u16 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        self.write_rpc_laddr(&format!("127.0.0.1:{port}"));
        port
    }

    /// Points the home's config/config.toml at a fake chain's RPC (`rpc_url`, `http://...`):
    /// switchyard reads the chain there, and the fake node serves no RPC of its own.
    pub(crate) fn rpc_from_fake_chain(&self, rpc_url: &str) {
        self.write_rpc_laddr(rpc_url.trim_start_matches("http://"));
        self.fake("no_rpc", "");
    }

    fn write_rpc_laddr(&self, host_port: &str) {
        std::fs::create_dir_all(self.path().join("config")).unwrap();
        std::fs::write(
            self.path().join("config/config.toml"),
            format!("[rpc]\nladdr = \"tcp://{host_port}\"\n"),
        )
        .unwrap();
    }

    /// Writes `cosmovisor/hang.sh`, a `COSMOVISOR_CUSTOM_PREUPGRADE` script that hangs until its
    /// child `sleep` is killed (`fake/hook.pid`, `fake/hook_child.pid`, the child's written last)
    /// and then exits 0; with `fake/hook_ok` it exits 0 at once.
    pub(crate) fn hanging_custom_hook(&self) {
        let script = self.path().join("cosmovisor/hang.sh");
        let state = self.path().join("fake");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ -f {s}/hook_ok ] && exit 0\necho $$ > {s}/hook.pid\nsleep 600 &\necho $! > {s}/hook.tmp; mv {s}/hook.tmp {s}/hook_child.pid\nwait\n",
                s = state.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Writes a control file of the fake node (`$home/fake/<name>`).
    pub(crate) fn fake(&self, name: &str, content: &str) {
        let dir = self.path().join("fake");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
    }

    pub(crate) fn switchyard(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DAEMON_HOME", self.path())
            .env("DAEMON_NAME", DAEMON)
            .env("DAEMON_POLL_INTERVAL", "50ms")
            .env("DAEMON_SHUTDOWN_GRACE", "3s")
            .env("SWITCHYARD_WATCH_CHAIN", "true")
            .env("SWITCHYARD_RESTART_BACKOFF_INITIAL", "50ms")
            .env("SWITCHYARD_RESTART_BACKOFF_MAX", "200ms")
            .env("COSMOVISOR_COLOR_LOGS", "false")
            .stdin(Stdio::null());
        c
    }

    /// Runs a switchyard command to completion.
    pub(crate) fn cmd(&self, args: &[&str]) -> Output {
        self.switchyard().args(args).output().unwrap()
    }

    /// `switchyard add-upgrade <name> <bin> --height <height>` (a manual upgrade at a height),
    /// which must succeed.
    pub(crate) fn add_manual(&self, name: &str, bin: &Path, height: i64) {
        let out = self.cmd(&[
            "add-upgrade",
            name,
            bin.to_str().unwrap(),
            "--height",
            &height.to_string(),
        ]);
        assert!(out.status.success(), "add-upgrade failed: {}", text(&out));
    }

    /// `switchyard init` with a genesis binary and `add-upgrade` for each (name, binary).
    pub(crate) fn setup(&self, genesis: &Path, upgrades: &[(&str, &Path)]) {
        let out = self.cmd(&["init", genesis.to_str().unwrap()]);
        assert!(out.status.success(), "init failed: {}", text(&out));
        for (name, bin) in upgrades {
            let out = self.cmd(&["add-upgrade", name, bin.to_str().unwrap()]);
            assert!(out.status.success(), "add-upgrade failed: {}", text(&out));
        }
    }

    /// Starts `switchyard run start --home <home>` in the background, logs to files.
    pub(crate) fn run(&self, extra_env: &[(&str, &str)]) -> Running {
        self.run_with_args(&[], extra_env)
    }

    /// [`Home::run`] with more node arguments after `start --home <home>`.
    pub(crate) fn run_with_args(&self, node_args: &[&str], extra_env: &[(&str, &str)]) -> Running {
        let log = self.path().join("switchyard.log");
        let mut c = self.switchyard();
        c.args(["run", "start", "--home", self.path().to_str().unwrap()]);
        c.args(node_args);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        c.stdout(f.try_clone().unwrap()).stderr(f);
        Running {
            child: c.spawn().unwrap(),
            log,
        }
    }

    /// Heights executed, in order, as (height, binary id).
    pub(crate) fn executed(&self) -> Vec<(i64, String)> {
        std::fs::read_to_string(self.path().join("fake/executed.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (h, id) = l.split_once(' ').unwrap();
                (h.parse().unwrap(), id.to_string())
            })
            .collect()
    }

    pub(crate) fn events(&self) -> String {
        std::fs::read_to_string(self.path().join("fake/events.log")).unwrap_or_default()
    }

    pub(crate) fn committed(&self) -> i64 {
        std::fs::read_to_string(self.path().join("data/height"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Where `current` points, relative to `cosmovisor/` when it points inside it (switchyard
    /// writes absolute links; this keeps assertions short): "genesis", "upgrades/v2".
    pub(crate) fn current_target(&self) -> String {
        let root = self.path().join("cosmovisor");
        std::fs::read_link(root.join("current"))
            .map(|p| {
                p.strip_prefix(&root)
                    .map(Path::to_path_buf)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// The raw text of the `current` link.
    pub(crate) fn current_link_text(&self) -> PathBuf {
        std::fs::read_link(self.path().join("cosmovisor/current")).unwrap()
    }

    pub(crate) fn applied(&self) -> String {
        std::fs::read_to_string(self.path().join("cosmovisor/switchyard/applied.json"))
            .unwrap_or_default()
    }
}

/// Runs `switchyard plan <args>` with only `env` in its environment (async: the fake chain the
/// tests run in-process needs the runtime meanwhile); returns (exit code, stdout, stderr). With
/// `--json`, the output is checked against the documented schema.
pub(crate) async fn run_plan(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("plan")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if args.contains(&"--json") {
        check_plan_document(code, &stdout);
    }
    (
        code,
        stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A static file server on 127.0.0.1 (python3's http.server), killed when dropped; its access
/// log (one line per request) goes to `log` when given.
pub(crate) struct FileServer {
    child: Child,
    pub url: String,
}

impl FileServer {
    pub(crate) fn start(dir: &Path, log: Option<&Path>) -> FileServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None => Stdio::null(),
        };
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
            .stderr(stderr)
            .spawn()
            .unwrap();
        wait_for(
            "the file server",
            Duration::from_secs(20),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            String::new,
        );
        FileServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// sha256 of a file, in hex (with coreutils' sha256sum, independent of switchyard's own code).
pub(crate) fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

pub(crate) struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn signal(&self, sig: i32) {
        send(self.pid(), sig);
    }

    /// Waits for switchyard to exit; panics (after killing it) past `timeout`.
    pub(crate) fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "switchyard did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for the exit.
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        self.signal(15);
        self.wait(Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(15);
            std::thread::sleep(Duration::from_millis(300));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends signal number `sig` to `pid`.
pub(crate) fn send(pid: i32, sig: i32) {
    let sig = nix::sys::signal::Signal::try_from(sig).unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// Whether a process exists (and is not a zombie).
pub(crate) fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

/// Polls `cond` until it holds or `timeout` passes (then panics with `what` and `context()`).
pub(crate) fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            panic!("timed out waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every height from 1 to the last executed exactly once, and `check(height, id)` holds for each.
pub(crate) fn assert_each_height_once(exec: &[(i64, String)], check: impl Fn(i64, &str) -> bool) {
    for (i, (h, id)) in exec.iter().enumerate() {
        assert_eq!(
            *h,
            i as i64 + 1,
            "heights must run once each, in order: {exec:?}"
        );
        assert!(check(*h, id), "height {h} ran on {id}: {exec:?}");
    }
}
