//! Backups through the real binary and fake nodes: the snapshot a swap takes (tables linked,
//! the rest copied), `switchyard restore-backup` putting it back (and refusing while switchyard
//! runs), the up-front space check on a small tmpfs, a backup folder on another filesystem,
//! `SWITCHYARD_BACKUP_KEEP`, and SIGKILLs at every point of a backup and of a restore.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// The databases written into the fake node's `data/` (the fake node never touches them).
const DBS: &[&str] = &["application.db", "blockstore.db", "state.db", "tx_index.db"];

/// Gives `data/` the shape of a real node's: table files, a WAL, a manifest, CURRENT, LOG per
/// database, the consensus WAL and the validator state.
fn node_shaped_data(home: &Home) {
    let data = home.path().join("data");
    for (d, db) in DBS.iter().enumerate() {
        let dir = data.join(db);
        fs::create_dir_all(&dir).unwrap();
        for t in 0..8 {
            let content: Vec<u8> = (0..(3000 + 517 * t + d * 31))
                .map(|i| (i * 7 + t + d) as u8)
                .collect();
            fs::write(dir.join(format!("{:06}.ldb", 10 + t)), content).unwrap();
        }
        fs::write(dir.join("000009.log"), format!("wal of {db}")).unwrap();
        fs::write(dir.join("MANIFEST-000008"), format!("manifest of {db}")).unwrap();
        fs::write(dir.join("CURRENT"), "MANIFEST-000008\n").unwrap();
        fs::write(dir.join("LOG"), "opened\n").unwrap();
    }
    fs::create_dir_all(data.join("cs.wal")).unwrap();
    fs::write(data.join("cs.wal/wal"), "consensus wal").unwrap();
    fs::write(
        data.join("priv_validator_state.json"),
        r#"{"height":"4","round":0,"step":3}"#,
    )
    .unwrap();
}

/// What a node does to its data after the backup: compaction and more signing.
fn compact(home: &Home) {
    let data = home.path().join("data");
    for db in DBS {
        let dir = data.join(db);
        fs::remove_file(dir.join("000010.ldb")).unwrap();
        fs::write(dir.join("000100.ldb"), "a new table").unwrap();
        let mut wal = fs::read(dir.join("000009.log")).unwrap();
        wal.extend_from_slice(b" and more");
        fs::write(dir.join("000009.log"), wal).unwrap();
        fs::write(dir.join("CURRENT"), "MANIFEST-000101\n").unwrap();
    }
    fs::write(
        data.join("priv_validator_state.json"),
        r#"{"height":"9","round":0,"step":3}"#,
    )
    .unwrap();
}

