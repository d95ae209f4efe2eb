//! The home's run lock (`cosmovisor/switchyard/run.lock`): one process at a time drives a node
//! home. `run` holds it for as long as it supervises; `restore-backup` holds it while it puts a
//! backup back, so neither can start while the other works.

use std::path::PathBuf;

use crate::layout::Layout;

/// The lock, released when dropped (or when the process ends, however it ends).
pub type RunLock = nix::fcntl::Flock<std::fs::File>;

#[derive(Debug, thiserror::Error)]
pub enum RunLockError {
    /// Another process holds it.
    #[error("another switchyard holds {path}")]
    Held { path: PathBuf },
    #[error("locking {path}: {source}")]
    Io {
        path: PathBuf,
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
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(RunLockError::Held { path }),
        Err((_, e)) => Err(io(std::io::Error::from(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let first = lock_run(&layout).unwrap();
        assert!(matches!(lock_run(&layout), Err(RunLockError::Held { .. })));
        drop(first);
        lock_run(&layout).unwrap();
    }
}
