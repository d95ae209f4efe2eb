//! Tests of taking, pruning and restoring backups on data folders shaped like a node's.

use std::fs;
use std::num::NonZeroUsize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use switchyard_core::{Current, UpgradeName};

use super::restore::{self, Recovered, RestoreError, RestoreRequest};
use super::testutil::*;
use super::validator_state::Choice;
use super::*;
use crate::journal::{now_rfc3339, AppliedRecord, Journal};

fn n(s: &str) -> UpgradeName {
    UpgradeName::parse(s, false).unwrap()
}

/// A node home with a DB-shaped `data/` and binaries for genesis and v2.
struct Home {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        node_data(&layout.data_dir(), 12, 48 * 1024);
        for c in [Current::Genesis, Current::Upgrade(n("v2"))] {
            let bin = layout.binary_of(&c);
            fs::create_dir_all(bin.parent().unwrap()).unwrap();
            fs::write(&bin, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Home { dir, layout }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn take_into(&self, root: &Path) -> Result<Backup, BackupError> {
        self.take_with(root, &|_| {})
    }

    fn take_with(&self, root: &Path, fault: &(dyn Fn(&str) + Sync)) -> Result<Backup, BackupError> {
        take(
            &BackupRequest {
                layout: &self.layout,
                backup_root: root,
                from: &Current::Genesis,
                upgrade: &n("v2"),
                upgrade_height: 100,
                swap_started_at: None,
            },
            fault,
        )
    }
}

/// The backup's picture without switchyard's record.
fn content_of(backup: &Path) -> std::collections::BTreeMap<PathBuf, Node> {
    let mut p = picture(backup);
    p.remove(Path::new(META_FILE));
    p.remove(Path::new(MANIFEST_FILE));
    p
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_backup_is_byte_identical_and_links_only_table_files() {
    let h = Home::new();
    let data = h.layout.data_dir();
    let before = picture(&data);
    let b = h.take_into(h.home()).unwrap();
    assert!(!b.reused);
    assert!(b
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("data-backup-"));
    assert_eq!(
        content_of(&b.path),
        before,
        "byte-identical, modes included"
    );
    let tables = (LEVELDBS.len() + 1) as u64 * 12;
    assert_eq!(b.meta.stats.linked_files, tables);
    assert!(!b.meta.cross_device);
    for db in LEVELDBS.iter().copied().chain([PEBBLEDB]) {
        let ext = if db == PEBBLEDB { "sst" } else { "ldb" };
        let t = Path::new(db).join(format!("000012.{ext}"));
        assert_eq!(ino(&data.join(&t)), ino(&b.path.join(&t)), "{t:?} linked");
        for f in ["MANIFEST-000008", "CURRENT", "LOG", "LOCK", "000009.log"] {
            let f = Path::new(db).join(f);
            assert_ne!(ino(&data.join(&f)), ino(&b.path.join(&f)), "{f:?} copied");
        }
    }
    for f in [
        "cs.wal/wal",
        "priv_validator_state.json",
        "upgrade-info.json",
    ] {
        assert_ne!(ino(&data.join(f)), ino(&b.path.join(f)), "{f} copied");
    }
    // The record says what it is.
    let m = read_meta(&b.path).unwrap().unwrap();
    assert_eq!(m, b.meta);
    assert_eq!(
        (m.from.clone(), m.upgrade.clone(), m.upgrade_height),
        (Current::Genesis, n("v2"), 100)
    );
    assert!(m.is_of_home(h.home()));
}

#[test]
fn the_backup_does_not_change_when_the_node_compacts_afterwards() {
    let h = Home::new();
    let data = h.layout.data_dir();
    let before = picture(&data);
    let b = h.take_into(h.home()).unwrap();
    compact(&data);
    assert_ne!(picture(&data), before, "the compaction changed the data");
    assert_eq!(content_of(&b.path), before);
}

#[test]
fn another_filesystem_gets_a_full_copy() {
    let h = Home::new();
    let other = other_device_dir(h.home());
    let before = picture(&h.layout.data_dir());
    let est = estimate(&h.layout.data_dir(), other.path()).unwrap();
    assert!(est.cross_device && est.linked_files == 0, "{est:?}");
    let b = h.take_into(other.path()).unwrap();
    assert!(b.meta.cross_device);
    assert_eq!(b.meta.stats.linked_files, 0);
    assert_eq!(
        b.meta.stats.copied_files + b.meta.stats.cloned_files,
        est.copied_files
    );
    compact(&h.layout.data_dir());
    assert_eq!(content_of(&b.path), before);
}

#[test]
fn estimate_counts_what_is_copied_and_linked() {
    let h = Home::new();
    let data = h.layout.data_dir();
    let e = estimate(&data, h.home()).unwrap();
    let b = h.take_into(h.home()).unwrap();
    assert_eq!(e.linked_files, b.meta.stats.linked_files);
    assert_eq!(e.linked_bytes, b.meta.stats.linked_bytes);
    assert_eq!(
        e.copied_bytes,
        b.meta.stats.copied_bytes + b.meta.stats.cloned_bytes
    );
    assert_eq!(e.margin_bytes, MARGIN_MIN_BYTES);
    assert!(e.needed_bytes >= e.copied_bytes + e.margin_bytes);
    assert!(e.fits && e.available_bytes > 0);
}

#[test]
fn a_backup_that_does_not_fit_is_refused_before_anything_is_written() {
    let h = Home::new();
    let small = Tmpfs::mount("16m");
    let before = picture(&h.layout.data_dir());
    let e = estimate(&h.layout.data_dir(), small.path()).unwrap();
    assert!(!e.fits, "{e:?}");
    let err = h.take_into(small.path()).unwrap_err();
    assert!(matches!(err, BackupError::NoSpace { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&small.path().display().to_string())
            && msg.contains("MiB")
            && msg.contains("free")
            && msg.contains("Nothing was written"),
        "{msg}"
    );
    assert!(names_in(small.path()).is_empty());
    assert_eq!(picture(&h.layout.data_dir()), before);
}

#[test]
fn a_disk_that_fills_up_during_the_backup_leaves_nothing_behind() {
    // The space check passes, then something else fills the disk half-way through the copy.
    let h = Home::new();
    // Big enough for the margin, so the check passes.
    let small = Tmpfs::mount("80m");
    let filler = small.path().join("filler");
    let before = picture(&h.layout.data_dir());
    let err = h
        .take_with(small.path(), &|point| {
            if point == "backup-mid-copy" {
                let _ = fs::write(&filler, vec![0u8; 80 << 20]);
            }
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("No space left"), "{msg}");
    assert_eq!(
        names_in(small.path()),
        ["filler"],
        "the partial copy is gone"
    );
    assert_eq!(picture(&h.layout.data_dir()), before);
}

#[test]
fn a_crash_mid_backup_leaves_a_partial_that_the_next_backup_removes() {
    let h = Home::new();
    let root = h.home().join("backups");
    for point in FAULT_POINTS {
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            h.take_with(&root, &|p| {
                if p == *point {
                    panic!("killed at {p}")
                }
            })
        }));
        assert!(crashed.is_err());
        assert!(
            list(&root).unwrap().is_empty(),
            "{point}: no complete backup"
        );
        let left = names_in(&root);
        assert_eq!(left.len(), 1, "{point}: {left:?}");
        assert!(meta::is_partial_name(&left[0]), "{left:?}");
    }
    let b = h.take_into(&root).unwrap();
    assert_eq!(
        names_in(&root),
        [b.path.file_name().unwrap().to_string_lossy()]
    );
}

#[test]
fn a_partial_someone_is_working_on_is_left_alone() {
    let h = Home::new();
    let root = h.home().join("backups");
    let busy = root.join(".data-backup-20260101T000000Z-v9.partial");
    fs::create_dir_all(&busy).unwrap();
    let _held = lock_dir(&busy).unwrap();
    h.take_into(&root).unwrap();
    assert!(busy.is_dir());
}

#[test]
fn a_swap_resumed_after_a_crash_reuses_its_own_backup() {
    let h = Home::new();
    let started = now_rfc3339();
    let req = |s: &str| {
        take(
            &BackupRequest {
                layout: &h.layout,
                backup_root: h.home(),
                from: &Current::Genesis,
                upgrade: &n("v2"),
                upgrade_height: 100,
                swap_started_at: Some(s),
            },
            &|_| {},
        )
        .unwrap()
    };
    let first = req(&started);
    let again = req(&started);
    assert!(again.reused && again.path == first.path);
    let other = req("another swap");
    assert!(!other.reused && other.path != first.path);
}

#[test]
fn special_files_are_refused_with_nothing_written() {
    let h = Home::new();
    let sock = h.layout.data_dir().join("app.sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let root = h.home().join("backups");
    let err = h.take_into(&root).unwrap_err().to_string();
    assert!(err.contains("app.sock") && err.contains("socket"), "{err}");
    assert!(names_in(&root).is_empty());
}

#[test]
fn symlinks_stay_symlinks_and_a_symlinked_data_folder_is_followed() {
    let h = Home::new();
    let real = h.home().join("disk2/data");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::rename(h.layout.data_dir(), &real).unwrap();
    std::os::unix::fs::symlink(&real, h.layout.data_dir()).unwrap();
    std::os::unix::fs::symlink("../elsewhere", real.join("link")).unwrap();
    let b = h.take_into(h.home()).unwrap();
    assert_eq!(content_of(&b.path), picture(&real));
    assert_eq!(
        fs::read_link(b.path.join("link")).unwrap(),
        Path::new("../elsewhere")
    );
}

#[test]
fn prune_keeps_the_newest_of_this_home_and_nothing_else() {
    let h = Home::new();
    let root = h.home().join("backups");
    let mut ours = Vec::new();
    for s in ["20260101T000000Z", "20260201T000000Z", "20260301T000000Z"] {
        let name = meta::backup_name(s, &n("v2"));
        let p = root.join(&name);
        fs::create_dir_all(&p).unwrap();
        let m = BackupMeta::new(h.home(), "simd", Current::Genesis, n("v2"), 100, None);
        meta::write_meta(&p, &m).unwrap();
        ours.push(p);
    }
    let cosmovisor = root.join("data-backup-2025-1-5");
    fs::create_dir_all(&cosmovisor).unwrap();
    let foreign = root.join("data-backup-20250101T000000Z-v2");
    fs::create_dir_all(&foreign).unwrap();
    let m = BackupMeta::new(
        Path::new("/other/home"),
        "simd",
        Current::Genesis,
        n("v2"),
        1,
        None,
    );
    meta::write_meta(&foreign, &m).unwrap();

    let removed = prune(&root, h.home(), NonZeroUsize::new(2).unwrap(), None).unwrap();
    assert_eq!(removed, vec![ours[0].clone()]);
    assert!(!ours[0].exists() && ours[1].is_dir() && ours[2].is_dir());
    assert!(cosmovisor.is_dir() && foreign.is_dir());
    assert!(prune(&root, h.home(), NonZeroUsize::new(2).unwrap(), None)
        .unwrap()
        .is_empty());
    let removed = prune(&root, h.home(), NonZeroUsize::new(1).unwrap(), None).unwrap();
    assert_eq!(removed, vec![ours[1].clone()]);
    assert_eq!(
        names_in(&root),
        [
            "data-backup-2025-1-5",
            "data-backup-20250101T000000Z-v2",
            "data-backup-20260301T000000Z-v2"
        ]
    );
}

// ---- restore ----

fn record_applied(h: &Home, name: &str, height: i64) {
    Journal::new(&h.layout)
        .record_applied(AppliedRecord {
            name: n(name),
            height,
            kind: switchyard_core::UpgradeKind::Plan,
            applied_at: now_rfc3339(),
        })
        .unwrap();
}

/// Takes a backup before v2, then "runs v2": compacts the data, points `current` at v2 and
/// records v2 as applied. Returns the backup and the picture of the data as v2 left it.
fn upgraded(h: &Home) -> (Backup, std::collections::BTreeMap<PathBuf, Node>) {
    let b = h.take_into(h.home()).unwrap();
    compact(&h.layout.data_dir());
    h.layout.set_current(&Current::Upgrade(n("v2"))).unwrap();
    record_applied(h, "v1", 50);
    record_applied(h, "v2", 100);
    (b, picture(&h.layout.data_dir()))
}

fn restore_it(h: &Home, b: &Path) -> Result<restore::Restored, RestoreError> {
    restore::restore(
        &RestoreRequest {
            layout: &h.layout,
            backup: b,
            current: None,
        },
        &|_| {},
    )
}

/// What the restored data must be: the backup, with the newer validator state of the data it
/// replaced.
fn expected_restored(
    b: &Path,
    replaced: &std::collections::BTreeMap<PathBuf, Node>,
) -> std::collections::BTreeMap<PathBuf, Node> {
    let mut want = content_of(b);
    let k = PathBuf::from("priv_validator_state.json");
    want.insert(k.clone(), replaced[&k].clone());
    want
}

#[test]
fn restore_puts_the_backup_back_and_keeps_the_replaced_data() {
    let h = Home::new();
    let (b, after_upgrade) = upgraded(&h);
    let backup_before = content_of(&b.path);
    let r = restore_it(&h, &b.path).unwrap();
    let data = h.layout.data_dir();
    assert_eq!(picture(&data), expected_restored(&b.path, &after_upgrade));
    assert!(!data.join(META_FILE).exists(), "nothing of ours in data/");
    let aside = r.set_aside.clone().unwrap();
    assert!(aside
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("data-before-restore-"));
    assert_eq!(aside.parent().unwrap(), h.home());
    assert_eq!(
        picture(&aside),
        after_upgrade,
        "the replaced data, untouched"
    );
    assert_eq!(h.layout.current().unwrap(), Current::Genesis);
    assert_eq!(r.forgotten, [n("v2")]);
    assert_eq!(
        Journal::new(&h.layout)
            .applied_map()
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        [n("v1")]
    );
    assert_eq!(r.validator_state, Some(Choice::Current));
    assert!(restore::pending(&h.layout).unwrap().is_none());
    // The backup itself is intact, and can be restored again.
    assert!(read_meta(&b.path).unwrap().is_some());
    assert_eq!(content_of(&b.path), backup_before);
    // The restored tables are links to the backup's (which the node will never change).
    let t = Path::new("application.db/000012.ldb");
    assert_eq!(ino(&data.join(t)), ino(&b.path.join(t)));
}

#[test]
fn restore_takes_the_backups_validator_state_only_when_it_is_newer() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    fs::write(
        h.layout.data_dir().join("priv_validator_state.json"),
        br#"{"height":"10","round":0,"step":1}"#,
    )
    .unwrap();
    let r = restore_it(&h, &b.path).unwrap();
    assert_eq!(r.validator_state, Some(Choice::BackupIsNewer));
    assert_eq!(
        fs::read(h.layout.data_dir().join("priv_validator_state.json")).unwrap(),
        br#"{"height":"99","round":0,"step":3}"#
    );
}

#[test]
fn restore_keeps_an_unreadable_validator_state_rather_than_an_older_one() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    let pvs = h.layout.data_dir().join("priv_validator_state.json");
    fs::write(&pvs, b"{torn").unwrap();
    let r = restore_it(&h, &b.path).unwrap();
    assert_eq!(r.validator_state, Some(Choice::CurrentUnreadable));
    assert_eq!(fs::read(&pvs).unwrap(), b"{torn");
    let mode = fs::metadata(&pvs).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn restore_refuses_while_the_node_runs() {
    let h = Home::new();
    let (b, after) = upgraded(&h);
    // The node switchyard started is alive.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    crate::pidfile::save_node_record(
        &h.layout,
        &crate::pidfile::NodeRecord {
            pid,
            start_time: crate::pidfile::process_start_time(pid).unwrap(),
            binary: "/bin/sleep".into(),
        },
    )
    .unwrap();
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(
        matches!(err, RestoreError::NodeRunning { pid: p, .. } if p == pid),
        "{err}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    crate::pidfile::clear_node_record(&h.layout);

    // A node started by hand holds its LevelDB's flock.
    let lock = h.layout.data_dir().join("application.db/LOCK");
    let held = nix::fcntl::Flock::lock(
        fs::File::open(&lock).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(
        matches!(&err, RestoreError::DatabaseInUse { path, .. } if *path == lock),
        "{err}"
    );
    drop(held);

    // A PebbleDB/RocksDB node holds a POSIX record lock: another process must hold it.
    let lock = h.layout.data_dir().join("snapshots/metadata.db/LOCK");
    let mut py = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl,sys; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
        ])
        .arg(&lock)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(py.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(
        matches!(&err, RestoreError::DatabaseInUse { path, who } if *path == lock && who.contains(&py.id().to_string())),
        "{err}"
    );
    drop(py.stdin.take());
    py.wait().unwrap();
    assert_eq!(picture(&h.layout.data_dir()), after, "data untouched");
    assert_eq!(h.layout.current().unwrap(), Current::Upgrade(n("v2")));
    restore_it(&h, &b.path).unwrap();
}

#[test]
fn restore_refuses_during_a_swap_another_homes_backup_and_a_missing_binary() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    let j = Journal::new(&h.layout);
    j.write_step(&crate::journal::SwapRecord {
        name: n("v3"),
        height: 200,
        kind: switchyard_core::UpgradeKind::Plan,
        info: String::new(),
        from: Current::Upgrade(n("v2")),
        step: crate::journal::SwapStep::BackingUp,
        started_at: now_rfc3339(),
    })
    .unwrap();
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(matches!(err, RestoreError::SwapPending { .. }), "{err}");
    j.finish_swap().unwrap();

    let other = Home::new();
    let err = restore_it(&other, &b.path).unwrap_err();
    assert!(matches!(err, RestoreError::ForeignBackup { .. }), "{err}");

    fs::remove_file(h.layout.binary_of(&Current::Genesis)).unwrap();
    let err = restore_it(&h, &b.path).unwrap_err().to_string();
    assert!(err.contains("genesis/bin/simd"), "{err}");
    assert!(restore::pending(&h.layout).unwrap().is_none());
}

#[test]
fn a_backup_without_a_record_needs_its_binary_named() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    // cosmovisor's backup: the same data, no record.
    let cosmovisor = h.home().join("data-backup-2026-11-22");
    fs::rename(&b.path, &cosmovisor).unwrap();
    fs::remove_file(cosmovisor.join(META_FILE)).unwrap();
    fs::remove_file(cosmovisor.join(MANIFEST_FILE)).unwrap();
    let err = restore_it(&h, &cosmovisor).unwrap_err();
    assert!(matches!(err, RestoreError::NoRecord { .. }), "{err}");
    assert!(err.to_string().contains("--current"), "{err}");
    let r = restore::restore(
        &RestoreRequest {
            layout: &h.layout,
            backup: &cosmovisor,
            current: Some(Current::Genesis),
        },
        &|_| {},
    )
    .unwrap();
    // Its height came from the upgrade-info.json the node wrote before the backup.
    assert_eq!(r.forgotten, [n("v2")]);
    assert_eq!(h.layout.current().unwrap(), Current::Genesis);
}

