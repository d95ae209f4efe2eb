//! Going back to cosmovisor, and coming from it, with the real cosmovisor v1.5.0 (the oldest one
//! still in wide use, and the strictest about `current`: it joins the link's raw text with
//! `bin/<name>`, so a relative link only works from inside `cosmovisor/`).
//!
//! - A home set up and upgraded by switchyard: `cosmovisor run version`, `cosmovisor version` and
//!   `cosmovisor run start` all run the upgraded binary, from any working directory.
//! - A home set up and upgraded by cosmovisor: switchyard runs the binary cosmovisor switched to.
//!
//! cosmovisor is built from the Go module proxy by `e2e/build-cosmovisor.sh` into the e2e cache
//! (`~/.cache/switchyard-e2e`, shared with `e2e/build-binaries.sh`) the first time; a failed build
//! fails these tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

// Generous: these wait for facts, and the machine they run on may be busy with other builds.
const T: Duration = Duration::from_secs(90);
const VERSION: &str = "v1.5.0";

/// The real cosmovisor, built once if the cache does not have it.
fn cosmovisor() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/build-cosmovisor.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(VERSION)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "building cosmovisor {VERSION} failed (the round trip needs the real one):\n{}",
            text(&out)
        );
        let path = PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .lines()
                .last()
                .unwrap_or(""),
        );
        assert!(
            path.is_file(),
            "{} printed no binary: {}",
            script.display(),
            text(&out)
        );
        path
    })
}

/// `cosmovisor <args>` on `home`, from the filesystem root as working directory (so nothing
/// resolves relative to `cosmovisor/` by accident).
fn cv(home: &Home) -> Command {
    let mut c = Command::new(cosmovisor());
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DAEMON_HOME", home.path())
        .env("DAEMON_NAME", DAEMON)
        .env("DAEMON_POLL_INTERVAL", "50ms")
        .env("DAEMON_RESTART_AFTER_UPGRADE", "true")
        .env("UNSAFE_SKIP_BACKUP", "true")
        .env("COSMOVISOR_COLOR_LOGS", "false")
        .current_dir("/")
        .stdin(Stdio::null());
    c
}

fn cv_output(home: &Home, args: &[&str]) -> (bool, String) {
    let o = cv(home).args(args).output().unwrap();
    (o.status.success(), text(&o))
}

/// `cosmovisor run start --home <home>` in the background, in a process group of its own (output
/// in `cosmovisor.log`), stopped as systemd stops a unit with `KillMode=control-group`: SIGTERM
/// to every process of the group. cosmovisor v1.5 needs that: after an upgrade its first launch's
/// signal handler still listens, finds its process gone and exits 1 ("os: process already
/// finished"), possibly before the second launch's handler has passed SIGTERM to the node.
struct CvRun {
    running: Running,
}

impl CvRun {
    fn start(home: &Home) -> CvRun {
        use std::os::unix::process::CommandExt;
        let log = home.path().join("cosmovisor.log");
        let f = std::fs::File::create(&log).unwrap();
        let mut c = cv(home);
        c.args(["run", "start", "--home", home.path().to_str().unwrap()])
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .process_group(0);
        CvRun {
            running: Running {
                child: c.spawn().unwrap(),
                log,
            },
        }
    }

    fn log(&self) -> String {
        self.running.log()
    }

    /// SIGTERM to the group; returns cosmovisor's exit code.
    fn stop(&mut self) -> Option<i32> {
        send(-self.running.pid(), 15);
        self.running.wait(T).code()
    }
}

impl Drop for CvRun {
    fn drop(&mut self) {
        // Whatever happened, leave nothing of the group running.
        send(-self.running.pid(), 9);
    }
}

