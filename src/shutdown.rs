//! The one shutdown of `switchyard run`: every task of the supervisor that can be in the middle
//! of something holds a [`Shutdown`] (the read-only watchers and the status API do not: see
//! ARCHITECTURE.md).
//!
//! A stop signal (SIGTERM, SIGINT, SIGQUIT) triggers it once; from then on every long step that
//! runs under [`Shutdown::unless`] — a pre-upgrade hook, a version probe, a read of the halt
//! file, a download — is cut short: its future is dropped, so a helper process dies with its
//! group and a download's attempt folder is removed with it (nothing is installed
//! half-written). Background tasks are started with [`Shutdown::spawn`] and end at their next
//! await once it is triggered. When supervision ends, [`Shutdown::finish`] triggers it (if no
//! signal did) and waits, bounded, for those tasks to end, so none is dropped in the middle of a
//! write.
//!
//! Modelled on tokio's mini-redis: a cancellation token each task can wait on, and a tracker of
//! the tasks to wait for at the end (both from `tokio-util`).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The handle every task of `run` holds (cheap to clone).
#[derive(Clone, Default)]
pub(crate) struct Shutdown {
    token: CancellationToken,
    /// The stop signal that triggered it (unset when supervision ended for another reason).
    signal: Arc<OnceLock<Signal>>,
    tasks: TaskTracker,
}

impl Shutdown {
    /// A shutdown not yet triggered, with no tasks.
    pub(crate) fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A stop signal arrived: every task is told. Returns whether it was the first.
    pub(crate) fn trigger(&self, sig: Signal) -> bool {
        let first = self.signal.set(sig).is_ok();
        self.token.cancel();
        first
    }

    /// The stop signal received, if one was.
    pub(crate) fn signal(&self) -> Option<Signal> {
        self.signal.get().copied()
    }

    /// Resolves once the shutdown is triggered (at once if it already was).
    pub(crate) async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// Runs `step` unless the shutdown is triggered first (or already was): then `step` is
    /// dropped, which cancels it, and the stop signal is returned (SIGTERM when supervision
    /// ended without one).
    pub(crate) async fn unless<F: Future>(&self, step: F) -> Result<F::Output, Signal> {
        tokio::select! {
            biased;
            () = self.token.cancelled() => Err(self.signal().unwrap_or(Signal::SIGTERM)),
            out = step => Ok(out),
        }
    }

    /// Starts a background task that [`Shutdown::finish`] waits for. The task must end soon
    /// after [`Shutdown::triggered`] resolves.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Runs blocking work (a backup's copy) on a blocking thread that [`Shutdown::finish`] waits
    /// for, so the process does not exit in the middle of it.
    pub(crate) fn spawn_blocking<F, T>(&self, work: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tasks.spawn_blocking(work)
    }

    /// Ends every background task: triggers the shutdown and waits up to `limit` for them.
    /// Returns whether they all ended in time.
    pub(crate) async fn finish(&self, limit: Duration) -> bool {
        self.token.cancel();
        self.tasks.close();
        tokio::time::timeout(limit, self.tasks.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn a_step_runs_to_its_end_unless_a_stop_comes_first() {
        let s = Shutdown::new();
        assert_eq!(s.unless(async { 7 }).await, Ok(7));
        assert!(s.trigger(Signal::SIGINT));
        assert!(!s.trigger(Signal::SIGTERM), "only the first signal counts");
        let never = std::future::pending::<()>();
        assert_eq!(s.unless(never).await, Err(Signal::SIGINT));
        assert_eq!(s.signal(), Some(Signal::SIGINT));
    }

    #[tokio::test]
    async fn finish_waits_for_tasks_that_end_on_the_trigger_and_gives_up_on_the_rest() {
        let s = Shutdown::new();
        let ended = Arc::new(AtomicBool::new(false));
        let (task, flag) = (s.clone(), ended.clone());
        s.spawn(async move {
            task.triggered().await;
            tokio::time::sleep(Duration::from_millis(50)).await; // finishing its write
            flag.store(true, Ordering::SeqCst);
        });
        assert!(s.finish(Duration::from_secs(10)).await);
        assert!(ended.load(Ordering::SeqCst));
        assert_eq!(s.signal(), None, "no signal: supervision ended by itself");

        let s = Shutdown::new();
        s.spawn(std::future::pending::<()>());
        assert!(!s.finish(Duration::from_millis(50)).await);
    }
}