#[test]
fn restore_replaces_the_folder_a_data_symlink_points_at() {
    let h = Home::new();
    let (b, after) = upgraded(&h);
    let real = h.home().join("disk2/node-data");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::rename(h.layout.data_dir(), &real).unwrap();
    std::os::unix::fs::symlink(&real, h.layout.data_dir()).unwrap();
    let r = restore_it(&h, &b.path).unwrap();
    assert!(fs::symlink_metadata(h.layout.data_dir())
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(r.data, fs::canonicalize(&real).unwrap());
    assert_eq!(picture(&real), expected_restored(&b.path, &after));
    let aside = r.set_aside.unwrap();
    assert_eq!(
        aside.parent().unwrap(),
        fs::canonicalize(real.parent().unwrap()).unwrap()
    );
    assert_eq!(picture(&aside), after);
}

#[test]
fn restore_into_a_home_without_data() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    fs::rename(h.layout.data_dir(), h.home().join("moved")).unwrap();
    let r = restore_it(&h, &b.path).unwrap();
    assert_eq!(r.set_aside, None);
    assert_eq!(r.validator_state, Some(Choice::Backup));
    assert_eq!(picture(&h.layout.data_dir()), content_of(&b.path));
}

#[test]
fn a_restore_that_does_not_fit_is_refused_before_anything_is_written() {
    // The home on a small filesystem, the backup (a full copy) elsewhere.
    let small = Tmpfs::mount("70m");
    let layout = Layout::new(small.path(), "simd");
    node_data(&layout.data_dir(), 4, 8 * 1024);
    let bin = layout.binary_of(&Current::Genesis);
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::write(&bin, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let b = take(
        &BackupRequest {
            layout: &layout,
            backup_root: elsewhere.path(),
            from: &Current::Genesis,
            upgrade: &n("v2"),
            upgrade_height: 100,
            swap_started_at: None,
        },
        &|_| {},
    )
    .unwrap();
    fs::write(small.path().join("filler"), vec![0u8; 40 << 20]).unwrap();
    let before = picture(small.path());
    let err = restore::restore(
        &RestoreRequest {
            layout: &layout,
            backup: &b.path,
            current: None,
        },
        &|_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, RestoreError::Backup(BackupError::NoSpace { .. })),
        "{err}"
    );
    assert_eq!(picture(small.path()), before);
}

