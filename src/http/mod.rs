//! The status API and `/metrics`: a small read-only HTTP/1.1 server, off unless
//! `SWITCHYARD_LISTEN` is set (loopback only unless `SWITCHYARD_LISTEN_ALLOW_REMOTE=true`; the
//! configuration refuses anything else).
//!
//! Connections are not capped by a wait: at the limit the oldest one waiting for a request makes
//! room, so probes are answered beside any number of slow or idle clients.
//!
//! It runs on a thread and runtime of its own, so the supervision loop (and the swap) never
//! waits on a request; it reads the shared [`Live`] state and never changes anything. Endpoints
//! ([`routes`]): `GET /metrics`, `GET /status`, `GET /healthz`, `GET /readyz`. The upgrade
//! report in `/status` and the readiness gauges are kept fresh by [`refresh`], on the same
//! thread.

mod refresh;
mod routes;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use switchyard_store::Layout;
use switchyard_watcher::ChainView;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::live::Live;

/// Connections held open at once. At the limit the oldest connection that is waiting for a
/// request (idle keep-alive, or a client still sending its headers) is closed to make room, so
/// a probe's connection is always served; one with a request in hand is never closed for it.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection is kept (hyper's header timer also runs while a connection waits for its next
/// request). A probe sends its few headers at once; a slow client is cut off after this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest any one connection is kept, whatever it does.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// Binds `addr` now (so a taken port is an error at startup) and serves from a thread of its
/// own until the process ends.
pub(crate) fn spawn(
    addr: SocketAddr,
    live: &'static Live,
    view: Option<watch::Receiver<ChainView>>,
    cfg: &Config,
    layout: &Layout,
) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("SWITCHYARD_LISTEN={addr}: cannot listen there"))?;
    listener
        .set_nonblocking(true)
        .context("setting up the status listener")?;
    let bound = listener.local_addr().context("the status listener")?;
    let refresher = refresh::Refresher::new(cfg, layout.clone());
    std::thread::Builder::new()
        .name("switchyard-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("the status listener cannot start its runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                if let Some(view) = view {
                    tokio::spawn(refresh::follow_chain(live, view.clone()));
                    tokio::spawn(refresher.run(live, view));
                }
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => serve(l, live).await,
                    Err(e) => tracing::error!("the status listener cannot start: {e}"),
                }
            })
        })
        .context("starting the status listener's thread")?;
    tracing::info!("status API and /metrics on http://{bound}");
    Ok(bound)
}

async fn serve(listener: tokio::net::TcpListener, live: &'static Live) {
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors, typically: make room, then try again.
                tracing::debug!("status listener: accept: {e}");
                lock(&open).close_one_waiting();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = lock(&open).admit();
        let open = open.clone();
        tokio::spawn(async move {
            let busy = conn.busy.clone();
            let svc = hyper::service::service_fn(move |req| {
                let busy = busy.clone();
                async move {
                    busy.store(true, Ordering::SeqCst);
                    let r = routes::handle(live, req).await;
                    busy.store(false, Ordering::SeqCst);
                    r
                }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = served => {}
                _ = conn.closed.cancelled() => {}
                _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
            }
            lock(&open).forget(conn.id);
        });
    }
}

fn lock(open: &Mutex<OpenConnections>) -> std::sync::MutexGuard<'_, OpenConnections> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

/// One open connection, as the listener keeps track of it.
#[derive(Clone)]
struct Connection {
    id: u64,
    /// A request is being answered on it.
    busy: Arc<AtomicBool>,
    /// Cancelled to close it.
    closed: CancellationToken,
}

/// The open connections, oldest first.
#[derive(Default)]
struct OpenConnections {
    next_id: u64,
    open: VecDeque<Connection>,
}

impl OpenConnections {
    /// Takes a new connection, first closing the oldest waiting one when the limit is reached.
    fn admit(&mut self) -> Connection {
        if self.open.len() >= MAX_CONNECTIONS {
            self.close_one_waiting();
        }
        self.next_id += 1;
        let c = Connection {
            id: self.next_id,
            busy: Arc::new(AtomicBool::new(false)),
            closed: CancellationToken::new(),
        };
        self.open.push_back(c.clone());
        c
    }

    /// Closes the oldest connection without a request in hand, if there is one.
    fn close_one_waiting(&mut self) {
        if let Some(i) = self
            .open
            .iter()
            .position(|c| !c.busy.load(Ordering::SeqCst))
        {
            if let Some(c) = self.open.remove(i) {
                c.closed.cancel();
            }
        }
    }

    /// A connection ended.
    fn forget(&mut self, id: u64) {
        self.open.retain(|c| c.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_oldest_waiting_connection_makes_room_and_a_busy_one_never_does() {
        let mut open = OpenConnections::default();
        let first = open.admit();
        first.busy.store(true, Ordering::SeqCst);
        let rest: Vec<_> = (1..MAX_CONNECTIONS).map(|_| open.admit()).collect();
        let newest = open.admit();
        assert!(
            !first.closed.is_cancelled(),
            "a connection answering a request was closed"
        );
        assert!(
            rest[0].closed.is_cancelled(),
            "the oldest waiting one is closed"
        );
        assert!(rest[1..].iter().all(|c| !c.closed.is_cancelled()));
        assert!(!newest.closed.is_cancelled());
        assert_eq!(open.open.len(), MAX_CONNECTIONS);
        open.forget(newest.id);
        assert_eq!(open.open.len(), MAX_CONNECTIONS - 1);
    }

    #[test]
    fn when_every_connection_is_busy_nothing_is_closed() {
        let mut open = OpenConnections::default();
        let all: Vec<_> = (0..MAX_CONNECTIONS).map(|_| open.admit()).collect();
        for c in &all {
            c.busy.store(true, Ordering::SeqCst);
        }
        open.admit();
        assert!(all.iter().all(|c| !c.closed.is_cancelled()));
    }
}
