//! Tests of taking and pruning backups on data folders shaped like a node's.

use std::fs;
use std::num::NonZeroUsize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use switchyard_core::{Current, UpgradeName};

use super::testutil::*;
use super::*;
use crate::journal::now_rfc3339;

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

    fn take_with(&self, root: &Path, fault: &dyn Fn(&str)) -> Result<Backup, BackupError> {
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

    let removed = prune(&root, h.home(), NonZeroUsize::new(2).unwrap()).unwrap();
    assert_eq!(removed, vec![ours[0].clone()]);
    assert!(!ours[0].exists() && ours[1].is_dir() && ours[2].is_dir());
    assert!(cosmovisor.is_dir() && foreign.is_dir());
    assert!(prune(&root, h.home(), NonZeroUsize::new(2).unwrap())
        .unwrap()
        .is_empty());
    let removed = prune(&root, h.home(), NonZeroUsize::new(1).unwrap()).unwrap();
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