#[test]
fn a_restore_killed_at_any_point_leaves_a_complete_data_folder_and_finishes_next_time() {
    for point in restore::FAULT_POINTS {
        let h = Home::new();
        let (b, after) = upgraded(&h);
        let restored = expected_restored(&b.path, &after);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            restore::restore(
                &RestoreRequest {
                    layout: &h.layout,
                    backup: &b.path,
                    current: None,
                },
                &|p| {
                    if p == *point {
                        panic!("killed at {p}")
                    }
                },
            )
        }));
        assert!(crashed.is_err(), "{point}");
        let now = picture(&h.layout.data_dir());
        assert!(
            now == after || now == restored,
            "{point}: data/ is neither the old nor the restored tree"
        );
        assert!(restore::pending(&h.layout).unwrap().is_some(), "{point}");
        let rec = restore::recover(&h.layout, &|_| {}).unwrap();
        match (&rec, now == after) {
            (Recovered::RolledBack { .. }, true) => {
                assert_eq!(picture(&h.layout.data_dir()), after, "{point}");
                restore_it(&h, &b.path).unwrap();
            }
            (Recovered::Finished(_), false) => {}
            other => panic!("{point}: {other:?}"),
        }
        assert_eq!(picture(&h.layout.data_dir()), restored, "{point}");
        assert_eq!(h.layout.current().unwrap(), Current::Genesis, "{point}");
        assert!(!Journal::new(&h.layout)
            .applied_map()
            .unwrap()
            .contains_key(&n("v2")));
        let asides: Vec<_> = names_in(h.home())
            .into_iter()
            .filter(|n| n.starts_with("data-before-restore-"))
            .collect();
        assert_eq!(asides.len(), 1, "{point}: {asides:?}");
        assert_eq!(picture(&h.home().join(&asides[0])), after, "{point}");
        assert!(!names_in(h.home()).iter().any(|n| n.ends_with(".partial")));
        assert!(restore::pending(&h.layout).unwrap().is_none());
    }
}

