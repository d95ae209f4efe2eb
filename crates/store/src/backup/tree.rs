//! Walking a folder into the list of what its snapshot is made of, and how each file gets there.
//!
//! - A **table file** — a name ending in `.ldb` (LevelDB) or `.sst` (PebbleDB, RocksDB, old
//!   LevelDB) directly inside a database folder (one named `*.db`, or one holding a `CURRENT`
//!   file) — is hard-linked when it is on the target's filesystem. These databases write a table
//!   once, under a new number, and never change it afterwards: compaction writes new tables and
//!   deletes old ones. Deleting a name leaves the other link, so the snapshot keeps its content.
//! - A **closed consensus-WAL segment** — `cs.wal/wal.NNN` — is linked the same way. CometBFT
//!   appends only to the head, `cs.wal/wal`; when it is full it is renamed to the next
//!   `wal.NNN` and never opened for writing again (segments are read, then deleted when the WAL
//!   exceeds its total size). On a busy chain these are most of the 1 GiB the WAL keeps.
//! - **Every other file** — write-ahead logs (`*.log`, the WAL head `cs.wal/wal`), `MANIFEST-*`,
//!   `CURRENT`, `LOG`, `OPTIONS-*`, `priv_validator_state.json`, `upgrade-info.json`, anything
//!   unknown — is cloned or copied, because it may be changed in place.
//! - Symlinks are recreated as symlinks (their target is not followed); sockets, fifos and
//!   devices are refused, before anything is written.
//!
//! The walk reads only directory entries and their `lstat`; no file is opened. That is what
//! [`super::estimate`] costs: one `readdir` per folder and one `lstat` per entry.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::BackupError;

/// How an entry is reproduced in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    /// An immutable table file (linked when on the target's filesystem).
    Table,
    /// Any other regular file (cloned or copied).
    File,
    /// A symbolic link, with its target as written.
    Symlink(PathBuf),
}

/// One entry of the walked tree.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Path relative to the walked root.
    pub rel: PathBuf,
    pub kind: Kind,
    pub len: u64,
    /// Bytes the file really occupies on its disk (`st_blocks` × 512): less than `len` for a
    /// sparse file, whose holes a copy keeps.
    pub allocated: u64,
    pub dev: u64,
    pub ino: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A walked tree: its root and its entries, every folder before what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub root: PathBuf,
    pub root_item: Item,
    pub items: Vec<Item>,
}

/// What materialising a tree on a filesystem will take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    pub linked_files: u64,
    pub linked_bytes: u64,
    pub copied_files: u64,
    pub copied_bytes: u64,
    /// What the copied files occupy, rounded up to whole blocks, plus one block per folder:
    /// what the target's filesystem will really allocate. A sparse file counts its allocated
    /// blocks, not its length, since the copy keeps its holes.
    pub allocated_bytes: u64,
    /// What the copied files occupy on their own disk, without the folders: what the margin
    /// is taken of.
    pub copied_allocated: u64,
    /// New inodes: copied files, folders and symlinks (a hard link needs none).
    pub inodes: u64,
    /// Table files on another filesystem than the target (so they are copied).
    pub cross_device_tables: u64,
}

/// Whether `name`, inside a database folder, is an immutable table file.
pub(crate) fn is_table_name(name: &str) -> bool {
    (name.ends_with(".ldb") || name.ends_with(".sst")) && name.len() > 4
}

