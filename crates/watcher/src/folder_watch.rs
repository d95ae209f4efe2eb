//! Filesystem notifications for one file name in one folder: an inotify watch on the folder
//! (the file itself may come and go), read in the async runtime itself, with no thread of its
//! own.
//!
//! The node writes other files in the same folder all the time (CometBFT saves
//! `priv_validator_state.json` at every signature, through a temporary file and a rename), so
//! the kernel is asked only for the events that can change what a read of the file finds
//! ([`MASK`]: a write closed, a rename in or out, a deletion, the folder itself removed or
//! moved): opens and reads, the watcher's own included, never wake it, and each of the node's
//! saves wakes it at most twice. Of what arrives, only events naming the file, or the folder
//! itself (its removal, a lost queue), are passed on.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use futures_util::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchMask};

/// The events asked for; see the module docs.
pub(crate) const MASK: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

/// A watch on a folder for changes of the file called `name` in it.
pub(crate) struct FolderWatch {
    name: OsString,
    events: EventStream<Vec<u8>>,
}

/// What woke a [`FolderWatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// An event naming the file.
    File,
    /// The folder itself was removed or moved, or the kernel's queue overflowed: anything may
    /// have changed, and the watch may be gone.
    Folder,
}

impl FolderWatch {
    /// Watches `folder` for changes of `name`. Must be called inside a tokio runtime.
    pub(crate) fn new(folder: &Path, name: &OsStr) -> std::io::Result<FolderWatch> {
        let inotify = Inotify::init()?;
        inotify.watches().add(folder, MASK)?;
        Ok(FolderWatch {
            name: name.to_owned(),
            events: inotify.into_event_stream(vec![0u8; 4096])?,
        })
    }

    /// Waits for the next change of the file; `None` once the watch can say no more (the
    /// folder went away, or reading the notifications failed).
    pub(crate) async fn changed(&mut self) -> Option<Change> {
        loop {
            let ev = self.events.next().await?.ok()?;
            if let Some(change) = concerns(ev.mask, ev.name.as_deref(), &self.name) {
                return Some(change);
            }
        }
    }

    /// Takes in the notifications already waiting, without waiting for more: the read that
    /// follows sees whatever they announced. `false` once the watch can say no more.
    pub(crate) fn drain(&mut self) -> bool {
        use futures_util::FutureExt;
        loop {
            match self.events.next().now_or_never() {
                None => return true,
                Some(Some(Ok(_))) => {}
                Some(_) => return false,
            }
        }
    }
}

/// Whether an event (its mask and the entry it names, if any) concerns the file `name`.
fn concerns(mask: EventMask, entry: Option<&OsStr>, name: &OsStr) -> Option<Change> {
    if mask.intersects(
        EventMask::Q_OVERFLOW | EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED,
    ) {
        return Some(Change::Folder);
    }
    (entry == Some(name)).then_some(Change::File)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NAME: &str = "upgrade-info.json";

    async fn next(w: &mut FolderWatch) -> Option<Change> {
        tokio::time::timeout(Duration::from_secs(10), w.changed())
            .await
            .expect("a change within 10 s")
    }

    /// CometBFT's way of saving its signing state: a new temporary file, then a rename.
    fn save_like_cometbft(dir: &Path, i: usize) {
        let tmp = dir.join(format!("priv_validator_state.json.{i}"));
        std::fs::write(&tmp, format!("{{\"height\":\"{i}\"}}")).unwrap();
        std::fs::rename(&tmp, dir.join("priv_validator_state.json")).unwrap();
    }

    #[tokio::test]
    async fn the_nodes_other_files_do_not_wake_it_and_every_kind_of_write_of_the_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(NAME);
        let mut w = FolderWatch::new(dir.path(), OsStr::new(NAME)).unwrap();
        // Events arrive in order: if any of these saves woke the watch, the first change would
        // be reported before the file below was written.
        for i in 0..20 {
            save_like_cometbft(dir.path(), i);
        }
        std::fs::write(&file, br#"{"name":"v2","height":10}"#).unwrap();
        assert_eq!(next(&mut w).await, Some(Change::File));
        assert!(w.drain());
        // Renamed into place, then deleted.
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, b"{}").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert_eq!(next(&mut w).await, Some(Change::File));
        assert!(w.drain());
        std::fs::remove_file(&file).unwrap();
        assert_eq!(next(&mut w).await, Some(Change::File));
    }

    #[tokio::test]
    async fn reading_the_file_does_not_wake_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(NAME);
        std::fs::write(&file, b"{}").unwrap();
        let mut w = FolderWatch::new(dir.path(), OsStr::new(NAME)).unwrap();
        for _ in 0..20 {
            std::fs::read(&file).unwrap();
        }
        // The same ordering argument: the reads come first.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(next(&mut w).await, Some(Change::File));
        assert!(w.drain());
        // ...and the first event after the deletion is the folder going away.
        drop(dir);
        assert_eq!(next(&mut w).await, Some(Change::Folder));
    }

    #[test]
    fn what_concerns_the_file() {
        let name = OsStr::new(NAME);
        assert_eq!(
            concerns(EventMask::CLOSE_WRITE, Some(name), name),
            Some(Change::File)
        );
        assert_eq!(
            concerns(
                EventMask::MOVED_TO,
                Some(OsStr::new("priv_validator_state.json")),
                name
            ),
            None
        );
        assert_eq!(
            concerns(EventMask::Q_OVERFLOW, None, name),
            Some(Change::Folder)
        );
        assert_eq!(
            concerns(EventMask::DELETE_SELF, None, name),
            Some(Change::Folder)
        );
    }
}