#[test]
fn the_replaced_data_can_be_put_back_to_undo_a_restore() {
    let h = Home::new();
    let (b, after) = upgraded(&h);
    let r = restore_it(&h, &b.path).unwrap();
    assert_eq!(r.forgotten, [n("v2")]);
    record_applied(&h, "v2", 100);
    // The data set aside is the state after v2 (its upgrade-info.json names v2), run by v2.
    let undo = restore::restore(
        &RestoreRequest {
            layout: &h.layout,
            backup: &r.set_aside.unwrap(),
            current: Some(Current::Upgrade(n("v2"))),
        },
        &|_| {},
    )
    .unwrap();
    assert!(undo.forgotten.is_empty(), "v2 is applied in that data");
    assert_eq!(picture(&h.layout.data_dir()), after);
    assert_eq!(h.layout.current().unwrap(), Current::Upgrade(n("v2")));
}

/// A 2 GiB sparse file holding 2 MiB of data, in the middle of `data/` (not a table: copied).
fn sparse_file(data: &Path) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let p = data.join("snapshots/chunk.bin");
    let f = fs::File::create(&p).unwrap();
    f.set_len(2 << 30).unwrap();
    f.write_all_at(&bytes(77, 1 << 20), 512 << 20).unwrap();
    f.write_all_at(&bytes(78, 1 << 20), (2 << 30) - (1 << 20))
        .unwrap();
    f.sync_all().unwrap();
    p
}

fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).unwrap().blocks() * 512
}

#[test]
fn a_sparse_file_costs_its_data_blocks_and_its_copy_stays_sparse() {
    let h = Home::new();
    let file = sparse_file(&h.layout.data_dir());
    assert!(allocated(&file) < 4 << 20, "the test file is sparse");
    // 100 MiB: far less than the file's length, more than its data and the margin.
    let small = Tmpfs::mount("100m");
    let e = estimate(&h.layout.data_dir(), small.path()).unwrap();
    assert!(e.fits, "{e:?}");
    assert!(e.needed_bytes < MARGIN_MIN_BYTES + (8 << 20), "{e:?}");
    let b = h.take_into(small.path()).unwrap();
    let copy = b.path.join("snapshots/chunk.bin");
    assert_eq!(fs::metadata(&copy).unwrap().len(), 2 << 30);
    assert!(
        allocated(&copy) < 4 << 20,
        "the copy allocates {} bytes",
        allocated(&copy)
    );
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(&copy).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    f.seek(SeekFrom::Start(512 << 20)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf == bytes(77, 1 << 20));
    f.seek(SeekFrom::Start((2 << 30) - (1 << 20))).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf == bytes(78, 1 << 20));
    f.seek(SeekFrom::Start(1 << 30)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 0), "a hole reads as zeros");
}