/// Whether `name`, inside `cs.wal/`, is a closed (rotated) consensus-WAL segment: `wal.` and
/// digits. The head, `wal`, is still appended to.
pub(crate) fn is_closed_wal_segment(name: &str) -> bool {
    name.strip_prefix("wal.")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn item(rel: PathBuf, kind: Kind, m: &fs::Metadata) -> Item {
    Item {
        rel,
        kind,
        len: if m.is_file() { m.len() } else { 0 },
        allocated: if m.is_file() {
            m.blocks().saturating_mul(512)
        } else {
            0
        },
        dev: m.dev(),
        ino: m.ino(),
        mtime: (m.mtime(), m.mtime_nsec()),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    }
}

/// Walks `root` (following it if it is itself a symlink, as `data/` often is). Top-level
/// entries named in `skip` are left out.
pub(crate) fn walk(root: &Path, skip: &[&str]) -> Result<Tree, BackupError> {
    let read = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Read { path, source }
    };
    let meta = fs::metadata(root).map_err(read(root))?;
    if !meta.is_dir() {
        return Err(BackupError::NotAFolder(root.to_path_buf()));
    }
    let mut tree = Tree {
        root: root.to_path_buf(),
        root_item: item(PathBuf::new(), Kind::Dir, &meta),
        items: Vec::new(),
    };
    walk_dir(root, Path::new(""), skip, &mut tree.items)?;
    Ok(tree)
}

fn walk_dir(
    root: &Path,
    rel: &Path,
    skip: &[&str],
    out: &mut Vec<Item>,
) -> Result<(), BackupError> {
    let dir = root.join(rel);
    let read = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Read { path, source }
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(&dir).map_err(read(&dir))? {
        let entry = entry.map_err(read(&dir))?;
        let name = entry.file_name();
        if rel.as_os_str().is_empty() && skip.iter().any(|s| name == *s) {
            continue;
        }
        // DirEntry::metadata does not follow symlinks.
        let meta = entry.metadata().map_err(read(&entry.path()))?;
        entries.push((name, meta));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let is_wal = dir_name.as_deref() == Some("cs.wal");
    let is_db = dir_name.is_some_and(|n| n.ends_with(".db"))
        || entries
            .iter()
            .any(|(n, m)| n == "CURRENT" && m.file_type().is_file());
    for (name, meta) in entries {
        let rel = rel.join(&name);
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push(item(rel.clone(), Kind::Dir, &meta));
            walk_dir(root, &rel, skip, out)?;
        } else if ft.is_file() {
            let name = name.to_string_lossy();
            let table = (is_db && is_table_name(&name)) || (is_wal && is_closed_wal_segment(&name));
            let kind = if table { Kind::Table } else { Kind::File };
            out.push(item(rel, kind, &meta));
        } else if ft.is_symlink() {
            let path = root.join(&rel);
            let target = fs::read_link(&path).map_err(read(&path))?;
            out.push(item(rel, Kind::Symlink(target), &meta));
        } else {
            let what = if ft.is_socket() {
                "a socket"
            } else if ft.is_fifo() {
                "a fifo"
            } else {
                "a device"
            };
            return Err(BackupError::SpecialFile {
                path: root.join(rel),
                what,
            });
        }
    }
    Ok(())
}

