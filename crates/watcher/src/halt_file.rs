//! Watching the node's `data/upgrade-info.json`, the file the node writes when it halts for a plan.
//!
//! [`HaltFileWatcher::spawn`]`(path, poll_interval, disable_recase)` returns a
//! `tokio::sync::mpsc::Receiver<Result<UpgradeInfo, HaltFileError>>`:
//! - filesystem notifications on the file's folder ([`crate::folder_watch`]: the file may not
//!   exist yet; if the folder does not exist either, the watch is set up once it appears), only
//!   for events that can have changed the file (not its being read, which would wake the watcher
//!   with its own reads, nor the node's other files there), plus polling every `poll_interval`
//!   as a fallback (every 5 s at the least while the notifications are set up);
//! - [`HaltFileWatcher::spawn_attended`] does the same while its caller says a halt may come
//!   soon, and otherwise only polls every 5 s (an idle node's writes in its folder then cost
//!   nothing);
//! - an empty or half-written file ([`UpgradeInfoError::Incomplete`]) is re-read shortly, and only
//!   reported if it stays that way for [`SETTLE`];
//! - each distinct valid content is delivered once (`Ok`); a file that disappears and comes back is
//!   delivered again;
//! - a persistently malformed file is delivered once as `Err` (until its content changes).
//!
//! The task ends when the receiver is dropped.
//!
//! [`read_now`] is the same read, once, for a caller that needs the file's content at a given
//! moment (the supervisor, right after the node exited).
//!
//! Every read goes through [`switchyard_store::read_node_written_file`]: a FIFO, a device, a
//! socket, a folder or a symbolic link at that path (the node writes a regular file there; a
//! link was put by someone else) is refused with an error naming it, never opened in a way that
//! blocks, and at most [`MAX_FILE_BYTES`] + 1 bytes are ever read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_core::{UpgradeInfo, UpgradeInfoError};
use switchyard_store::{read_node_written_file, UntrustedFileError};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::folder_watch::FolderWatch;
use crate::respawn::respawn_on_panic;

/// How long a file may stay incomplete or malformed before it is reported.
pub(crate) const SETTLE: Duration = Duration::from_secs(2);
/// The poll while filesystem notifications watch the folder (it only covers a notification
/// that never came), and while the caller says no halt can come soon.
const WATCHED_POLL: Duration = Duration::from_secs(5);
/// How soon a file in a bad state is read again.
const RETRY: Duration = Duration::from_millis(50);
/// Larger files are refused (the real file is a few hundred bytes).
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why the file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaltFileError {
    /// The file was read but its content is not a usable upgrade-info (bad JSON, no name or
    /// height, a bad name, or still empty or half-written).
    #[error("{path}: {source}")]
    Invalid {
        /// The upgrade-info file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: UpgradeInfoError,
    },
    /// Opening or reading the file failed.
    #[error("{path}: cannot read it: {why}")]
    Io {
        /// The upgrade-info file.
        path: PathBuf,
        /// The I/O error.
        why: String,
    },
    /// The file is larger than 4 MiB; it was not read past that.
    #[error("{path} is larger than {limit} bytes, too large for an upgrade-info file")]
    TooLarge {
        /// The upgrade-info file.
        path: PathBuf,
        /// The size cap, in bytes.
        limit: u64,
    },
    /// Something other than a regular file is at the path (a folder, a FIFO, a device, a
    /// socket); it was not opened in a way that blocks.
    #[error("{path} is {what}, not a regular file; refusing to read it")]
    NotRegular {
        /// The upgrade-info path.
        path: PathBuf,
        /// What is there instead, e.g. `"a FIFO (named pipe)"`.
        what: &'static str,
    },
    /// The path is a symbolic link (dangling or not): the node writes a regular file there, so
    /// someone else put it.
    #[error(
        "{path} is a symbolic link, refusing to read it (the node writes a regular file there)"
    )]
    Symlink {
        /// The upgrade-info path.
        path: PathBuf,
    },
}

impl From<UntrustedFileError> for HaltFileError {
    fn from(e: UntrustedFileError) -> Self {
        match e {
            UntrustedFileError::NotRegular { path, what } => {
                HaltFileError::NotRegular { path, what }
            }
            UntrustedFileError::Symlink { path } => HaltFileError::Symlink { path },
            UntrustedFileError::TooLarge { path, limit } => HaltFileError::TooLarge { path, limit },
            UntrustedFileError::Io { path, source } => HaltFileError::Io {
                path,
                why: source.to_string(),
            },
        }
    }
}

/// Spawns watchers of `upgrade-info.json`; see the module docs.
pub struct HaltFileWatcher;