fn restore_as(
    h: &Home,
    b: &Path,
    current: Option<Current>,
) -> Result<restore::Restored, RestoreError> {
    restore::restore(
        &RestoreRequest {
            layout: &h.layout,
            backup: b,
            current,
        },
        &|_| {},
    )
}

#[test]
fn only_a_backup_of_this_node_is_restored() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    let data_before = picture(&h.layout.data_dir());
    let any = h.home().join("some-folder");
    fs::create_dir_all(any.join("x")).unwrap();
    fs::write(any.join("x/file"), "not a node's data").unwrap();
    // A folder with node-like data and a cosmovisor-like name, but no record, named by path.
    let lookalike = h.home().join("data-backup-of-mine");
    fs::create_dir_all(lookalike.join("application.db")).unwrap();
    for (dir, current) in [
        (any.clone(), Some(Current::Genesis)),
        (any.clone(), None),
        (h.layout.data_dir(), Some(Current::Genesis)),
        (h.home().join("cosmovisor"), Some(Current::Genesis)),
        (lookalike.clone(), Some(Current::Genesis)),
    ] {
        let err = restore_as(&h, &dir, current).unwrap_err();
        assert!(
            matches!(err, RestoreError::NoRecord { .. }),
            "{}: {err}",
            dir.display()
        );
        assert!(
            err.to_string().contains("not a backup of this node"),
            "{err}"
        );
    }
    // A record that cannot be read is no record, even with --current.
    let corrupt = h.home().join("data-backup-20261122T140502Z-v9");
    fs::create_dir_all(&corrupt).unwrap();
    fs::write(corrupt.join(META_FILE), "{nope").unwrap();
    let err = restore_as(&h, &corrupt, Some(Current::Genesis)).unwrap_err();
    assert!(matches!(err, RestoreError::NoRecord { .. }), "{err}");
    assert_eq!(
        picture(&h.layout.data_dir()),
        data_before,
        "data/ untouched"
    );
    assert!(restore::pending(&h.layout).unwrap().is_none());
    // The real one still restores.
    restore_it(&h, &b.path).unwrap();
}

