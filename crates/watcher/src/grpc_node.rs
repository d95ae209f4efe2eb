//! Height, block time and sync state over gRPC (`cosmos.base.tendermint.v1beta1.Service`), for
//! hosts where only a gRPC address is given. The CometBFT RPC is preferred when known; this keeps
//! a gRPC-only setup working rather than failing.

use chrono::{DateTime, Utc};
use cosmos_sdk_proto::cosmos::base::tendermint::v1beta1 as tm;
use cosmos_sdk_proto::Timestamp;

use crate::error::{Result, WatchError};
use crate::grpc::GrpcClient;
use crate::wire::{AbciInfo, BlockHeader, Status};

pub(crate) const GET_LATEST_BLOCK: &str = "/cosmos.base.tendermint.v1beta1.Service/GetLatestBlock";
pub(crate) const GET_BLOCK_BY_HEIGHT: &str =
    "/cosmos.base.tendermint.v1beta1.Service/GetBlockByHeight";
pub(crate) const GET_SYNCING: &str = "/cosmos.base.tendermint.v1beta1.Service/GetSyncing";
pub(crate) const GET_NODE_INFO: &str = "/cosmos.base.tendermint.v1beta1.Service/GetNodeInfo";

fn garbage(g: &GrpcClient, what: &str, why: &str) -> WatchError {
    WatchError::Garbage {
        what: format!("gRPC {what}"),
        addr: g.addr().to_string(),
        why: why.to_string(),
    }
}

fn time(g: &GrpcClient, what: &str, t: Option<&Timestamp>) -> Result<DateTime<Utc>> {
    let t = t.ok_or_else(|| garbage(g, what, "the block header has no time"))?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        .ok_or_else(|| garbage(g, what, "the block time is out of range"))
}

/// (chain id, height, time) of a block answer: `sdk_block` (SDK 0.47+) else `block`.
fn header_of(
    g: &GrpcClient,
    what: &str,
    block: Option<&cosmos_sdk_proto::tendermint::types::Block>,
    sdk_block: Option<&tm::Block>,
) -> Result<(String, i64, DateTime<Utc>)> {
    if let Some(h) = sdk_block.and_then(|b| b.header.as_ref()) {
        return Ok((
            h.chain_id.clone(),
            h.height,
            time(g, what, h.time.as_ref())?,
        ));
    }
    let h = block
        .and_then(|b| b.header.as_ref())
        .ok_or_else(|| garbage(g, what, "the answer has no block header"))?;
    Ok((
        h.chain_id.clone(),
        h.height,
        time(g, what, h.time.as_ref())?,
    ))
}

/// The equivalent of `/status`.
pub(crate) async fn status(g: &GrpcClient) -> Result<Status> {
    let b: tm::GetLatestBlockResponse = g
        .unary(GET_LATEST_BLOCK, tm::GetLatestBlockRequest {})
        .await?;
    let (chain_id, height, t) =
        header_of(g, "GetLatestBlock", b.block.as_ref(), b.sdk_block.as_ref())?;
    let syncing: tm::GetSyncingResponse = g.unary(GET_SYNCING, tm::GetSyncingRequest {}).await?;
    let (node_id, _) = node_identity(g).await?;
    Ok(Status {
        node_id,
        chain_id,
        node_version: String::new(),
        latest_block_height: height,
        latest_block_time: t,
        earliest_block_height: 1,
        catching_up: syncing.syncing,
    })
}

/// The answering node's id and chain id (GetNodeInfo's `default_node_info`; empty when absent).
pub(crate) async fn node_identity(g: &GrpcClient) -> Result<NodeNamed> {
    let n: tm::GetNodeInfoResponse = g.unary(GET_NODE_INFO, tm::GetNodeInfoRequest {}).await?;
    Ok(named(&n))
}

/// (node id, chain id) as a node names itself.
pub(crate) type NodeNamed = (String, String);

fn named(n: &tm::GetNodeInfoResponse) -> NodeNamed {
    n.default_node_info
        .as_ref()
        .map(|i| (i.default_node_id.clone(), i.network.clone()))
        .unwrap_or_default()
}

/// The equivalent of `/abci_info`: the app version from GetNodeInfo, and the app's last
/// committed height from the `x-cosmos-block-height` header the SDK puts on every answer (the
/// latest block's height when a node leaves it out). With it, how the node names itself (from the
/// same answer), for the caller to hold against the supervised node.
pub(crate) async fn abci_info(g: &GrpcClient) -> Result<(AbciInfo, NodeNamed)> {
    let (n, at): (tm::GetNodeInfoResponse, _) =
        g.unary_at(GET_NODE_INFO, tm::GetNodeInfoRequest {}).await?;
    let last_block_height = match at {
        Some(h) => h,
        None => {
            let b: tm::GetLatestBlockResponse = g
                .unary(GET_LATEST_BLOCK, tm::GetLatestBlockRequest {})
                .await?;
            header_of(g, "GetLatestBlock", b.block.as_ref(), b.sdk_block.as_ref())?.1
        }
    };
    let who = named(&n);
    let info = AbciInfo {
        version: n
            .application_version
            .map(|v| v.version)
            .filter(|v| !v.is_empty()),
        app_version: None,
        last_block_height,
    };
    Ok((info, who))
}

/// The equivalent of `/block?height=H`.
pub(crate) async fn block_header(g: &GrpcClient, height: i64) -> Result<BlockHeader> {
    let b: tm::GetBlockByHeightResponse = g
        .unary(GET_BLOCK_BY_HEIGHT, tm::GetBlockByHeightRequest { height })
        .await?;
    let (_, height, time) = header_of(
        g,
        "GetBlockByHeight",
        b.block.as_ref(),
        b.sdk_block.as_ref(),
    )?;
    Ok(BlockHeader { height, time })
}
