//! The home's run lock (`cosmovisor/switchyard/run.lock`): one process at a time drives a node
//! home. `run` holds it for as long as it supervises; `restore-backup` holds it while it puts a
//! backup back, so neither can start while the other works. The holder writes its pid into the
//! file once it holds the lock, so a refused second process can name it.

use std::path::PathBuf;

use crate::layout::Layout;

/// The lock, released when dropped (or when the process ends, however it ends).
pub type RunLock = nix::fcntl::Flock<std::fs::File>;

/// Why the run lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum RunLockError {
    /// Another process holds it (`holder`: the pid it wrote there, when readable).
    #[error("another switchyard{} holds {path}", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held {
        /// The lock file, `run.lock`.
        path: PathBuf,
        /// The pid in the lock file; `None` when it is empty (not written yet), unreadable or
        /// not a number.
        holder: Option<i32>,
    },
    /// Making the state folder, opening the lock file, locking it or writing our pid failed.
    #[error("locking {path}: {source}")]
    Io {
        /// The lock file, `run.lock` (also when making its folder failed).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Takes the lock without waiting.
pub fn lock_run(layout: &Layout) -> Result<RunLock, RunLockError> {
    let dir = layout.state_dir();
    let path = dir.join("run.lock");
    let io = |source| RunLockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            // Only the holder writes, and only once it holds the lock.
            use std::io::Write;
            let mut f: &std::fs::File = &lock;
            f.set_len(0)
                .and_then(|()| writeln!(f, "{}", std::process::id()))
                .map_err(io)?;
            Ok(lock)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(RunLockError::Held {
            holder: holder_of(&path),
            path,
        }),
        Err((_, e)) => Err(io(std::io::Error::from(e))),
    }
}

/// The pid the holder wrote into the lock file (bounded read; `None` if unreadable).
fn holder_of(path: &std::path::Path) -> Option<i32> {
    let bytes = crate::read_untrusted_file(path, 32).ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let first = lock_run(&layout).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(matches!(
            lock_run(&layout),
            Err(RunLockError::Held { holder: Some(p), .. }) if p == me
        ));
        drop(first);
        lock_run(&layout).unwrap();
    }
}
