//! The signals switchyard handles: SIGTERM, SIGINT and SIGQUIT stop the node (forwarded, then
//! the usual grace and SIGKILL) and end supervision; SIGHUP is forwarded and supervision goes on.

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind as TokioKind};

/// What a received signal means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Pass it on, keep supervising.
    Forward,
    /// Pass it on and end supervision once the node is down.
    Stop,
}

/// A received signal.
#[derive(Debug, Clone, Copy)]
pub struct Received(Signal);

impl Received {
    pub fn signal(self) -> Signal {
        self.0
    }
    pub fn kind(self) -> SignalKind {
        match self.0 {
            Signal::SIGHUP => SignalKind::Forward,
            _ => SignalKind::Stop,
        }
    }
}

/// The installed handlers.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(TokioKind::terminate())?,
            int: signal(TokioKind::interrupt())?,
            hup: signal(TokioKind::hangup())?,
            quit: signal(TokioKind::quit())?,
        })
    }

    /// The next signal received.
    pub async fn next(&mut self) -> Option<Received> {
        tokio::select! {
            s = self.term.recv() => s.map(|_| Received(Signal::SIGTERM)),
            s = self.int.recv() => s.map(|_| Received(Signal::SIGINT)),
            s = self.hup.recv() => s.map(|_| Received(Signal::SIGHUP)),
            s = self.quit.recv() => s.map(|_| Received(Signal::SIGQUIT)),
        }
    }
}
