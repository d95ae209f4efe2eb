//! A gRPC client for Cosmos SDK queries (tonic + cosmos-sdk-proto messages).
//!
//! One generic unary call serves every query: the method path (`/cosmos.upgrade.v1beta1.Query/
//! CurrentPlan`) is the same string `abci_query` takes, so both transports share one list of
//! queries. Calls are bounded by a timeout and a cap on the decoded message size.

use prost::Message;
use switchyard_core::error_chain;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Result, WatchError};
use crate::rpc::Limits;

/// The response header in which the SDK reports the height a query was answered at.
pub(crate) const BLOCK_HEIGHT_HEADER: &str = "x-cosmos-block-height";

/// A connected gRPC channel to one node.
#[derive(Debug, Clone)]
pub(crate) struct GrpcClient {
    addr: String,
    channel: Channel,
    limits: Limits,
}

impl GrpcClient {
    /// Connects (within the timeout) to `addr` (`http://host:port`).
    pub(crate) async fn connect(addr: &str, limits: Limits) -> Result<Self> {
        let endpoint = Endpoint::from_shared(addr.to_string())
            .map_err(|e| WatchError::BadAddress {
                what: "gRPC",
                addr: addr.to_string(),
                why: e.to_string(),
            })?
            .connect_timeout(limits.timeout)
            .timeout(limits.timeout);
        let channel = match tokio::time::timeout(limits.timeout, endpoint.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(WatchError::Unreachable {
                    what: "gRPC".into(),
                    addr: addr.to_string(),
                    why: error_chain(&e),
                })
            }
            Err(_) => {
                return Err(WatchError::Timeout {
                    what: "gRPC connect".into(),
                    addr: addr.to_string(),
                    after: limits.timeout,
                })
            }
        };
        Ok(GrpcClient {
            addr: addr.to_string(),
            channel,
            limits,
        })
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Calls the unary method `path` with `req`.
    pub(crate) async fn unary<Req, Resp>(&self, path: &str, req: Req) -> Result<Resp>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        self.unary_at(path, req).await.map(|(r, _)| r)
    }

    /// Like [`Self::unary`], also returning the height the node answered at (the SDK's
    /// `x-cosmos-block-height` response header: the app's last committed height).
    pub(crate) async fn unary_at<Req, Resp>(
        &self,
        path: &str,
        req: Req,
    ) -> Result<(Resp, Option<i64>)>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let what = format!("gRPC {path}");
        let pq = PathAndQuery::try_from(path.to_string()).map_err(|e| WatchError::BadAddress {
            what: "gRPC method",
            addr: path.to_string(),
            why: e.to_string(),
        })?;
        let cap = usize::try_from(self.limits.max_response_bytes).unwrap_or(usize::MAX);
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(cap);
        let call = async {
            grpc.ready().await.map_err(|e| WatchError::Unreachable {
                what: what.clone(),
                addr: self.addr.clone(),
                why: e.to_string(),
            })?;
            let codec = tonic::codec::ProstCodec::<Req, Resp>::default();
            grpc.unary(tonic::Request::new(req), pq, codec)
                .await
                .map(|r| {
                    let height = r
                        .metadata()
                        .get(BLOCK_HEIGHT_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<i64>().ok());
                    (r.into_inner(), height)
                })
                .map_err(|s| self.status_error(&what, s))
        };
        match tokio::time::timeout(self.limits.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(WatchError::Timeout {
                what,
                addr: self.addr.clone(),
                after: self.limits.timeout,
            }),
        }
    }

    fn status_error(&self, what: &str, s: tonic::Status) -> WatchError {
        use tonic::Code;
        let what = what.to_string();
        let addr = self.addr.clone();
        let why = format!("{:?}: {}", s.code(), s.message());
        match s.code() {
            Code::Unavailable | Code::Unknown
                if s.message().contains("transport") || s.code() == Code::Unavailable =>
            {
                WatchError::Unreachable { what, addr, why }
            }
            Code::DeadlineExceeded | Code::Cancelled => WatchError::Timeout {
                what,
                addr,
                after: self.limits.timeout,
            },
            Code::OutOfRange | Code::ResourceExhausted
                if s.message().contains("message length too large") =>
            {
                WatchError::TooLarge {
                    what,
                    addr,
                    limit: self.limits.max_response_bytes,
                }
            }
            Code::Internal if s.message().contains("decode") => {
                WatchError::Garbage { what, addr, why }
            }
            _ => WatchError::Remote { what, addr, why },
        }
    }
}
