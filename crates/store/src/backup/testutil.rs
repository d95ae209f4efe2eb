//! Test helpers: a data folder shaped like a real node's, a byte-exact picture of a tree, and
//! small filesystems (a tmpfs mounted for the test, or `/dev/shm`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped. Needs root and `mount`;
/// a test that needs a small filesystem fails (never skips) without them.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("this test needs `mount` (util-linux) to make a small tmpfs");
        assert!(
            out.status.success(),
            "this test needs root to mount a {size} tmpfs on {}: {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A fresh folder in `/dev/shm`, which must be another filesystem than the temporary folder the
/// data lives in (the test fails, rather than skips, where it is not).
pub(crate) fn other_device_dir(than: &Path) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let d = tempfile::tempdir_in(shm).expect("this test needs a writable /dev/shm (a tmpfs)");
    assert_ne!(
        fs::metadata(d.path()).unwrap().dev(),
        fs::metadata(than).unwrap().dev(),
        "this test needs /dev/shm to be another filesystem than {}",
        than.display()
    );
    d
}

/// Deterministic bytes (xorshift), so every file differs and nothing compresses by accident.
pub(crate) fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn put(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// The databases of a node's `data/` (LevelDB ones with `.ldb` tables, one PebbleDB-shaped one
/// with `.sst` tables and `OPTIONS-*`).
pub(crate) const LEVELDBS: &[&str] = &[
    "application.db",
    "blockstore.db",
    "state.db",
    "tx_index.db",
    "evidence.db",
    "snapshots/metadata.db",
];
pub(crate) const PEBBLEDB: &str = "pebble.db";

/// Fills `data` like a node's data folder: each database has `tables` table files of a few KiB
/// to `max_table` bytes, a write-ahead log, `MANIFEST-*`, `CURRENT`, `LOG`, `LOCK`; plus the
/// consensus WAL, `priv_validator_state.json` and `upgrade-info.json`.
pub(crate) fn node_data(data: &Path, tables: usize, max_table: usize) {
    let mut seed = 1;
    let mut next = || {
        seed += 1;
        seed
    };
    for db in LEVELDBS.iter().copied().chain([PEBBLEDB]) {
        let d = data.join(db);
        let ext = if db == PEBBLEDB { "sst" } else { "ldb" };
        for i in 0..tables {
            let s = next();
            let len = 1024 + (s as usize * 7919) % max_table.max(1025);
            put(&d.join(format!("{:06}.{ext}", 10 + i)), &bytes(s, len));
        }
        put(&d.join("000009.log"), &bytes(next(), 4096));
        put(&d.join("MANIFEST-000008"), &bytes(next(), 700));
        put(&d.join("CURRENT"), b"MANIFEST-000008\n");
        put(&d.join("LOG"), b"2026/11/22-14:05:02.000000 opened\n");
        put(&d.join("LOCK"), b"");
        if db == PEBBLEDB {
            put(
                &d.join("OPTIONS-000007"),
                b"[Version]\n  pebble_version=0.1\n",
            );
        }
    }
    put(&data.join("cs.wal/wal"), &bytes(next(), 9000));
    put(
        &data.join("priv_validator_state.json"),
        br#"{"height":"99","round":0,"step":3}"#,
    );
    put(
        &data.join("upgrade-info.json"),
        br#"{"name":"v2","time":"0001-01-01T00:00:00Z","height":100}"#,
    );
    fs::set_permissions(
        data.join("priv_validator_state.json"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::set_permissions(data, fs::Permissions::from_mode(0o700)).unwrap();
}

/// What a compaction and some more blocks do to a data folder: logs and manifests appended to
/// in place, `CURRENT` and the validator state rewritten, old tables deleted, new ones written.
pub(crate) fn compact(data: &Path) {
    use std::io::Write;
    for db in LEVELDBS.iter().copied().chain([PEBBLEDB]) {
        let d = data.join(db);
        for f in ["000009.log", "MANIFEST-000008", "LOG"] {
            let mut h = fs::OpenOptions::new().append(true).open(d.join(f)).unwrap();
            h.write_all(b"appended by the node after the backup")
                .unwrap();
        }
        fs::write(d.join("CURRENT"), b"MANIFEST-000099\n").unwrap();
        let ext = if db == PEBBLEDB { "sst" } else { "ldb" };
        let _ = fs::remove_file(d.join(format!("000010.{ext}")));
        let _ = fs::remove_file(d.join(format!("000011.{ext}")));
        put(&d.join(format!("000500.{ext}")), &bytes(500, 5000));
    }
    // Truncated and rewritten in place, as a WAL segment can be.
    fs::write(data.join("cs.wal/wal"), b"new").unwrap();
    fs::write(
        data.join("priv_validator_state.json"),
        br#"{"height":"150","round":0,"step":3}"#,
    )
    .unwrap();
}

/// One entry of [`picture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir { mode: u32 },
    File { mode: u32, content: Vec<u8> },
    Symlink(PathBuf),
}

/// Everything under `root`, by relative path: folders and their modes, files with their mode
/// and bytes, symlinks with their targets.
pub(crate) fn picture(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn go(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            let m = fs::symlink_metadata(e.path()).unwrap();
            let mode = m.mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.insert(rel, Node::Symlink(fs::read_link(e.path()).unwrap()));
            } else if m.is_dir() {
                out.insert(rel.clone(), Node::Dir { mode });
                go(root, &rel, out);
            } else {
                let content = fs::read(e.path()).unwrap();
                out.insert(rel, Node::File { mode, content });
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, Path::new(""), &mut out);
    out
}

/// The inode of `p`.
pub(crate) fn ino(p: &Path) -> u64 {
    fs::metadata(p).unwrap().ino()
}
