//! The command line as cosmovisor's users meet it, against the real `switchyard` binary and the
//! fake node: the pre-v1 `switchyard start ...` form, `-c`/`--cosmovisor-config`, a missing
//! `current`, `version` for scripts and exporters, `show-upgrade-info`, obsolete variables,
//! `add-upgrade --force`/`--upgrade-height`, batch files, `prepare-upgrade`, completions and
//! the man page.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_fakechain::{FakeChain, Scenario};

const T: Duration = Duration::from_secs(30);

fn out_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `switchyard <args>` in the background with its output in `switchyard.log`.
fn spawn(home: &Home, args: &[&str]) -> Running {
    let log = home.path().join("switchyard.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut c = home.switchyard();
    c.args(args).stdout(f.try_clone().unwrap()).stderr(f);
    Running {
        child: c.spawn().unwrap(),
        log,
    }
}

#[test]
fn the_pre_v1_start_form_runs_the_node_with_one_warning() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let h = home.path().to_str().unwrap().to_string();
    let mut sy = spawn(
        &home,
        &["start", "--home", &h, "--x-crisis-skip-assert-invariants"],
    );
    wait_for(
        "blocks",
        T,
        || home.committed() >= 2,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    let events = home.events();
    assert!(
        events.contains(&format!(
            "genesis start --home {h} --x-crisis-skip-assert-invariants"
        )),
        "{events}"
    );
    let log = sy.log();
    assert_eq!(log.matches("pre-v1 cosmovisor form").count(), 1, "{log}");
    assert!(log.contains("switchyard run start"), "{log}");
}

#[test]
fn help_unknown_flags_and_no_command_never_run_the_node() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    for (args, code) in [
        (&["--help"][..], 0),
        (&["help"][..], 0),
        (&["help", "add-upgrade"][..], 0),
        (&["-h"][..], 0),
        (&["--bogus"][..], 2),
        (&["--bogus", "start"][..], 2),
        (&[][..], 2),
    ] {
        let o = home.cmd(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
        if code == 0 {
            assert!(out_text(&o).contains("Usage"), "{args:?}: {}", text(&o));
        }
    }
    assert_eq!(home.events(), "", "the node must not have been run");
}

#[test]
fn a_missing_current_is_created_pointing_at_genesis_on_the_first_run() {
    // What the setup guides have operators do by hand: only the bin folders, no `current`.
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    for (dir, bin) in [("genesis", &genesis), ("upgrades/v2", &v2)] {
        let d = home.path().join("cosmovisor").join(dir).join("bin");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(bin, d.join(DAEMON)).unwrap();
    }
    let link = home.path().join("cosmovisor/current");
    assert!(std::fs::symlink_metadata(&link).is_err());
    let mut sy = home.run(&[]);
    wait_for(
        "blocks",
        T,
        || home.committed() >= 2,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_eq!(
        home.current_link_text(),
        home.path().join("cosmovisor/genesis")
    );
    assert!(sy.log().contains("now points at genesis"), "{}", sy.log());
    assert_each_height_once(&home.executed(), |_, id| id == "genesis");
}

#[test]
fn a_relative_current_is_rewritten_absolute_when_run_starts() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    let link = home.path().join("cosmovisor/current");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("upgrades/v2", &link).unwrap();
    // v2 has the handler of plan v2, which this chain already applied.
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/applied_v2"), "").unwrap();
    home.fake("plan", "v2 1");
    let mut sy = home.run(&[]);
    wait_for(
        "blocks",
        T,
        || home.committed() >= 2,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_eq!(
        home.current_link_text(),
        home.path().join("cosmovisor/upgrades/v2")
    );
    assert_each_height_once(&home.executed(), |_, id| id == "v2");
}

#[test]
fn the_config_file_is_taken_from_c_cosmovisor_config_or_runs_own_argument() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let file = home.path().join("elsewhere.toml");
    std::fs::write(
        &file,
        format!(
            "daemon_home = {:?}\ndaemon_name = \"{DAEMON}\"\ndaemon_poll_interval = 300000000\n",
            home.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let bare = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["-c", f, "config", "--json"][..],
        &["--cosmovisor-config", f, "config", "--json"][..],
        &["config", "--config", f, "--json"][..],
    ] {
        let o = bare(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let v: Value = serde_json::from_str(&out_text(&o)).unwrap();
        assert_eq!(v["file"], json!(f), "{args:?}");
        let poll = v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == "DAEMON_POLL_INTERVAL")
            .unwrap()
            .clone();
        assert_eq!(poll["value"], json!("300000000ns"));
    }
    // cosmovisor v1.6+: `run ... --cosmovisor-config PATH` anywhere among the node's arguments;
    // it is taken out, the rest goes to the node.
    let o = bare(&["run", "version", "--cosmovisor-config", f]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out_text(&o).trim(), "genesis");
    let o = bare(&["run", "version", "--cosmovisor-config"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(err_text(&o).contains("--cosmovisor-config needs a path"));
}

#[test]
fn version_text_json_and_supervisor_only() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let o = home.cmd(&["version"]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<_> = out_text(&o).lines().map(String::from).collect();
    assert!(lines[0].starts_with("switchyard version: "), "{lines:?}");
    assert_eq!(lines[1], "genesis");

    for args in [
        &["version", "-o", "json"][..],
        &["version", "--output", "json"],
        &["version", "--json"],
    ] {
        let o = home.cmd(args);
        assert!(o.status.success(), "{}", text(&o));
        let v: Value = serde_json::from_str(out_text(&o).trim()).unwrap();
        let ours = v["switchyard_version"].as_str().unwrap();
        assert_eq!(
            v["cosmovisor_version"],
            json!(format!("v{ours}+switchyard"))
        );
        // The node's own `version --long --output json` object.
        assert_eq!(v["app_version"]["version"], json!("genesis"), "{v}");
        assert_eq!(
            v["app_version"]["cosmos_sdk_version"],
            json!("v0.50.10"),
            "{v}"
        );
    }

    // Supervisor only: no node, not even a home, needed.
    let bare = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .env_clear()
        .args(["version", "--cosmovisor-only", "-o", "json"])
        .output()
        .unwrap();
    assert!(bare.status.success(), "{}", text(&bare));
    let v: Value = serde_json::from_str(out_text(&bare).trim()).unwrap();
    assert!(v.get("app_version").is_none(), "{v}");
    assert!(v["cosmovisor_version"]
        .as_str()
        .unwrap()
        .ends_with("+switchyard"));

    // What an exporter runs and parses (the first line that is a JSON object).
    let o = home.cmd(&["run", "version", "--long", "--output", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let combined = format!("{}\n{}", out_text(&o), err_text(&o));
    let line = combined
        .lines()
        .find(|l| l.starts_with('{') && l.ends_with('}'))
        .unwrap_or_else(|| panic!("no JSON line in {combined}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["version"], json!("genesis"));
}

#[test]
fn show_upgrade_info_prints_the_file_or_says_there_is_none() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let path = home.path().join("data/upgrade-info.json");
    let o = home.cmd(&["show-upgrade-info"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        out_text(&o).trim(),
        format!("No upgrade info found at {}", path.display())
    );
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let raw = r#"{"name":"v999","time":"0001-01-01T00:00:00Z","height":999}"#;
    std::fs::write(&path, raw).unwrap();
    let o = home.cmd(&["show-upgrade-info"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(out_text(&o).trim(), raw);
    std::fs::write(&path, "{\"name\":").unwrap();
    let o = home.cmd(&["show-upgrade-info"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err_text(&o).contains("not a valid upgrade-info"),
        "{}",
        text(&o)
    );
}

#[test]
fn obsolete_variables_are_shown_as_ignored_never_an_error() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let o = home
        .switchyard()
        .env("DAEMON_LOG_BUFFER_SIZE", "512")
        .arg("config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let line = out_text(&o)
        .lines()
        .find(|l| l.starts_with("DAEMON_LOG_BUFFER_SIZE"))
        .map(String::from)
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert!(
        line.contains("512  [environment] ignored (obsolete)"),
        "{line}"
    );
    // The same key in the config file (cosmovisor's, any case).
    std::fs::write(
        home.path().join("cosmovisor/config.toml"),
        "DAEMON_LOG_BUFFER_SIZE = 512\n",
    )
    .unwrap();
    let o = home.cmd(&["config", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_str(&out_text(&o)).unwrap();
    assert_eq!(v["ignored"][0]["key"], json!("DAEMON_LOG_BUFFER_SIZE"));
    assert_eq!(v["ignored"][0]["source"], json!("file"));
    // And `run` starts as usual with it set.
    let o = home
        .switchyard()
        .env("DAEMON_LOG_BUFFER_SIZE", "512")
        .args(["run", "version"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

fn manual(home: &Home) -> Value {
    let p = home.path().join("cosmovisor/switchyard/manual.json");
    std::fs::read_to_string(p)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(Value::Null)
}

#[test]
fn add_upgrade_force_replaces_binary_and_height_as_cosmovisor_does() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let a = home.binary("fix-a", "", "v0.50.10");
    let b = home.binary("fix-b", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let placed = home.path().join("cosmovisor/upgrades/fix/bin").join(DAEMON);
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());

    let o = home.cmd(&["add-upgrade", "fix", a_s, "--upgrade-height", "100"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&a).unwrap());
    assert_eq!(
        manual(&home).to_string().matches("\"height\":100").count(),
        1
    );

    // Without --force: refused, and nothing changed (binary nor height).
    let o = home.cmd(&["add-upgrade", "fix", b_s, "--upgrade-height", "200"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err_text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&a).unwrap());
    assert!(manual(&home).to_string().contains("\"height\":100"));

    // With --force: both replaced.
    let o = home.cmd(&[
        "add-upgrade",
        "fix",
        b_s,
        "--upgrade-height",
        "200",
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&b).unwrap());
    let m = manual(&home).to_string();
    assert!(
        m.contains("\"height\":200") && !m.contains("\"height\":100"),
        "{m}"
    );

    // --force alone replaces the binary and keeps the registered height.
    let o = home.cmd(&["add-upgrade", "fix", a_s, "--force=true"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&a).unwrap());
    assert!(manual(&home).to_string().contains("\"height\":200"));
    // A height of 0 is refused (cosmovisor reads it as none; issue 24 #16), and changes nothing.
    let o = home.cmd(&["add-upgrade", "other", a_s, "--upgrade-height", "0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err_text(&o).contains("positive block height, got 0"),
        "{}",
        text(&o)
    );
    assert!(!manual(&home).to_string().contains("other"));
    assert!(!home.path().join("cosmovisor/upgrades/other").exists());
    // --force=false is no force (issue 24 #12).
    let o = home.cmd(&["add-upgrade", "fix", b_s, "--force=false"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err_text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&a).unwrap());
}

#[test]
fn add_batch_upgrade_reads_cosmovisors_csv_and_json() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "", "v0.50.10");
    let v3 = home.binary("v3", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let csv = home.path().join("batch.csv");
    std::fs::write(
        &csv,
        format!("v2,{},100\nv3, {}, 200\n", v2.display(), v3.display()),
    )
    .unwrap();
    let o = home.cmd(&["add-batch-upgrade", "--upgrade-file", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for (n, bin) in [("v2", &v2), ("v3", &v3)] {
        let placed = home
            .path()
            .join("cosmovisor/upgrades")
            .join(n)
            .join("bin")
            .join(DAEMON);
        assert_eq!(std::fs::read(placed).unwrap(), std::fs::read(bin).unwrap());
    }
    let m = manual(&home).to_string();
    assert!(
        m.contains("\"height\":100") && m.contains("\"height\":200"),
        "{m}"
    );

    // The same file again: replaced, as cosmovisor's batch does (it has no --force).
    let o = home.cmd(&["add-batch-upgrade", "--upgrade-file", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    // JSON plans whose binaries are in place already (v2 moves to 150); one that is not is
    // refused before anything changes.
    let js = home.path().join("batch.json");
    std::fs::write(
        &js,
        r#"[{"name":"v2","height":"150"},{"name":"v9","height":900}]"#,
    )
    .unwrap();
    let o = home.cmd(&["add-batch-upgrade", "--upgrade-file", js.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err_text(&o).contains("v9"), "{}", text(&o));
    assert!(manual(&home).to_string().contains("\"height\":100"));
    std::fs::write(&js, r#"[{"name":"v2","height":"150"}]"#).unwrap();
    let o = home.cmd(&["add-batch-upgrade", "--upgrade-file", js.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let m = manual(&home).to_string();
    assert!(
        m.contains("\"height\":150") && !m.contains("\"height\":100"),
        "{m}"
    );

    // --upgrade-list, repeated and comma separated.
    let list = format!("v4:{}:400", v2.display());
    let o = home.cmd(&[
        "add-batch-upgrade",
        "--upgrade-list",
        &list,
        "--upgrade-list",
        &format!("v5:{}:500", v3.display()),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(manual(&home).to_string().contains("\"height\":500"));
}

/// A release folder on a local web server: `fakend` packed as a .tar.gz (bin/fakend inside, as
/// releases ship it), and a SHA256SUMS listing it among other files.
struct Release {
    server: FileServer,
    tarball: std::path::PathBuf,
}

fn release(home: &Home, id: &str) -> Release {
    let bin = home.binary(id, "", "v0.50.10");
    let dir = home.path().join(format!("release-{id}"));
    std::fs::create_dir_all(dir.join("pkg/bin")).unwrap();
    std::fs::copy(&bin, dir.join("pkg/bin").join(DAEMON)).unwrap();
    let tarball = dir.join("fakend_Linux_x86_64.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.join("pkg"))
        .arg("bin")
        .status()
        .unwrap();
    assert!(st.success());
    let other = dir.join("fakend_Darwin_arm64.tar.gz");
    std::fs::write(&other, "not this one").unwrap();
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!(
            "{}  fakend_Darwin_arm64.tar.gz\n{}  fakend_Linux_x86_64.tar.gz\n",
            sha256_hex(&other),
            sha256_hex(&tarball)
        ),
    )
    .unwrap();
    Release {
        server: FileServer::start(&dir, None),
        tarball,
    }
}

#[test]
fn add_upgrade_url_downloads_verifies_unpacks_and_preflights() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let r = release(&home, "v2");
    let url = format!("{}/fakend_Linux_x86_64.tar.gz", r.server.url);
    let placed = |n: &str| {
        home.path()
            .join("cosmovisor/upgrades")
            .join(n)
            .join("bin")
            .join(DAEMON)
    };

    // No checksum: refused before any download, nothing placed.
    let o = home.cmd(&["add-upgrade", "v2", "--url", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err_text(&o).contains("--checksums-url"), "{}", text(&o));
    assert!(!placed("v2").exists());

    // A wrong checksum: refused, nothing placed.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let o = home.cmd(&["add-upgrade", "v2", "--url", &url, "--checksum", &wrong]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!placed("v2").exists(), "{}", text(&o));

    // The right one: unpacked, executable, and it ran once (preflight) on this host.
    let sum = format!("sha256:{}", sha256_hex(&r.tarball));
    let o = home.cmd(&[
        "add-upgrade",
        "v2",
        "--url",
        &url,
        "--checksum",
        &sum,
        "--upgrade-height",
        "50",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = std::process::Command::new(placed("v2"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(out_text(&out).trim(), "v2");
    let rec =
        std::fs::read_to_string(home.path().join("cosmovisor/switchyard/staged/v2.json")).unwrap();
    assert!(rec.contains("\"ok\""), "{rec}");
    assert!(manual(&home).to_string().contains("\"height\":50"));

    // From the release's SHA256SUMS: the line for this file, not the other one.
    let r3 = release(&home, "v3");
    let url3 = format!("{}/fakend_Linux_x86_64.tar.gz", r3.server.url);
    let sums3 = format!("{}/SHA256SUMS", r3.server.url);
    let o = home.cmd(&[
        "add-upgrade",
        "v3",
        "--url",
        &url3,
        "--checksums-url",
        &sums3,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = std::process::Command::new(placed("v3"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(out_text(&out).trim(), "v3");
    // A file the sums do not list is refused.
    let o = home.cmd(&[
        "add-upgrade",
        "v4",
        "--url",
        &format!("{}/fakend_Windows.zip", r3.server.url),
        "--checksums-url",
        &sums3,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err_text(&o).contains("lists no \"fakend_Windows.zip\""),
        "{}",
        text(&o)
    );

    // --force with a download that fails keeps the binary that was there.
    let o = home.cmd(&[
        "add-upgrade",
        "v3",
        "--url",
        &url,
        "--checksum",
        &wrong,
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = std::process::Command::new(placed("v3"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(out_text(&out).trim(), "v3");
    // ...and with one that works, replaces it.
    let o = home.cmd(&[
        "add-upgrade",
        "v3",
        "--url",
        &url,
        "--checksum",
        &sum,
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = std::process::Command::new(placed("v3"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(out_text(&out).trim(), "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_upgrade_is_prepare_one_shot_for_the_scheduled_plan() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);
    let server = FileServer::start(v2.parent().unwrap(), None);
    let info = json!({"binaries": {this_platform(): format!("{}/{DAEMON}?checksum=sha256:{}", server.url, sha256_hex(&v2))}}).to_string();
    let chain = FakeChain::start(Scenario {
        height: 90,
        ..Default::default()
    })
    .await
    .unwrap();
    chain
        .control_json(
            json!({"op": "schedule_plan", "plan": {"name": "v2", "height": 100, "info": info}}),
        )
        .unwrap();
    let rpc = chain.rpc_url();
    let run = |args: Vec<String>| {
        let mut c = home.switchyard();
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let o = run(vec![
        "prepare-upgrade".into(),
        "--rpc".into(),
        rpc.clone(),
        "--json".into(),
    ])
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_str(out_text(&o).trim()).unwrap();
    assert_eq!(v["upgrades"][0]["result"], json!("staged"), "{v}");
    let placed = home.path().join("cosmovisor/upgrades/v2/bin").join(DAEMON);
    assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&v2).unwrap());
    // Same command, same answer under either name (now already staged).
    for name in ["prepare-upgrade", "prepare"] {
        let o = run(vec![
            name.into(),
            "--rpc".into(),
            rpc.clone(),
            "--json".into(),
        ])
        .await
        .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let v: Value = serde_json::from_str(out_text(&o).trim()).unwrap();
        assert_eq!(
            v["upgrades"][0]["result"],
            json!("already_staged"),
            "{name}: {v}"
        );
    }
    // No chain: exit 1 under either name.
    for name in ["prepare-upgrade", "prepare"] {
        let o = run(vec![
            name.into(),
            "--rpc".into(),
            "http://127.0.0.1:1".into(),
        ])
        .await
        .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
    }
}

#[test]
fn completions_and_man_page_come_from_the_command_line_definition() {
    let bare = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .env_clear()
            .args(args)
            .output()
            .unwrap()
    };
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = bare(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", text(&o));
        let s = out_text(&o);
        assert!(
            s.contains("prepare-upgrade") && s.contains("add-batch-upgrade"),
            "{shell}"
        );
    }
    let o = bare(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    // bash accepts the script it is given.
    let o = bare(&["completions", "bash"]);
    let script =
        std::env::temp_dir().join(format!("switchyard-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &o.stdout).unwrap();
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    assert!(st.success());

    let o = bare(&["man"]);
    assert!(o.status.success(), "{}", text(&o));
    let page = out_text(&o);
    assert!(page.contains(".TH switchyard"), "{page}");
    assert!(
        page.contains("cosmovisor\\-config") || page.contains("cosmovisor-config"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let o = bare(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(dir.path().join("switchyard-add-upgrade.1")).unwrap();
    assert!(page.contains("checksums\\-url"), "{page}");
}
