//! A CometBFT JSON-RPC client over HTTP: `/status`, `/abci_info`, `/net_info`, `/block` and
//! `abci_query`.
//!
//! Every call is bounded: a timeout for the whole exchange and a cap on the bytes read (the body
//! is read chunk by chunk and abandoned as soon as it passes the cap), so a stuck or hostile node
//! cannot hang or bloat the supervisor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Result, WatchError};
use crate::wire::{
    envelope_result, AbciInfo, AbciQueryAnswer, BlockHeader, EnvelopeError, NetInfo, Status,
};

/// Bounds on one exchange with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for connecting, sending and reading the whole answer.
    pub timeout: Duration,
    /// Largest answer accepted, in bytes.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A JSON-RPC client for one CometBFT node.
#[derive(Debug, Clone)]
pub struct RpcClient {
    base: String,
    http: reqwest::Client,
    limits: Limits,
    next_id: Arc<AtomicU64>,
}

impl RpcClient {
    /// `base` is an `http(s)://host:port` URL (see [`crate::endpoints::dialable`]).
    pub fn new(base: &str, limits: Limits) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .build()
            .map_err(|e| WatchError::BadAddress {
                what: "RPC",
                addr: base.to_string(),
                why: e.to_string(),
            })?;
        Ok(RpcClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            limits,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The URL this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bounds this client applies.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Calls `method` with `params` and returns the JSON-RPC `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let what = format!("CometBFT RPC {method}");
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let fut = async {
            let resp = self
                .http
                .post(format!("{}/", self.base))
                .json(&body)
                .send()
                .await
                .map_err(|e| self.transport_error(&what, e))?;
            let status = resp.status();
            let bytes = read_capped(resp, self.limits.max_response_bytes)
                .await
                .map_err(|e| match e {
                    CappedError::TooLarge => WatchError::TooLarge {
                        what: what.clone(),
                        addr: self.base.clone(),
                        limit: self.limits.max_response_bytes,
                    },
                    CappedError::Http(e) => self.transport_error(&what, e),
                })?;
            Ok::<_, WatchError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.limits.timeout, fut)
            .await
            .map_err(|_| self.timeout_error(&what))??;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| WatchError::Garbage {
            what: what.clone(),
            addr: self.base.clone(),
            why: if status.is_success() {
                format!("not JSON ({e})")
            } else {
                format!("HTTP {status}, body not JSON-RPC")
            },
        })?;
        match envelope_result(v) {
            Ok(r) => Ok(r),
            Err(EnvelopeError::Remote(why)) => Err(WatchError::Remote {
                what,
                addr: self.base.clone(),
                why,
            }),
            Err(EnvelopeError::Shape(why)) => Err(WatchError::Garbage {
                what,
                addr: self.base.clone(),
                why,
            }),
        }
    }

    fn transport_error(&self, what: &str, e: reqwest::Error) -> WatchError {
        if e.is_timeout() {
            return self.timeout_error(what);
        }
        let why = switchyard_core::error_chain(&e);
        WatchError::Unreachable {
            what: what.to_string(),
            addr: self.base.clone(),
            why,
        }
    }

    fn timeout_error(&self, what: &str) -> WatchError {
        WatchError::Timeout {
            what: what.to_string(),
            addr: self.base.clone(),
            after: self.limits.timeout,
        }
    }

    fn garbage(&self, what: &str, why: String) -> WatchError {
        WatchError::Garbage {
            what: what.to_string(),
            addr: self.base.clone(),
            why,
        }
    }

    /// `/status`.
    pub async fn status(&self) -> Result<Status> {
        let r = self.call("status", json!({})).await?;
        Status::from_result(&r).map_err(|e| self.garbage("CometBFT RPC status", e))
    }

    /// `/abci_info`.
    pub async fn abci_info(&self) -> Result<AbciInfo> {
        let r = self.call("abci_info", json!({})).await?;
        AbciInfo::from_result(&r).map_err(|e| self.garbage("CometBFT RPC abci_info", e))
    }

    /// `/net_info`: how many peers the node has.
    pub async fn net_info(&self) -> Result<NetInfo> {
        let r = self.call("net_info", json!({})).await?;
        NetInfo::from_result(&r).map_err(|e| self.garbage("CometBFT RPC net_info", e))
    }

    /// `/block?height=H`: the block's height and time.
    pub async fn block_header(&self, height: i64) -> Result<BlockHeader> {
        let r = self
            .call("block", json!({"height": height.to_string()}))
            .await?;
        BlockHeader::from_block_result(&r).map_err(|e| self.garbage("CometBFT RPC block", e))
    }

    /// `abci_query` with `path` (a gRPC method name) and protobuf request bytes; returns the raw
    /// answer bytes. A non-zero ABCI code is a [`WatchError::Remote`] carrying the node's log.
    pub async fn abci_query(&self, path: &str, data: &[u8]) -> Result<Vec<u8>> {
        let what = format!("abci_query {path}");
        let r = self
            .call(
                "abci_query",
                json!({"path": path, "data": hex::encode(data), "height": "0", "prove": false}),
            )
            .await
            .map_err(|e| rename(e, &what))?;
        let a = AbciQueryAnswer::from_result(&r).map_err(|e| self.garbage(&what, e))?;
        if a.code != 0 {
            return Err(WatchError::Remote {
                what,
                addr: self.base.clone(),
                why: format!("code {} ({}): {}", a.code, a.codespace, a.log),
            });
        }
        Ok(a.value)
    }
}

fn rename(e: WatchError, what: &str) -> WatchError {
    let what = what.to_string();
    match e {
        WatchError::Unreachable { addr, why, .. } => WatchError::Unreachable { what, addr, why },
        WatchError::Timeout { addr, after, .. } => WatchError::Timeout { what, addr, after },
        WatchError::TooLarge { addr, limit, .. } => WatchError::TooLarge { what, addr, limit },
        WatchError::Garbage { addr, why, .. } => WatchError::Garbage { what, addr, why },
        WatchError::Remote { addr, why, .. } => WatchError::Remote { what, addr, why },
        other => other,
    }
}

pub(crate) enum CappedError {
    TooLarge,
    Http(reqwest::Error),
}

/// Reads a response body, giving up as soon as it passes `cap` bytes.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
) -> Result<Vec<u8>, CappedError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(CappedError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CappedError::Http)? {
        if out.len() as u64 + chunk.len() as u64 > cap {
            return Err(CappedError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