/// Every file under `root` with its bytes, every folder, every symlink target.
fn picture(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn go(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                out.insert(rel.clone(), None);
                go(root, &rel, out);
            } else if m.file_type().is_symlink() {
                let t = fs::read_link(e.path()).unwrap();
                out.insert(rel, Some(t.into_os_string().into_encoded_bytes()));
            } else {
                out.insert(rel, Some(fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, Path::new(""), &mut out);
    out
}

/// `dir`'s entries whose name starts with `prefix`, sorted.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn meta(backup: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(backup.join("switchyard-backup.json")).unwrap()).unwrap()
}

/// A backup's content without switchyard's record and file list in it.
fn backup_content(backup: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut p = picture(backup);
    p.remove(Path::new("switchyard-backup.json"));
    p.remove(Path::new("switchyard-backup-files.json"));
    p
}

fn plan_home() -> Home {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 5");
    node_shaped_data(&home);
    home
}

/// Runs the home through the v2 upgrade at 5 and stops it; returns the log.
fn upgrade(home: &Home, env: &[(&str, &str)]) -> String {
    let mut sy = home.run(env);
    wait_for(
        "the new binary past the upgrade",
        T,
        || home.committed() >= 7,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "upgrades/v2");
    sy.log()
}

/// A tmpfs of `size` mounted for the test; fails (never skips) where mount is unavailable.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("this test needs `mount` (util-linux) to make a small tmpfs");
        assert!(
            out.status.success(),
            "this test needs root to mount a tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Tmpfs {
    /// Gives the mounted tmpfs another size (space freed, or taken, on the backup's disk).
    fn resize(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.0.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_swap_takes_a_snapshot_and_restore_backup_puts_it_back() {
    let home = plan_home();
    let data = home.path().join("data");
    let tables_before = picture(&data.join("application.db"));
    let log = upgrade(&home, &[]);
    assert!(log.contains("hard-linked"), "{log}");

    // One backup, of the data as it was at the halt (after block 4), recording where it came
    // from; its tables are the data's own inodes, its manifests copies.
    let backups = named(home.path(), "data-backup-");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let b = &backups[0];
    let m = meta(b);
    assert_eq!(m["from"], serde_json::json!({"kind": "genesis"}));
    assert_eq!(
        (m["upgrade"].as_str(), m["upgrade_height"].as_i64()),
        (Some("v2"), Some(5))
    );
    assert_eq!(
        m["stats"]["linked_files"].as_u64(),
        Some(DBS.len() as u64 * 8)
    );
    assert_eq!(fs::read_to_string(b.join("height")).unwrap().trim(), "4");
    assert_eq!(picture(&b.join("application.db")), tables_before);
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    let t = Path::new("blockstore.db/000013.ldb");
    assert_eq!(ino(&data.join(t)), ino(&b.join(t)));
    let f = Path::new("blockstore.db/MANIFEST-000008");
    assert_ne!(ino(&data.join(f)), ino(&b.join(f)));

    let listed = home.cmd(&["restore-backup", "--list"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed));
    let name = b.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        listing.contains(&name) && listing.contains("genesis") && listing.contains("v2 at 5"),
        "{listing}"
    );

    // The new binary goes on; the node compacts and signs more.
    compact(&home);
    let backup_before = backup_content(b);

    // Refused while switchyard supervises the node.
    let mut sy = home.run(&[]);
    wait_for(
        "the node running again",
        T,
        || home.committed() >= 9,
        || sy.log(),
    );
    let refused = home.cmd(&["restore-backup"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("run.lock"), "{}", text(&refused));
    assert_eq!(sy.stop().code(), Some(0));

    let replaced = picture(&data);
    let out = home.cmd(&["restore-backup"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("kept in") && said.contains("v2"), "{said}");

    // data/ is the backup, except for the validator state, which stays the newer one.
    let mut want = backup_before.clone();
    want.insert(
        "priv_validator_state.json".into(),
        Some(br#"{"height":"9","round":0,"step":3}"#.to_vec()),
    );
    assert_eq!(picture(&data), want);
    let asides = named(home.path(), "data-before-restore-");
    assert_eq!(asides.len(), 1);
    assert_eq!(
        picture(&asides[0]),
        replaced,
        "the replaced data is kept as it was"
    );
    assert_eq!(home.current_target(), "genesis");
    assert!(!home.applied().contains("\"v2\""), "{}", home.applied());
    assert_eq!(
        backup_content(b),
        backup_before,
        "the backup itself is intact"
    );

    // Started again, switchyard takes the upgrade again: genesis never runs past the halt.
    let genesis_starts = home.events().matches("genesis start").count();
    let mut sy = home.run(&[]);
    wait_for(
        "the upgrade applied a second time",
        T,
        || {
            home.events().matches("v2 applying upgrade v2 at 5").count() == 2
                && home.committed() >= 6
        },
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));
    assert_eq!(
        home.events().matches("genesis start").count(),
        genesis_starts
    );
    assert_eq!(home.current_target(), "upgrades/v2");
}

#[test]
fn a_backup_that_does_not_fit_stops_the_swap_before_anything_changes() {
    let home = plan_home();
    let small = Tmpfs::mount("16m");
    let dir = small.0.path().to_str().unwrap().to_string();
    let tables = picture(&home.path().join("data/state.db"));
    let mut sy = home.run(&[("DAEMON_DATA_BACKUP_DIR", &dir)]);
    let status = sy.wait(T);
    let log = sy.log();
    assert_ne!(status.code(), Some(0), "{log}");
    assert!(
        log.contains(&format!("not enough space for the backup in {dir}"))
            && log.contains("MiB")
            && log.contains("Nothing was written"),
        "{log}"
    );
    assert_eq!(
        fs::read_dir(small.0.path()).unwrap().count(),
        0,
        "nothing half-written"
    );
    assert_eq!(home.current_target(), "genesis");
    assert!(!home.applied().contains("v2"));
    assert_eq!(picture(&home.path().join("data/state.db")), tables);

    // With room elsewhere (here another filesystem: a full copy, said in the log) the same
    // swap goes through on the next start.
    let shm = tempfile::tempdir_in("/dev/shm").expect("this test needs /dev/shm");
    assert_ne!(
        fs::metadata(shm.path()).unwrap().dev(),
        fs::metadata(home.path()).unwrap().dev(),
        "this test needs /dev/shm on another filesystem than the temporary folder"
    );
    let log = upgrade(
        &home,
        &[("DAEMON_DATA_BACKUP_DIR", shm.path().to_str().unwrap())],
    );
    assert!(
        log.contains("on another filesystem") && log.contains("full copy"),
        "{log}"
    );
    let backups = named(shm.path(), "data-backup-");
    assert_eq!(backups.len(), 1);
    assert_eq!(meta(&backups[0])["cross_device"], serde_json::json!(true));
    assert_eq!(picture(&backups[0].join("state.db")), tables);
}

/// The backup's own disk full at the halt, then space back on that same disk (an operator who
/// deletes old snapshots): the next start takes the backup there and completes the upgrade, and
/// the new binary commits the upgrade height.
#[test]
fn a_backup_refused_for_a_full_disk_is_taken_on_the_next_start_once_space_is_back() {
    let home = plan_home();
    let small = Tmpfs::mount("16m");
    let dir = small.0.path().to_str().unwrap().to_string();
    let env = [("DAEMON_DATA_BACKUP_DIR", dir.as_str())];
    let mut sy = home.run(&env);
    let status = sy.wait(T);
    let log = sy.log();
    assert_ne!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("not enough space for the backup") && log.contains("MiB"),
        "{log}"
    );
    assert_eq!(home.current_target(), "genesis");

    small.resize("512m");
    upgrade(&home, &env);
    assert_eq!(named(small.0.path(), "data-backup-").len(), 1);
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 5 {
            id == "genesis"
        } else {
            id == "v2"
        }
    });
}

#[test]
fn backup_keep_removes_only_the_oldest_of_this_nodes_backups() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    let v3 = home.binary("v3", "v2 v3", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2), ("v3", &v3)]);
    home.fake("plan", "v2 5");
    node_shaped_data(&home);
    let cosmovisors = home.path().join("data-backup-2024-1-5");
    fs::create_dir_all(&cosmovisors).unwrap();

    let mut sy = home.run(&[("SWITCHYARD_BACKUP_KEEP", "1")]);
    wait_for(
        "v2 past its upgrade",
        T,
        || home.committed() >= 6 && home.current_target() == "upgrades/v2",
        || sy.log(),
    );
    let first: Vec<_> = named(home.path(), "data-backup-")
        .into_iter()
        .filter(|p| *p != cosmovisors)
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    home.fake("plan", "v3 10");
    wait_for(
        "v3 past its upgrade and the old backup removed",
        T,
        || home.committed() >= 11 && sy.log().contains("removed the old backup"),
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));
    let ours: Vec<_> = named(home.path(), "data-backup-")
        .into_iter()
        .filter(|p| *p != cosmovisors)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(meta(&ours[0])["upgrade"], "v3");
    assert!(!first[0].exists(), "the v2 backup is removed");
    assert!(
        cosmovisors.is_dir(),
        "cosmovisor's backup is not ours to remove"
    );
    assert!(named(home.path(), ".data-backup-").is_empty());
}

