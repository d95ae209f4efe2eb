//! The signals switchyard handles: SIGTERM, SIGINT and SIGQUIT stop the node (forwarded, then
//! the usual grace and SIGKILL) and end supervision; SIGHUP is forwarded and supervision goes on.
//!
//! A task receives them the moment they arrive, whatever the supervision loop is doing, and
//! queues them for the loop ([`Signals::next`]). A stop is also published process-wide and stays
//! set: any long step — a pre-upgrade hook, a version probe, a backup, a read of the halt file —
//! runs under [`unless_stopped`] and is cut short by it, so a stop signal is always answered
//! promptly. systemd hears `STOPPING=1` at once.

use std::future::Future;
use std::sync::OnceLock;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind as TokioKind};
use tokio::sync::{mpsc, watch};

/// What a received signal means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignalKind {
    /// Pass it on, keep supervising.
    Forward,
    /// Pass it on and end supervision once the node is down.
    Stop,
}

/// A received signal.
#[derive(Debug, Clone, Copy)]
pub(super) struct Received(Signal);

impl Received {
    pub(super) fn signal(self) -> Signal {
        self.0
    }
    pub(super) fn kind(self) -> SignalKind {
        match self.0 {
            Signal::SIGHUP => SignalKind::Forward,
            _ => SignalKind::Stop,
        }
    }
}

/// The first stop signal received, once there is one.
fn stop_state() -> &'static watch::Sender<Option<Signal>> {
    static STOP: OnceLock<watch::Sender<Option<Signal>>> = OnceLock::new();
    STOP.get_or_init(|| watch::channel(None).0)
}

/// The installed handlers: signals received, in order, for the loop.
pub(super) struct Signals {
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Signals {
    /// Installs the handlers and starts the task that receives them (inside the runtime).
    pub(super) fn install() -> std::io::Result<Signals> {
        let mut term = signal(TokioKind::terminate())?;
        let mut int = signal(TokioKind::interrupt())?;
        let mut hup = signal(TokioKind::hangup())?;
        let mut quit = signal(TokioKind::quit())?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    Some(()) = term.recv() => Received(Signal::SIGTERM),
                    Some(()) = int.recv() => Received(Signal::SIGINT),
                    Some(()) = hup.recv() => Received(Signal::SIGHUP),
                    Some(()) = quit.recv() => Received(Signal::SIGQUIT),
                    else => return,
                };
                if got.kind() == SignalKind::Stop {
                    crate::notify::stopping();
                    stop_state().send_if_modified(|s| {
                        let first = s.is_none();
                        if first {
                            *s = Some(got.signal());
                        }
                        first
                    });
                }
                if tx.send(got).is_err() {
                    return;
                }
            }
        });
        Ok(Signals { rx })
    }

    /// The next signal received.
    pub(super) async fn next(&mut self) -> Option<Received> {
        self.rx.recv().await
    }
}

/// Resolves once a stop signal has been received (at once if one already was).
pub(super) async fn stopped() -> Signal {
    let mut rx = stop_state().subscribe();
    loop {
        if let Some(sig) = *rx.borrow_and_update() {
            return sig;
        }
        if rx.changed().await.is_err() {
            // The sender is a static: it is never dropped.
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `step` unless a stop signal arrives first (or already arrived): then `step` is dropped,
/// which cancels it (a helper process is killed with its group), and the signal is returned.
pub(super) async fn unless_stopped<F: Future>(step: F) -> Result<F::Output, Signal> {
    tokio::select! {
        biased;
        sig = stopped() => Err(sig),
        out = step => Ok(out),
    }
}