impl HaltFileWatcher {
    /// Starts watching `path` closely for good (notifications, and the poll). Must be called
    /// inside a tokio runtime.
    pub fn spawn(
        path: PathBuf,
        poll_interval: Duration,
        disable_recase: bool,
    ) -> mpsc::Receiver<Result<UpgradeInfo, HaltFileError>> {
        Self::spawn_attended(path, poll_interval, disable_recase, None)
    }

    /// Starts watching `path`, closely while `closely` says so (it starts closely, and stays so
    /// once its sender is gone): with notifications on the folder and the poll at
    /// `poll_interval`. Otherwise, while the caller knows the node cannot halt soon, the file
    /// is only polled, every 5 s: the node's writes in its folder then wake nothing. Must be
    /// called inside a tokio runtime.
    pub fn spawn_attended(
        path: PathBuf,
        poll_interval: Duration,
        disable_recase: bool,
        closely: Option<watch::Receiver<bool>>,
    ) -> mpsc::Receiver<Result<UpgradeInfo, HaltFileError>> {
        let (tx, rx) = mpsc::channel(16);
        // The watch is set up before returning, so no write after `spawn` can be missed.
        let mut first = Some(watch_dir(&path));
        tokio::spawn(respawn_on_panic(
            "upgrade-info watcher",
            RETRY,
            move || {
                // A restarted loop sets up its own notifications.
                let watch = first.take().unwrap_or_else(|| watch_dir(&path));
                run(
                    path.clone(),
                    poll_interval,
                    disable_recase,
                    tx.clone(),
                    watch,
                    closely.clone(),
                )
            },
            |_| {},
        ));
        rx
    }
}

/// What one read found.
enum Read {
    Absent,
    Valid(UpgradeInfo),
    Bad(HaltFileError),
}

async fn read(path: &Path, disable_recase: bool) -> Read {
    let p = path.to_path_buf();
    let got = tokio::task::spawn_blocking(move || read_node_written_file(&p, MAX_FILE_BYTES))
        .await
        .unwrap_or_else(|e| {
            Err(UntrustedFileError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(format!("reading task failed: {e}")),
            })
        });
    match got {
        Ok(None) => Read::Absent,
        Err(e) => Read::Bad(e.into()),
        Ok(Some(bytes)) => match UpgradeInfo::parse(&bytes, disable_recase) {
            Ok(info) => Read::Valid(info),
            Err(source) => Read::Bad(HaltFileError::Invalid {
                path: path.into(),
                source,
            }),
        },
    }
}

/// Reads the file once, re-reading an empty or half-written one for up to `settle`.
/// `Ok(None)` when there is no file.
pub async fn read_now(
    path: &Path,
    disable_recase: bool,
    settle: Duration,
) -> Result<Option<UpgradeInfo>, HaltFileError> {
    let deadline = Instant::now() + settle;
    loop {
        match read(path, disable_recase).await {
            Read::Absent => return Ok(None),
            Read::Valid(info) => return Ok(Some(info)),
            Read::Bad(HaltFileError::Invalid {
                source: UpgradeInfoError::Incomplete,
                ..
            }) if Instant::now() < deadline => tokio::time::sleep(RETRY).await,
            Read::Bad(e) => return Err(e),
        }
    }
}

async fn run(
    path: PathBuf,
    poll: Duration,
    disable_recase: bool,
    tx: mpsc::Sender<Result<UpgradeInfo, HaltFileError>>,
    watch: Option<FolderWatch>,
    mut closely: Option<watch::Receiver<bool>>,
) {
    let mut fs_watch = watch;
    let mut last_ok: Option<UpgradeInfo> = None;
    let mut last_err: Option<HaltFileError> = None;
    let mut bad_since: Option<Instant> = None;
    loop {
        let close = closely.as_ref().is_none_or(|c| *c.borrow());
        if !close {
            fs_watch = None;
        } else if fs_watch.is_none() {
            fs_watch = watch_dir(&path);
        }
        // With notifications on the folder the poll is only a safety net, and away from a halt
        // the file cannot come soon: a slow poll either way.
        let poll = if fs_watch.is_some() || !close {
            poll.max(WATCHED_POLL)
        } else {
            poll
        };
        let wait = match read(&path, disable_recase).await {
            Read::Absent => {
                last_ok = None;
                last_err = None;
                bad_since = None;
                poll
            }
            Read::Valid(info) => {
                bad_since = None;
                last_err = None;
                if last_ok.as_ref() != Some(&info) {
                    last_ok = Some(info.clone());
                    if tx.send(Ok(info)).await.is_err() {
                        return;
                    }
                }
                poll
            }
            Read::Bad(e) => {
                let since = *bad_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SETTLE && last_err.as_ref() != Some(&e) {
                    last_ok = None;
                    last_err = Some(e.clone());
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                }
                if since.elapsed() >= SETTLE {
                    poll
                } else {
                    RETRY
                }
            }
        };
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = attention_changed(&mut closely) => {}
            change = changed(&mut fs_watch) => {
                // Read at once: every moment here is downtime at a halt. The events already
                // queued are one re-read; a file caught half-written is `Incomplete`, and the
                // writer's next event (or `RETRY`) reads it again. A folder removed or moved,
                // or a lost queue, sets the watch up again.
                let gone = matches!(change, None | Some(crate::folder_watch::Change::Folder));
                if gone || !fs_watch.as_mut().is_some_and(FolderWatch::drain) {
                    fs_watch = None;
                }
            }
        }
    }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Watches the folder of `file` (the file itself may come and go); `None` while the folder