#[test]
fn a_backup_killed_at_any_point_is_either_absent_or_complete() {
    for point in ["backup-mid-copy", "backup-before-rename"] {
        let home = plan_home();
        let tables = picture(&home.path().join("data/tx_index.db"));
        let mut first = home.run(&[("SWITCHYARD_TEST_FAULT", point)]);
        let status = first.wait(T);
        assert_eq!(status.signal(), Some(9), "{point}: {}", first.log());
        assert!(
            named(home.path(), "data-backup-").is_empty(),
            "{point}: no backup yet"
        );
        assert_eq!(named(home.path(), ".data-backup-").len(), 1, "{point}");
        assert_eq!(home.current_target(), "genesis");
        assert_eq!(picture(&home.path().join("data/tx_index.db")), tables);
        wait_for(
            "the orphaned node to stop",
            Duration::from_secs(10),
            || home.events().contains("genesis stopped at"),
            || home.events(),
        );

        let log = upgrade(&home, &[]);
        assert!(log.contains("finishing it"), "{point}: {log}");
        let backups = named(home.path(), "data-backup-");
        assert_eq!(backups.len(), 1, "{point}");
        assert!(
            named(home.path(), ".data-backup-").is_empty(),
            "{point}: partial left"
        );
        assert_eq!(picture(&backups[0].join("tx_index.db")), tables);
    }
}

#[test]
fn a_restore_killed_at_any_point_never_leaves_the_home_without_its_data() {
    const POINTS: &[&str] = &[
        "restore-mid-copy",
        "restore-before-exchange",
        "restore-after-exchange",
        "restore-after-aside",
        "restore-after-current",
    ];
    for point in POINTS {
        let home = plan_home();
        upgrade(&home, &[]);
        compact(&home);
        let b = named(home.path(), "data-backup-").remove(0);
        let data = home.path().join("data");
        let old = picture(&data);
        let mut restored = backup_content(&b);
        restored.insert(
            "priv_validator_state.json".into(),
            old[Path::new("priv_validator_state.json")].clone(),
        );

        let out = home
            .switchyard()
            .args(["restore-backup"])
            .env("SWITCHYARD_TEST_FAULT", point)
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: {}", text(&out));
        let now = picture(&data);
        assert!(
            now == old || now == restored,
            "{point}: data/ is neither the old data nor the backup"
        );

        // switchyard will not start a node on a half-finished restore.
        let mut sy = home.run(&[]);
        let status = sy.wait(T);
        assert_ne!(status.code(), Some(0));
        assert!(
            sy.log().contains("was interrupted"),
            "{point}: {}",
            sy.log()
        );

        let out = home.cmd(&["restore-backup"]);
        assert!(out.status.success(), "{point}: {}", text(&out));
        assert_eq!(picture(&data), restored, "{point}");
        assert_eq!(home.current_target(), "genesis", "{point}");
        let asides = named(home.path(), "data-before-restore-");
        assert_eq!(asides.len(), 1, "{point}: {asides:?}");
        assert_eq!(picture(&asides[0]), old, "{point}");
        assert!(
            named(home.path(), ".data").is_empty(),
            "{point}: partial left"
        );
        assert!(!home
            .path()
            .join("cosmovisor/switchyard/restore.json")
            .exists());
    }
}