#[test]
fn a_backup_missing_files_of_its_record_is_refused_before_data_is_touched() {
    let h = Home::new();
    let (b, _) = upgraded(&h);
    assert!(b.meta.files.is_some_and(|n| n > 60), "{:?}", b.meta.files);
    fs::remove_file(b.path.join("application.db/CURRENT")).unwrap();
    fs::remove_file(b.path.join("application.db/000013.ldb")).unwrap();
    let data_before = picture(&h.layout.data_dir());
    let current_before = h.layout.current().unwrap();
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("application.db/CURRENT: missing")
            && msg.contains("application.db/000013.ldb: missing"),
        "{msg}"
    );
    assert_eq!(
        picture(&h.layout.data_dir()),
        data_before,
        "data/ untouched"
    );
    assert_eq!(h.layout.current().unwrap(), current_before);
    assert!(restore::pending(&h.layout).unwrap().is_none());
    let parent = h.layout.data_dir().parent().unwrap().to_path_buf();
    assert!(
        !names_in(&parent).iter().any(|n| n.contains("restore")),
        "{:?}",
        names_in(&parent)
    );

    // A backup from before the file list: its record's file count is checked.
    fs::remove_file(b.path.join(MANIFEST_FILE)).unwrap();
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("its record counts"), "{err}");
}