/// does not exist or cannot be watched (then the poll alone reads the file).
fn watch_dir(file: &Path) -> Option<FolderWatch> {
    let dir = folder_of(file);
    if !dir.is_dir() {
        return None;
    }
    FolderWatch::new(&dir, file.file_name()?)
        .map_err(|e| tracing::debug!("cannot watch {}: {e}; polling only", dir.display()))
        .ok()
}

/// Resolves when the caller changes how closely to watch; a caller gone leaves it closely.
async fn attention_changed(closely: &mut Option<watch::Receiver<bool>>) {
    match closely {
        Some(c) => {
            if c.changed().await.is_err() {
                *closely = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// The next change the watch reports; never, without a watch.
async fn changed(watch: &mut Option<FolderWatch>) -> Option<crate::folder_watch::Change> {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(
        rx: &mut mpsc::Receiver<Result<UpgradeInfo, HaltFileError>>,
        within: Duration,
    ) -> Option<Result<UpgradeInfo, HaltFileError>> {
        tokio::time::timeout(within, rx.recv()).await.ok().flatten()
    }

    #[tokio::test]
    async fn notifications_deliver_valid_files_once() {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let file = data.join("upgrade-info.json");
        // Polling is slow on purpose: delivery must come from notifications.
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_secs(60), false);
        std::fs::write(
            &file,
            br#"{"name":"V2","time":"0001-01-01T00:00:00Z","height":100}"#,
        )
        .unwrap();
        let got = next(&mut rx, Duration::from_secs(5))
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!((got.name.as_str(), got.height), ("v2", 100));
        // Rewritten with the same content: no duplicate.
        std::fs::write(
            &file,
            br#"{"name":"V2","time":"0001-01-01T00:00:00Z","height":100}"#,
        )
        .unwrap();
        assert!(next(&mut rx, Duration::from_millis(500)).await.is_none());
        // A new plan is delivered.
        std::fs::write(&file, br#"{"name":"v3","height":"200","info":"x"}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.name.as_str(), got.height, got.info.as_str()),
            ("v3", 200, "x")
        );
    }

    /// Invariant 9. The watcher's own reads must not wake it: before, each read's open woke the
    /// next read, and from a halt on (the file stays) switchyard spun on a core, which slowed the
    /// new node's start by 100-200 ms. Counted with a second watch on the folder: after the first delivery
    /// nothing may open the file again (polling is an hour away). A loaded machine can only make
    /// the broken loop open it fewer times in the half second, not make the fixed one open it.
    #[tokio::test]
    async fn its_own_reads_do_not_wake_it() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("upgrade-info.json");
        std::fs::write(&file, br#"{"name":"v2","height":100}"#).unwrap();
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_secs(3600), false);
        let got = next(&mut rx, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.unwrap().height, 100);
        // Every open of anything in the folder, counted by a second, independent watch.
        let counter = inotify::Inotify::init().unwrap();
        counter
            .watches()
            .add(home.path(), inotify::WatchMask::OPEN)
            .unwrap();
        let mut opens = counter.into_event_stream(vec![0u8; 4096]).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut n = 0;
        while let Some(Some(Ok(ev))) =
            futures_util::FutureExt::now_or_never(futures_util::StreamExt::next(&mut opens))
        {
            if ev.name.as_deref() == file.file_name() {
                n += 1;
            }
        }
        assert_eq!(
            n, 0,
            "upgrade-info.json was read {n} times in 0.5 s with nothing changed"
        );
        drop(rx);
    }

    #[tokio::test]
    async fn away_from_a_halt_the_file_is_polled_slowly_and_read_at_once_when_one_comes_near() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("upgrade-info.json");
        let (closely, rx_closely) = watch::channel(false);
        // The caller's poll interval is short; away from a halt the poll is 5 s all the same.
        let mut rx = HaltFileWatcher::spawn_attended(
            file.clone(),
            Duration::from_millis(20),
            false,
            Some(rx_closely),
        );
        std::fs::write(&file, br#"{"name":"v2","height":100}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(15)).await.unwrap();
        assert_eq!(got.unwrap().height, 100);
        // Written while far from a halt: delivered by the slow poll.
        std::fs::write(&file, br#"{"name":"v2b","height":150}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(15)).await.unwrap();
        assert_eq!(got.unwrap().height, 150);
        // A halt comes near: the file is read at once, notifications watch it from then on.
        std::fs::write(&file, br#"{"name":"v3","height":200}"#).unwrap();
        closely.send(true).unwrap();
        // (The poll that delivered v2 just ran: the next one is 5 s away.)
        let got = next(&mut rx, Duration::from_millis(2500)).await;
        assert_eq!(
            got.expect("read at once, not at the 5 s poll")
                .unwrap()
                .height,
            200
        );
        std::fs::write(&file, br#"{"name":"v4","height":300}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(4)).await;
        assert_eq!(got.expect("by notification").unwrap().height, 300);
        // The caller gone: closely for good.
        drop(closely);
        std::fs::write(&file, br#"{"name":"v5","height":400}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(4)).await;
        assert_eq!(got.expect("by notification").unwrap().height, 400);
    }

    #[tokio::test]
    async fn half_written_file_is_waited_for_and_missing_folder_is_polled() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("data/upgrade-info.json");
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_millis(100), false);
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&file, br#"{"name":"v2","hei"#).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&file, br#"{"name":"v2","height":100}"#).unwrap();
        let got = next(&mut rx, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            got.unwrap().height,
            100,
            "the incomplete states were never reported"
        );
    }

    #[tokio::test]
    async fn persistently_malformed_file_is_one_error() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("upgrade-info.json");
        std::fs::write(&file, br#"{"name":"../x","height":5}"#).unwrap();
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_millis(50), false);
        let got = next(&mut rx, Duration::from_secs(5)).await.unwrap();
        let err = got.unwrap_err();
        assert!(
            matches!(
                err,
                HaltFileError::Invalid {
                    source: UpgradeInfoError::BadName(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade-info.json"), "{err}");
        assert!(
            next(&mut rx, Duration::from_millis(400)).await.is_none(),
            "reported once"
        );
        // Truncated for good: reported after settling.
        std::fs::write(&file, br#"{"name":"v2""#).unwrap();
        let err = next(&mut rx, SETTLE + Duration::from_secs(3))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                HaltFileError::Invalid {
                    source: UpgradeInfoError::Incomplete,
                    ..
                }
            ),
            "{err}"
        );
        // Fixed: delivered.
        std::fs::write(&file, br#"{"name":"v2","height":9}"#).unwrap();
        assert_eq!(
            next(&mut rx, Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap()
                .height,
            9
        );
    }

    /// A FIFO at the path used to block the read forever (and so `run` before the node started,
    /// and `show-upgrade-info`): now it is one error, at once, naming the file.
    #[tokio::test]
    async fn a_fifo_is_an_error_not_a_hang() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("upgrade-info.json");
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), read_now(&file, false, SETTLE))
            .await
            .expect("read_now returned instead of blocking on the FIFO");
        let err = got.unwrap_err();
        assert!(matches!(err, HaltFileError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("upgrade-info.json"), "{err}");
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_millis(50), false);
        let got = next(&mut rx, SETTLE + Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            matches!(got, Err(HaltFileError::NotRegular { .. })),
            "{got:?}"
        );
    }

    /// The node writes this file itself, as a regular file: a symlink put there (to a file the
    /// supervisor may read as root) is refused naming the path, never read through.
    #[tokio::test]
    async fn a_symlink_at_the_file_is_refused() {
        let home = tempfile::tempdir().unwrap();
        let elsewhere = home.path().join("elsewhere.json");
        std::fs::write(&elsewhere, br#"{"name":"v2","height":9}"#).unwrap();
        let file = home.path().join("upgrade-info.json");
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        let err = read_now(&file, false, SETTLE).await.unwrap_err();
        assert!(matches!(err, HaltFileError::Symlink { .. }), "{err}");
        assert!(
            err.to_string().contains("upgrade-info.json")
                && err.to_string().contains("symbolic link"),
            "{err}"
        );
        let mut rx = HaltFileWatcher::spawn(file.clone(), Duration::from_millis(50), false);
        let got = next(&mut rx, SETTLE + Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(got, Err(HaltFileError::Symlink { .. })), "{got:?}");
    }

    /// A link to /dev/zero used to be read without end (the size check saw 0 bytes): now it is
    /// refused (as a link, before anything is opened through it), and a big regular file is
    /// refused at the cap.
    #[tokio::test]
    async fn endless_and_oversized_files_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("upgrade-info.json");
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), read_now(&file, false, SETTLE))
            .await
            .expect("read_now returned instead of reading /dev/zero")
            .unwrap_err();
        assert!(matches!(err, HaltFileError::Symlink { .. }), "{err}");
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_now(&file, false, SETTLE).await.unwrap_err();
        assert!(matches!(err, HaltFileError::TooLarge { .. }), "{err}");
    }
}
