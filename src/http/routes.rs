//! The endpoints. Only `GET` and `HEAD`; nothing here changes state.
//!
//! - `/metrics`: the Prometheus exposition: OpenMetrics text when the client asks for it (as
//!   Prometheus does), else the classic text format 0.0.4.
//! - `/status`: the [`crate::report::StatusReport`] JSON document.
//! - `/healthz`: 200 while switchyard runs (the listener answering is the proof).
//! - `/readyz`: 200 when the node serves RPC, is not catching up and is not stalled; 503 with
//!   the reasons otherwise.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::live::Live;

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

pub(super) async fn handle(
    live: &'static Live,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "switchyard's status API is read-only: GET or HEAD\n",
        );
        if let Ok(v) = "GET, HEAD".parse() {
            r.headers_mut().insert(hyper::header::ALLOW, v);
        }
        return Ok(r);
    }
    let mut resp = match req.uri().path() {
        "/metrics" => {
            live.before_scrape();
            // Prometheus asks for OpenMetrics; everything else gets the classic text format.
            let openmetrics = req
                .headers()
                .get_all(hyper::header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            if openmetrics {
                reply(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    live.metrics.encode(),
                )
            } else {
                reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    live.metrics.encode_prometheus_text(),
                )
            }
        }
        "/status" => {
            let mut status = live.status();
            if let Some(bin) = status.node.binary.clone() {
                status.node.binary_sha256 = sha256_of(live, bin.into()).await;
            }
            json(StatusCode::OK, &status)
        }
        "/healthz" => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
        "/readyz" => {
            let r = live.ready();
            let code = if r.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(code, &r)
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics, /status, /healthz or /readyz\n",
        ),
    };
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    Ok(resp)
}

fn json<T: serde::Serialize>(code: StatusCode, v: &T) -> Resp {
    match serde_json::to_vec(v) {
        Ok(body) => reply(code, "application/json", body),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("cannot encode the document: {e}\n"),
        ),
    }
}

/// The binary's sha256, hashed once per file version (off the async thread).
async fn sha256_of(live: &'static Live, path: std::path::PathBuf) -> Option<String> {
    if let Some(s) = live.cached_sha256(&path) {
        return Some(s);
    }
    let p = path.clone();
    let sum = tokio::task::spawn_blocking(move || {
        switchyard_store::hash_file(&p, switchyard_core::ChecksumAlgo::Sha256)
    })
    .await
    .ok()?;
    match sum {
        Ok((c, _)) => {
            let s = c.hex;
            live.cache_sha256(path, s.clone());
            Some(s)
        }
        Err(e) => {
            tracing::debug!("sha256 of {}: {e}", path.display());
            None
        }
    }
}