impl Tree {
    /// The cost of materialising this tree on a filesystem with device id `target_dev` and
    /// allocation unit `block`.
    pub(crate) fn cost(&self, target_dev: u64, block: u64) -> Cost {
        let block = block.max(1);
        let blocks = |n: u64| n.div_ceil(block).saturating_mul(block);
        let mut c = Cost {
            allocated_bytes: block,
            inodes: 1,
            ..Cost::default()
        };
        for i in &self.items {
            match i.kind {
                Kind::Dir => {
                    c.allocated_bytes = c.allocated_bytes.saturating_add(block);
                    c.inodes += 1;
                }
                Kind::Symlink(_) => c.inodes += 1,
                Kind::Table if i.dev == target_dev => {
                    c.linked_files += 1;
                    c.linked_bytes = c.linked_bytes.saturating_add(i.len);
                }
                Kind::Table | Kind::File => {
                    if i.kind == Kind::Table {
                        c.cross_device_tables += 1;
                    }
                    c.copied_files += 1;
                    c.copied_bytes = c.copied_bytes.saturating_add(i.len);
                    // Never more than the length (a preallocated tail is not copied).
                    let used = blocks(i.len).min(blocks(i.allocated));
                    c.copied_allocated = c.copied_allocated.saturating_add(used);
                    c.allocated_bytes = c.allocated_bytes.saturating_add(used);
                    c.inodes += 1;
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_only_inside_database_folders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "application.db/000005.ldb",
            "application.db/MANIFEST-000004",
            "application.db/CURRENT",
            "application.db/000006.log",
            "state/000007.sst",
            "state/CURRENT",
            "loose/000008.sst",
            "snapshots/metadata.db/000009.ldb",
            "priv_validator_state.json",
            "cs.wal/wal",
            "cs.wal/wal.000",
            "cs.wal/wal.017",
            "cs.wal/wal.x",
            "loose/wal.001",
        ] {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        let tree = walk(d, &[]).unwrap();
        let kind = |rel: &str| {
            tree.items
                .iter()
                .find(|i| i.rel == Path::new(rel))
                .map(|i| i.kind.clone())
                .unwrap()
        };
        assert_eq!(kind("application.db/000005.ldb"), Kind::Table);
        assert_eq!(kind("application.db/MANIFEST-000004"), Kind::File);
        assert_eq!(kind("application.db/CURRENT"), Kind::File);
        assert_eq!(kind("application.db/000006.log"), Kind::File);
        assert_eq!(
            kind("state/000007.sst"),
            Kind::Table,
            "a folder with CURRENT"
        );
        assert_eq!(
            kind("loose/000008.sst"),
            Kind::File,
            "not a database folder"
        );
        assert_eq!(kind("snapshots/metadata.db/000009.ldb"), Kind::Table);
        assert_eq!(kind("priv_validator_state.json"), Kind::File);
        assert_eq!(
            kind("cs.wal/wal"),
            Kind::File,
            "the WAL head is appended to"
        );
        assert_eq!(kind("cs.wal/wal.000"), Kind::Table);
        assert_eq!(kind("cs.wal/wal.017"), Kind::Table);
        assert_eq!(kind("cs.wal/wal.x"), Kind::File);
        assert_eq!(kind("loose/wal.001"), Kind::File, "only inside cs.wal/");
        assert_eq!(kind("snapshots"), Kind::Dir);
        // Folders come before what they hold.
        let pos = |rel: &str| tree.items.iter().position(|i| i.rel == Path::new(rel));
        assert!(pos("snapshots") < pos("snapshots/metadata.db"));
        assert!(pos("snapshots/metadata.db") < pos("snapshots/metadata.db/000009.ldb"));
    }

    #[test]
    fn cost_counts_links_on_the_same_device_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("blockstore.db");
        fs::create_dir_all(&db).unwrap();
        fs::write(db.join("000001.ldb"), vec![0u8; 5000]).unwrap();
        fs::write(db.join("MANIFEST-000002"), vec![0u8; 10]).unwrap();
        let tree = walk(dir.path(), &[]).unwrap();
        let dev = tree.root_item.dev;
        let same = tree.cost(dev, 4096);
        assert_eq!((same.linked_files, same.linked_bytes), (1, 5000));
        assert_eq!((same.copied_files, same.copied_bytes), (1, 10));
        // root + blockstore.db + one block for the manifest
        assert_eq!(same.allocated_bytes, 3 * 4096);
        assert_eq!(same.inodes, 3);
        let other = tree.cost(dev.wrapping_add(1), 4096);
        assert_eq!(other.linked_files, 0);
        assert_eq!((other.copied_files, other.copied_bytes), (2, 5010));
        assert_eq!(other.allocated_bytes, 2 * 4096 + 8192 + 4096);
        assert_eq!(other.cross_device_tables, 1);
    }

    #[test]
    fn special_files_are_refused_by_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("node.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = walk(dir.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("node.sock") && err.contains("socket"), "{err}");
    }

    #[test]
    fn skip_applies_to_top_level_names_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("skip.json"), "").unwrap();
        fs::write(dir.path().join("a/skip.json"), "").unwrap();
        let tree = walk(dir.path(), &["skip.json"]).unwrap();
        let rels: Vec<_> = tree.items.iter().map(|i| i.rel.clone()).collect();
        assert_eq!(rels, vec![PathBuf::from("a"), PathBuf::from("a/skip.json")]);
    }
}
