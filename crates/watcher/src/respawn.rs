//! Keeping a background task alive: a panic inside one of the watcher's loops (a bug, or an
//! answer from the network no decoder foresaw) must not leave the supervisor blind.
//!
//! [`respawn_on_panic`] runs the task in its own tokio task, and when that task panics it logs
//! the panic's message as an error, tells the owner (so the view can show it), waits, and starts a
//! fresh copy. A task that returns normally is not restarted. Aborting the task that runs
//! `respawn_on_panic` (the owner was dropped) aborts the inner task too.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// Aborts the task when dropped, so cancelling the supervisor cancels the supervised.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `make()` until it returns normally, restarting it `delay` after each panic; `on_panic`
/// is called with the panic's message first. Call inside a tokio runtime.
pub(crate) async fn respawn_on_panic<F, Fut>(
    what: &'static str,
    delay: Duration,
    mut make: F,
    mut on_panic: impl FnMut(&str),
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let mut task = AbortOnDrop(tokio::spawn(make()));
        match (&mut task.0).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let msg = panic_message(e.into_panic());
                tracing::error!("{what} panicked: {msg}; restarting it in {delay:?}");
                on_panic(&msg);
                tokio::time::sleep(delay).await;
            }
            // Cancelled from outside: nothing to restart.
            Err(_) => return,
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic without a message".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_panicking_task_is_reported_and_restarted_until_it_returns() {
        let runs = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let (r, s) = (runs.clone(), seen.clone());
        respawn_on_panic(
            "test task",
            Duration::from_millis(1),
            move || {
                let r = r.clone();
                async move {
                    let n = r.fetch_add(1, Ordering::SeqCst);
                    if n < 2 {
                        panic!("run {n} failed");
                    }
                }
            },
            move |m| s.lock().unwrap().push(m.to_string()),
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(*seen.lock().unwrap(), vec!["run 0 failed", "run 1 failed"]);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_the_task() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let outer = tokio::spawn(respawn_on_panic(
            "test task",
            Duration::from_millis(1),
            move || {
                let tx = tx.clone();
                async move {
                    let _keep = tx;
                    std::future::pending::<()>().await
                }
            },
            |_| {},
        ));
        tokio::task::yield_now().await;
        outer.abort();
        // The inner task held the only sender: once it is aborted the channel closes.
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the inner task was aborted with its supervisor");
    }
}
