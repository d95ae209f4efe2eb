//! The signals switchyard handles: SIGTERM, SIGINT and SIGQUIT stop the node (forwarded, then
//! the usual grace and SIGKILL) and end supervision; SIGHUP is forwarded and supervision goes on.
//!
//! A task receives them the moment they arrive, whatever the supervision loop is doing, and
//! queues them for the loop ([`Signals::next`]). A stop also triggers the run's one
//! [`Shutdown`]: any long step — a pre-upgrade hook, a version probe, a backup, a read of the
//! halt file, a background download — runs under [`Shutdown::unless`] and is cut short by it, so
//! a stop signal is always answered promptly. systemd hears `STOPPING=1` at once.

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind as TokioKind};
use tokio::sync::mpsc;

use crate::shutdown::Shutdown;

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

/// The installed handlers: signals received, in order, for the loop.
pub(super) struct Signals {
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Signals {
    /// Installs the handlers and starts the task that receives them (inside the runtime); a
    /// stop signal triggers `shutdown`.
    pub(super) fn install(shutdown: &Shutdown) -> std::io::Result<Signals> {
        let shutdown = shutdown.clone();
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
                    shutdown.trigger(got.signal());
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