#[test]
fn a_home_upgraded_by_switchyard_is_run_by_cosmovisor_v1_5() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 6");
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "switchyard to take the node through the upgrade",
        T,
        || home.committed() >= 8,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    let at_stop = home.committed();

    // cosmovisor resolves `current` to the binary switchyard switched to.
    let (ok, out) = cv_output(&home, &["run", "version"]);
    assert!(ok, "{out}");
    let v2_path = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    assert!(
        out.contains(&format!("path={}", v2_path.display())),
        "{out}"
    );
    assert!(out.lines().any(|l| l.trim() == "v2"), "{out}");
    let (ok, out) = cv_output(&home, &["version"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("cosmovisor version: {VERSION}")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.trim() == "v2"), "{out}");

    // And it runs the chain on from there with that binary.
    let mut c = CvRun::start(&home);
    wait_for(
        "cosmovisor to run the node on",
        T,
        || home.committed() >= at_stop + 3,
        || format!("{}\n{}", c.log(), home.events()),
    );
    assert_eq!(c.stop(), Some(0), "{}", c.log());
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 6 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    assert!(!home.events().contains("error"), "{}", home.events());

    // What made this work: the form of the link. The relative form older switchyard wrote is
    // one cosmovisor v1.5 cannot use.
    let link = home.path().join("cosmovisor/current");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        home.path().join("cosmovisor/upgrades/v2")
    );
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("upgrades/v2", &link).unwrap();
    let (ok, out) = cv_output(&home, &["run", "version"]);
    assert!(!ok && out.contains("current binary is invalid"), "{out}");
}

#[test]
fn a_home_upgraded_by_cosmovisor_v1_5_is_run_by_switchyard() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    // Set up the way cosmovisor's users do: `cosmovisor init`, and the upgrade binary copied in
    // by hand (v1.5's add-upgrade writes it without the executable bit).
    let (ok, out) = cv_output(&home, &["init", genesis.to_str().unwrap()]);
    assert!(ok, "{out}");
    let up = home.path().join("cosmovisor/upgrades/v2/bin");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::copy(&v2, up.join(DAEMON)).unwrap();
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    home.fake("plan", "v2 6");

    let mut c = CvRun::start(&home);
    wait_for(
        "cosmovisor to take the node through the upgrade",
        T,
        || home.committed() >= 8,
        || format!("{}\n{}", c.log(), home.events()),
    );
    // 0, or 1 from cosmovisor v1.5's stale signal handler (see CvRun); the node stops either way.
    let code = c.stop();
    assert!(matches!(code, Some(0) | Some(1)), "{code:?}: {}", c.log());
    wait_for(
        "the node under cosmovisor to stop",
        T,
        || home.events().contains("v2 stopped at"),
        || format!("{}\n{}", c.log(), home.events()),
    );
    // cosmovisor's own link: absolute.
    assert_eq!(
        home.current_link_text(),
        home.path().join("cosmovisor/upgrades/v2")
    );
    let at_stop = home.committed();

    // switchyard sees the binary cosmovisor switched to...
    let o = home.cmd(&["version"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().nth(1),
        Some("v2"),
        "{}",
        text(&o)
    );
    // ...and runs the chain on with it, without switching back or again.
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "switchyard to run the node on",
        T,
        || home.committed() >= at_stop + 3,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 6 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
    assert_eq!(home.current_target(), "upgrades/v2");
    assert!(!home.events().contains("error"), "{}", home.events());
}

/// A home prepared with cosmovisor v1.5's own `add-upgrade` for a plan name it escapes: the
/// binary lands in `upgrades/v2%2C%C3%BC` with mode 0600, and switchyard finds it there, makes it
/// executable and swaps to it at the plan's halt (issue 24 #10, #11).
#[test]
fn a_binary_placed_by_cosmovisor_v1_5_add_upgrade_is_swapped_to() {
    use std::os::unix::fs::PermissionsExt;
    const PLAN: &str = "V2,Ü";
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", PLAN, "v0.50.10");
    let (ok, out) = cv_output(&home, &["init", genesis.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = cv_output(&home, &["add-upgrade", PLAN, v2.to_str().unwrap()]);
    assert!(ok, "{out}");
    let placed = home
        .path()
        .join("cosmovisor/upgrades/v2%2C%C3%BC/bin")
        .join(DAEMON);
    let mode = std::fs::metadata(&placed).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "cosmovisor v1.5's add-upgrade changed: {out}");

    std::fs::create_dir_all(home.path().join("data")).unwrap();
    home.fake("plan", &format!("{PLAN} 6"));
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "switchyard to take the node through the upgrade",
        T,
        || home.committed() >= 9,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_each_height_once(&home.executed(), |h, id| {
        id == if h < 6 { "genesis" } else { "v2" }
    });
    assert_eq!(home.current_target(), "upgrades/v2%2C%C3%BC");
    assert!(sy.log().contains("had no execute bit"), "{}", sy.log());

    // And cosmovisor reads the home switchyard left: the same binary.
    let (ok, out) = cv_output(&home, &["run", "version"]);
    assert!(ok && out.contains("v2"), "{out}");
}