#[test]
fn a_table_written_in_place_in_data_after_the_backup_makes_the_backup_refused() {
    use std::io::Write;
    let h = Home::new();
    let (b, _) = upgraded(&h);
    let t = "blockstore.db/000012.ldb";
    let data = h.layout.data_dir();
    assert_eq!(
        ino(&data.join(t)),
        ino(&b.path.join(t)),
        "{t} is hard-linked"
    );
    // What `cp other.ldb data/blockstore.db/000012.ldb` does: open, truncate, write.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(data.join(t))
        .unwrap();
    f.write_all(&bytes(999, 3000)).unwrap();
    drop(f);
    assert_eq!(
        fs::read(b.path.join(t)).unwrap(),
        bytes(999, 3000),
        "the link changed too"
    );
    let err = restore_it(&h, &b.path).unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains(t), "{err}");

    // What `rsync --inplace` does with a file of the same length: the inode and the length
    // agree with the record, the modification time does not.
    let h2 = Home::new();
    let (b2, _) = upgraded(&h2);
    let data2 = h2.layout.data_dir();
    let len = fs::metadata(data2.join(t)).unwrap().len() as usize;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(data2.join(t))
        .unwrap();
    f.write_all(&bytes(1234, len)).unwrap();
    drop(f);
    let err = restore_it(&h2, &b2.path).unwrap_err();
    assert!(
        err.to_string().contains("modified since it was backed up"),
        "{err}"
    );
}

#[test]
fn a_backup_stamped_in_the_future_does_not_make_retention_remove_the_one_just_taken() {
    let h = Home::new();
    let root = h.home().join("backups");
    let first = h.take_into(&root).unwrap();
    // Taken while the clock was a long way ahead.
    let future = root.join(meta::backup_name("20991122T000000Z", &n("v2")));
    fs::rename(&first.path, &future).unwrap();
    let now = take(
        &BackupRequest {
            layout: &h.layout,
            backup_root: &root,
            from: &Current::Genesis,
            upgrade: &n("v3"),
            upgrade_height: 200,
            swap_started_at: Some("2026-12-07T23:00:00Z"),
        },
        &|_| {},
    )
    .unwrap();
    assert!(
        now.meta.sequence > first.meta.sequence,
        "{} {}",
        now.meta.sequence,
        first.meta.sequence
    );
    let removed = prune(
        &root,
        h.home(),
        NonZeroUsize::new(1).unwrap(),
        Some("2026-12-07T23:00:00Z"),
    )
    .unwrap();
    assert_eq!(removed, vec![future.clone()]);
    assert!(now.path.is_dir() && !future.exists());
    // The newest is the one with the highest sequence, not the latest stamp.
    let ours = of_home(&root, h.home()).unwrap();
    assert_eq!(ours.last().map(|e| e.path.clone()), Some(now.path.clone()));
}
