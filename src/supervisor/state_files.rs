//! The supervisor's own state files (`manual.json`, the journal's `applied.json`), read again
//! only when they changed on disk.
//!
//! The loop asks for them on every turn (each block and each second); reading and parsing them
//! each time was most of the supervisor's idle cost. A file is read again when its stamp (device,
//! inode, size, modification and change times: [`FileStamp`]) differs from the one it had when
//! last read, or it appeared or went away. Both files are written by replacing them (a new file
//! renamed into place, by this process or by `add-upgrade` from another one), which always gives
//! a new inode and change time. A read that failed is not kept: the next turn reads again.

use std::path::{Path, PathBuf};

use switchyard_store::FileStamp;

/// One file's last good read.
pub(super) struct CachedFile<T> {
    path: PathBuf,
    /// The stamp of the file when `value` was read (`None` inside: there was no file).
    read_at: Option<Option<FileStamp>>,
    value: T,
}

impl<T: Clone + Default> CachedFile<T> {
    pub(super) fn new(path: PathBuf) -> Self {
        CachedFile {
            path,
            read_at: None,
            value: T::default(),
        }
    }

    /// The file's content: the last read while the file is unchanged, otherwise `load()`.
    pub(super) fn get<E>(&mut self, load: impl FnOnce(&Path) -> Result<T, E>) -> Result<T, E> {
        let now = stamp(&self.path);
        if self.read_at.as_ref() == Some(&now) {
            return Ok(self.value.clone());
        }
        let value = load(&self.path)?;
        // Stamped before the read and checked after it: after a write during the read nothing
        // is kept, and the next turn reads again.
        self.read_at = Some(now).filter(|s| *s == stamp(&self.path));
        self.value = value.clone();
        Ok(value)
    }
}

/// The file's stamp; `None` when there is no file (or it cannot be looked at: then the read
/// says why).
fn stamp(path: &Path) -> Option<FileStamp> {
    FileStamp::of(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn read_again_only_when_the_file_changed_appeared_or_went_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manual.json");
        let reads = Cell::new(0);
        let load = |p: &Path| -> Result<String, std::io::Error> {
            reads.set(reads.get() + 1);
            match std::fs::read_to_string(p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                other => other,
            }
        };
        let mut f = CachedFile::<String>::new(path.clone());
        assert_eq!(f.get(load).unwrap(), "");
        assert_eq!(f.get(load).unwrap(), "");
        assert_eq!(reads.get(), 1, "an absent file is not looked for twice");
        // Replaced the way the store writes: a new file renamed into place, same size each time.
        for content in ["[1]", "[2]", "[3]"] {
            let tmp = dir.path().join(".tmp");
            std::fs::write(&tmp, content).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            assert_eq!(f.get(load).unwrap(), content);
            assert_eq!(f.get(load).unwrap(), content);
        }
        assert_eq!(reads.get(), 4);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(f.get(load).unwrap(), "");
        assert_eq!(reads.get(), 5);
    }

    #[test]
    fn a_failed_read_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = CachedFile::<String>::new(dir.path().join("applied.json"));
        let reads = Cell::new(0);
        let failing = |_: &Path| -> Result<String, &'static str> {
            reads.set(reads.get() + 1);
            Err("broken")
        };
        assert!(f.get(failing).is_err());
        assert!(f.get(failing).is_err());
        assert_eq!(reads.get(), 2);
    }
}
