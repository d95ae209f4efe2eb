//! The status API and `/metrics`: a small read-only HTTP/1.1 server, off unless
//! `SWITCHYARD_LISTEN` is set (loopback only unless `SWITCHYARD_LISTEN_ALLOW_REMOTE=true`; the
//! configuration refuses anything else).
//!
//! It runs on a thread and runtime of its own, so the supervision loop (and the swap) never
//! waits on a request; it reads the shared [`Live`] state and never changes anything. Endpoints
//! ([`routes`]): `GET /metrics`, `GET /status`, `GET /healthz`, `GET /readyz`. The upgrade
//! report in `/status` and the readiness gauges are kept fresh by [`refresh`], on the same
//! thread.

mod refresh;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use switchyard_store::Layout;
use switchyard_watcher::ChainView;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::live::Live;

/// Connections served at once; more wait for a free place.
const MAX_CONNECTIONS: usize = 32;

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
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!("status listener: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| routes::handle(live, req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            // A client that keeps a connection open forever does not hold a place forever.
            let _ = tokio::time::timeout(Duration::from_secs(120), conn).await;
            drop(permit);
        });
    }
}
