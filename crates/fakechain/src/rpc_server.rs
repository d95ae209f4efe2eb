//! The fake's CometBFT JSON-RPC server on one port, as CometBFT does it: JSON-RPC over HTTP POST
//! at `/`, URI-style GET (`/status`, `/abci_info`, `/block?height=5`, `/abci_query?path="..."&data=0x..`),
//! and the websocket at `/websocket`. Also the test-only `POST /control` and `GET /info/<path>`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::state::Mode;
use crate::{json as j, queries, Shared};

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(body.into()))
        .unwrap()
}

fn json_reply(v: &Value) -> Resp {
    reply(StatusCode::OK, "application/json", v.to_string())
}

/// Serves until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(shared: Arc<Shared>, mut req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/control" {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(match crate::control::apply_body(&shared, &body) {
            Ok(v) => json_reply(&v),
            Err(e) => reply(StatusCode::BAD_REQUEST, "text/plain", e),
        });
    }
    if let Some(doc) = path.strip_prefix("/info/") {
        let body = shared.state.lock().unwrap().s.info_docs.get(doc).cloned();
        return Ok(match body {
            Some(b) => reply(StatusCode::OK, "application/json", b),
            None => reply(StatusCode::NOT_FOUND, "text/plain", "404 page not found"),
        });
    }
    let (mode, oversized) = {
        let st = shared.state.lock().unwrap();
        (st.s.mode, st.s.oversized_bytes)
    };
    match mode {
        Mode::Normal | Mode::Error | Mode::GarbageValue => {}
        Mode::Silent => std::future::pending::<()>().await,
        Mode::Garbage => {
            return Ok(reply(
                StatusCode::OK,
                "text/html",
                "<html><body>502 Bad Gateway</body></html>",
            ))
        }
        Mode::Oversized => {
            let mut body = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"pad\":\"".to_vec();
            body.resize(oversized, b'x');
            return Ok(reply(StatusCode::OK, "application/json", body));
        }
    }
    if path == "/websocket" {
        return Ok(upgrade_websocket(shared, &mut req));
    }
    if req.method() == hyper::Method::POST {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return Ok(json_reply(&j::error(
                    &json!(-1),
                    -32700,
                    "Parse error. Invalid JSON",
                    &e.to_string(),
                )));
            }
        };
        let id = v.get("id").cloned().unwrap_or(json!(-1));
        let method = v
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let params = v.get("params").cloned().unwrap_or(json!({}));
        if let Some(r) = replayed(&shared, &method) {
            return Ok(r);
        }
        return Ok(json_reply(&dispatch(&shared, &id, &method, &params, mode)));
    }
    // URI-style GET.
    let method = path.trim_start_matches('/').to_string();
    if let Some(r) = replayed(&shared, &method) {
        return Ok(r);
    }
    let mut params = serde_json::Map::new();
    for pair in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.trim_matches('"').trim_matches('\'');
        let v = if k == "data" {
            v.trim_start_matches("0x").to_string()
        } else {
            v.replace("%2F", "/")
        };
        params.insert(k.to_string(), Value::String(v));
    }
    Ok(json_reply(&dispatch(
        &shared,
        &json!(-1),
        &method,
        &Value::Object(params),
        mode,
    )))
}

/// A recorded body scripted for `method`, served verbatim.
fn replayed(shared: &Shared, method: &str) -> Option<Resp> {
    let body = shared.state.lock().unwrap().s.replay.get(method).cloned()?;
    Some(reply(StatusCode::OK, "application/json", body))
}

fn int_param(params: &Value, key: &str) -> Result<Option<i64>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid {key} {s:?}")),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| format!("invalid {key}")),
        Some(other) => Err(format!("invalid {key} {other}")),
    }
}

/// One JSON-RPC call.
pub(crate) fn dispatch(
    shared: &Shared,
    id: &Value,
    method: &str,
    params: &Value,
    mode: Mode,
) -> Value {
    if mode == Mode::Error {
        return j::error(id, -32603, "Internal error", "fakechain: scripted failure");
    }
    let st = shared.state.lock().unwrap();
    match method {
        "status" => j::envelope(id, j::status(&st)),
        "abci_info" => j::envelope(id, j::abci_info(&st)),
        "health" => j::envelope(id, json!({})),
        "net_info" => j::envelope(id, j::net_info(&st)),
        "block" => match int_param(params, "height").and_then(|h| j::block(&st, h)) {
            Ok(b) => j::envelope(id, b),
            Err(e) => j::error(id, -32603, "Internal error", &e),
        },
        "abci_query" => {
            let path = params.get("path").and_then(Value::as_str).unwrap_or("");
            let data = params.get("data").and_then(Value::as_str).unwrap_or("");
            match hex::decode(data) {
                Ok(_) if mode == Mode::GarbageValue => {
                    j::envelope(id, j::abci_query(&st, Ok(vec![0xff; 9])))
                }
                Ok(bytes) => j::envelope(
                    id,
                    j::abci_query(&st, queries::abci_query(&st, path, &bytes)),
                ),
                Err(e) => j::error(
                    id,
                    -32602,
                    "Invalid params",
                    &format!("error converting json params to arguments: {e}"),
                ),
            }
        }
        _ => j::error(id, -32601, "Method not found", ""),
    }
}

fn upgrade_websocket(shared: Arc<Shared>, req: &mut Request<Incoming>) -> Resp {
    let refuse = shared
        .refuse_ws
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "websocket refused by script",
        );
    }
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
    else {
        return reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "not a websocket request",
        );
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            ws_session(shared, ws).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(&key))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn ws_session<S>(shared: Arc<Shared>, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut blocks = shared.blocks.subscribe();
    let mut kill = shared.kill_ws.subscribe();
    // The block subscription's id, and whether it asked for headers only (NewBlockHeader).
    let mut sub_id: Option<(Value, bool)> = None;
    loop {
        tokio::select! {
            _ = kill.recv() => {
                // Drop the TCP connection without a close handshake, like a node going away.
                return;
            }
            h = blocks.recv() => {
                let Ok(h) = h else { continue };
                if let Some((id, headers)) = &sub_id {
                    let ev = {
                        let st = shared.state.lock().unwrap();
                        if *headers { j::new_block_header_event(&st, id, h) } else { j::new_block_event(&st, id, h) }
                    };
                    if ws.send(Message::text(ev.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { return };
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    let _ = ws.send(Message::text(j::error(&json!(-1), -32700, "Parse error. Invalid JSON", "").to_string())).await;
                    continue;
                };
                let id = v.get("id").cloned().unwrap_or(json!(-1));
                let method = v.get("method").and_then(Value::as_str).unwrap_or("");
                let answer = match method {
                    "subscribe" => {
                        let q = v.pointer("/params/query").and_then(Value::as_str).unwrap_or("");
                        let q_tight = q.replace(' ', "");
                        if q_tight == "tm.event='NewBlock'" || q_tight == "tm.event='NewBlockHeader'" {
                            sub_id = Some((id.clone(), q_tight.ends_with("Header'")));
                            j::envelope(&id, json!({}))
                        } else {
                            j::error(&id, -32603, "Internal error", &format!("failed to parse query: {q}"))
                        }
                    }
                    "unsubscribe" | "unsubscribe_all" => { sub_id = None; j::envelope(&id, json!({})) }
                    _ => {
                        let mode = shared.state.lock().unwrap().s.mode;
                        dispatch(&shared, &id, method, v.get("params").unwrap_or(&json!({})), mode)
                    }
                };
                if ws.send(Message::text(answer.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }
}