/// `switchyard plan` says, long before the upgrade, whether the backup the swap will take fits
/// (the same estimate the swap checks), and the readiness verdict follows it.
#[test]
fn plan_says_ahead_of_time_whether_the_next_backup_fits() {
    use switchyard_fakechain::{FakeChain, PlanScript, Scenario};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = rt
        .block_on(FakeChain::start(Scenario {
            height: 1000,
            block_interval_ms: 5000,
            plan: Some(PlanScript {
                name: "v2".into(),
                height: 50_000,
                info: String::new(),
            }),
            ..Default::default()
        }))
        .unwrap();
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[("v2", &v2)]);
    node_shaped_data(&home);
    let rpc = chain.rpc_url();
    let h = home.path().to_str().unwrap().to_string();
    let plan = |backup_dir: &str| {
        let env = [
            ("DAEMON_HOME", h.as_str()),
            ("DAEMON_NAME", DAEMON),
            ("DAEMON_DATA_BACKUP_DIR", backup_dir),
        ];
        let (code, out, err) = rt.block_on(run_plan(&["--json", "--rpc", &rpc], &env));
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        (code, v)
    };

    let small = Tmpfs::mount("16m");
    let dir = small.0.path().to_str().unwrap().to_string();
    let (code, v) = plan(&dir);
    let u = &v["upgrades"][0];
    assert_eq!(u["readiness"]["backup_space_ok"], "no", "{v:#}");
    assert_eq!(u["ready"], false, "{v:#}");
    assert_ne!(code, 0, "{v:#}");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("would not fit") && problems.contains(&dir),
        "{v:#}"
    );
    assert_eq!(fs::read_dir(small.0.path()).unwrap().count(), 0);

    let roomy = tempfile::tempdir().unwrap();
    let (code, v) = plan(roomy.path().to_str().unwrap());
    let u = &v["upgrades"][0];
    assert_eq!(u["readiness"]["backup_space_ok"], "yes", "{v:#}");
    assert_eq!(u["ready"], true, "{v:#}");
    assert_eq!(code, 0, "{v:#}");
}

#[test]
fn restore_backup_refuses_what_is_not_an_intact_backup_of_this_node() {
    let home = plan_home();
    upgrade(&home, &[]);
    let data = home.path().join("data");
    let before = picture(&data);
    let any = tempfile::tempdir().unwrap();
    fs::create_dir_all(any.path().join("application.db")).unwrap();
    let any_dir = any.path().display().to_string();
    // issue 24 #5: any folder, data/ itself, the cosmovisor folder.
    for args in [
        vec!["restore-backup", any_dir.as_str(), "--current", "genesis"],
        vec!["restore-backup", "data"],
        vec!["restore-backup", "data", "--current", "genesis"],
        vec!["restore-backup", "cosmovisor", "--current", "genesis"],
    ] {
        let out = home.cmd(&args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("not a backup of this node"),
            "{args:?}: {}",
            text(&out)
        );
        assert_eq!(picture(&data), before, "{args:?} left data/ alone");
    }
    // issue 24 #4: a table written in place in data/ changes the backup's linked copy.
    let t = "blockstore.db/000013.ldb";
    fs::write(data.join(t), b"another table, copied over the old one").unwrap();
    let out = home.cmd(&["restore-backup"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no longer matches") && text(&out).contains(t),
        "{}",
        text(&out)
    );
    // issue 24 #6: a damaged backup.
    let home2 = plan_home();
    upgrade(&home2, &[]);
    let b2 = named(home2.path(), "data-backup-").remove(0);
    fs::remove_file(b2.join("application.db/CURRENT")).unwrap();
    let out = home2.cmd(&["restore-backup"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("application.db/CURRENT: missing"),
        "{}",
        text(&out)
    );
    assert!(named(home2.path(), "data-before-restore-").is_empty());
}
