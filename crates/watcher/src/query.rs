//! The chain's upgrade state over either transport: gRPC when a gRPC address answers, else
//! `abci_query` over CometBFT JSON-RPC (which many sentry and public nodes are limited to).
//!
//! Both transports take the same method path and protobuf bytes, so each query is written once.
//! A gRPC call that fails (unreachable, timed out, garbled, refused) is retried over `abci_query`
//! when an RPC address is known; the `abci_query` answer or error is the one reported.

use cosmos_sdk_proto::cosmos::base::query::v1beta1::PageRequest;
use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::gov::v1beta1 as gov_v1beta1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use prost::Message;

use crate::endpoints::Endpoints;
use crate::error::{Result, WatchError};
use crate::grpc::GrpcClient;
use crate::identity::NodeIdentity;
use crate::proposals::{self, ProposalStatus, RawPlan, UpgradeProposal};
use crate::rpc::{Limits, RpcClient};
use crate::wire::{AbciInfo, BlockHeader, Status};

pub(crate) const CURRENT_PLAN: &str = "/cosmos.upgrade.v1beta1.Query/CurrentPlan";
pub(crate) const APPLIED_PLAN: &str = "/cosmos.upgrade.v1beta1.Query/AppliedPlan";
pub(crate) const GOV_V1_PROPOSALS: &str = "/cosmos.gov.v1.Query/Proposals";
pub(crate) const GOV_V1BETA1_PROPOSALS: &str = "/cosmos.gov.v1beta1.Query/Proposals";

/// Proposals are read 100 at a time, and at most this many pages per status.
const PAGE_LIMIT: u64 = 100;
const MAX_PAGES: usize = 50;
/// More upgrade proposals than this in voting or passed is not a real chain: refused, so a
/// hostile node cannot make the watcher hold thousands of plans (each page is capped already).
pub(crate) const MAX_UPGRADE_PROPOSALS: usize = 1000;

/// Which transport answered the module queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// gRPC at the node's gRPC address (a call that fails there is retried over `abci_query`
    /// when an RPC address is known).
    Grpc,
    /// `abci_query` over CometBFT JSON-RPC: no gRPC address was given, or it did not connect.
    AbciQuery,
}

/// Which gov query version answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum GovVersion {
    /// `cosmos.gov.v1.Query/Proposals`.
    #[serde(rename = "v1")]
    V1,
    /// `cosmos.gov.v1beta1.Query/Proposals`, used when the v1 query failed with an answer.
    #[serde(rename = "v1beta1")]
    V1beta1,
}

/// A connection to one node over whichever transports are available.
#[derive(Debug, Clone)]
pub struct ChainClient {
    rpc: Option<RpcClient>,
    grpc: Option<GrpcClient>,
    /// Why the configured gRPC address is not used, if it isn't.
    pub grpc_problem: Option<WatchError>,
    /// The supervised node, when known: answers from any other node are refused.
    identity: Option<NodeIdentity>,
}

impl ChainClient {
    /// Prepares clients for `endpoints`. gRPC is used when it connects; otherwise queries go
    /// over `abci_query`. Fails only when neither transport is usable.
    pub async fn connect(endpoints: &Endpoints, limits: Limits) -> Result<Self> {
        let rpc = endpoints
            .rpc
            .as_deref()
            .map(|a| RpcClient::new(a, limits))
            .transpose()?;
        let (grpc, grpc_problem) = match endpoints.grpc.as_deref() {
            Some(a) => match GrpcClient::connect(a, limits).await {
                Ok(c) => (Some(c), None),
                Err(e) if rpc.is_some() => {
                    tracing::debug!("gRPC not usable, falling back to abci_query: {e}");
                    (None, Some(e))
                }
                Err(e) => return Err(e),
            },
            None => (None, None),
        };
        if rpc.is_none() && grpc.is_none() {
            return Err(WatchError::NoEndpoint);
        }
        Ok(ChainClient {
            rpc,
            grpc,
            grpc_problem,
            identity: None,
        })
    }

    /// Holds every `/status` and gRPC node answer against `identity` from now on (nothing is
    /// checked when the home tells nothing).
    pub fn with_identity(mut self, identity: NodeIdentity) -> Self {
        self.identity = identity.is_known().then_some(identity);
        self
    }

    /// Asks every configured route which node it is, and fails with
    /// [`WatchError::ForeignNode`] when one is not the supervised node. A route that does not
    /// answer now is left to the per-answer checks.
    pub async fn verify_identity(&self) -> Result<()> {
        if self.identity.is_none() {
            return Ok(());
        }
        if let Some(g) = &self.grpc {
            match self.check_grpc(g).await {
                Err(e) if e.is_transport() => {}
                other => other?,
            }
        }
        if let Some(r) = &self.rpc {
            match r.status().await {
                Ok(s) => self.check_status("CometBFT RPC", r.base(), &s)?,
                Err(e) if e.is_transport() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn check_status(&self, what: &str, addr: &str, s: &Status) -> Result<()> {
        self.check(what, addr, &s.node_id, &s.chain_id)
    }

    fn check(&self, what: &str, addr: &str, node_id: &str, chain_id: &str) -> Result<()> {
        match self
            .identity
            .as_ref()
            .and_then(|id| id.mismatch(node_id, chain_id))
        {
            None => Ok(()),
            Some(why) => Err(WatchError::ForeignNode {
                what: what.into(),
                addr: addr.into(),
                why,
            }),
        }
    }

    async fn check_grpc(&self, g: &GrpcClient) -> Result<()> {
        if self.identity.is_none() {
            return Ok(());
        }
        let (node_id, chain_id) = crate::grpc_node::node_identity(g).await?;
        self.check("gRPC", g.addr(), &node_id, &chain_id)
    }

    async fn grpc_status(&self, g: &GrpcClient) -> Result<Status> {
        let s = crate::grpc_node::status(g).await?;
        self.check_status("gRPC", g.addr(), &s)?;
        Ok(s)
    }

    async fn grpc_abci_info(&self, g: &GrpcClient) -> Result<AbciInfo> {
        let (info, (node_id, chain_id)) = crate::grpc_node::abci_info(g).await?;
        self.check("gRPC", g.addr(), &node_id, &chain_id)?;
        Ok(info)
    }

    /// The address queries go to first (for error messages).
    fn addr(&self) -> String {
        match (&self.grpc, &self.rpc) {
            (Some(g), _) => g.addr().to_string(),
            (None, Some(r)) => r.base().to_string(),
            (None, None) => String::new(),
        }
    }

    /// The RPC client, if an RPC address was given.
    pub fn rpc(&self) -> Option<&RpcClient> {
        self.rpc.as_ref()
    }

    /// The transport module queries use first.
    pub fn transport(&self) -> Transport {
        if self.grpc.is_some() {
            Transport::Grpc
        } else {
            Transport::AbciQuery
        }
    }

    /// `/status`, or its gRPC equivalent when only gRPC is known.
    ///
    /// When the RPC does not answer and gRPC is known, the answer comes from gRPC: the height
    /// that times a swap must be read over every route the node offers.
    ///
    /// The answer is held against the supervised node's identity ([`Self::with_identity`]).
    pub async fn status(&self) -> Result<Status> {
        match (&self.rpc, &self.grpc) {
            (Some(r), g) => match (r.status().await, g) {
                (Err(e), Some(g)) if e.is_transport() => self.grpc_status(g).await,
                (res, _) => {
                    let s = res?;
                    self.check_status("CometBFT RPC", r.base(), &s)?;
                    Ok(s)
                }
            },
            (None, Some(g)) => self.grpc_status(g).await,
            (None, None) => Err(WatchError::NoEndpoint),
        }
    }

    /// `/abci_info`, or its gRPC equivalent when only gRPC is known.
    /// Falls back to gRPC like [`ChainClient::status`].
    pub async fn abci_info(&self) -> Result<AbciInfo> {
        match (&self.rpc, &self.grpc) {
            (Some(r), g) => match (r.abci_info().await, g) {
                (Err(e), Some(g)) if e.is_transport() => self.grpc_abci_info(g).await,
                (res, _) => res,
            },
            (None, Some(g)) => self.grpc_abci_info(g).await,
            (None, None) => Err(WatchError::NoEndpoint),
        }
    }

    /// Height and time of block `height`.
    pub async fn block_header(&self, height: i64) -> Result<BlockHeader> {
        match (&self.rpc, &self.grpc) {
            (Some(r), _) => r.block_header(height).await,
            (None, Some(g)) => crate::grpc_node::block_header(g, height).await,
            (None, None) => Err(WatchError::NoEndpoint),
        }
    }

    /// One module query, over gRPC first and `abci_query` when gRPC is absent or unreachable.
    pub async fn query<Req, Resp>(&self, path: &str, req: Req) -> Result<Resp>
    where
        Req: Message + Clone + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        if let Some(g) = &self.grpc {
            match g.unary::<Req, Resp>(path, req.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if self.rpc.is_some() => {
                    tracing::debug!("{e}; retrying over abci_query");
                }
                Err(e) => return Err(e),
            }
        }
        let rpc = self.rpc.as_ref().ok_or(WatchError::NoEndpoint)?;
        let bytes = rpc.abci_query(path, &req.encode_to_vec()).await?;
        Resp::decode(bytes.as_slice()).map_err(|e| WatchError::Garbage {
            what: format!("abci_query {path}"),
            addr: rpc.base().to_string(),
            why: format!("not a valid protobuf answer: {e}"),
        })
    }

    /// `cosmos.upgrade.v1beta1.Query/CurrentPlan`: the scheduled plan, if any.
    pub async fn current_plan(&self) -> Result<Option<RawPlan>> {
        let r: upgrade::QueryCurrentPlanResponse = self
            .query(CURRENT_PLAN, upgrade::QueryCurrentPlanRequest {})
            .await?;
        match r.plan {
            // The SDK never schedules such a plan; a node that reports one sends garbage.
            Some(p) if p.height <= 0 => Err(WatchError::Garbage {
                what: CURRENT_PLAN.to_string(),
                addr: self.addr(),
                why: format!(
                    "the plan {:?} has height {}; a plan height must be positive",
                    p.name, p.height
                ),
            }),
            p => Ok(p.map(RawPlan::from)),
        }
    }

    /// `cosmos.upgrade.v1beta1.Query/AppliedPlan`: the height `name` was applied at (0 = never).
    pub async fn applied_plan(&self, name: &str) -> Result<i64> {
        let r: upgrade::QueryAppliedPlanResponse = self
            .query(
                APPLIED_PLAN,
                upgrade::QueryAppliedPlanRequest { name: name.into() },
            )
            .await?;
        Ok(r.height)
    }

    /// Proposals in their voting period or passed that touch the upgrade schedule, from gov v1,
    /// or gov v1beta1 on chains without v1.
    pub async fn upgrade_proposals(&self) -> Result<(GovVersion, Vec<UpgradeProposal>)> {
        match self.proposals_v1().await {
            Ok(p) => Ok((GovVersion::V1, p)),
            Err(e) if e.is_transport() => Err(e),
            Err(v1_err) => match self.proposals_v1beta1().await {
                Ok(p) => Ok((GovVersion::V1beta1, p)),
                Err(e) => {
                    tracing::debug!("gov v1beta1 proposals failed too: {e}");
                    Err(v1_err)
                }
            },
        }
    }

    async fn proposals_v1(&self) -> Result<Vec<UpgradeProposal>> {
        let mut out = Vec::new();
        for status in [ProposalStatus::VotingPeriod, ProposalStatus::Passed] {
            let mut key = Vec::new();
            for _ in 0..MAX_PAGES {
                let req = gov_v1::QueryProposalsRequest {
                    proposal_status: status.as_i32(),
                    pagination: Some(page(key.clone())),
                    ..Default::default()
                };
                let r: gov_v1::QueryProposalsResponse = self.query(GOV_V1_PROPOSALS, req).await?;
                out.extend(r.proposals.iter().filter_map(proposals::from_v1));
                self.check_count(out.len())?;
                let next = r.pagination.map(|p| p.next_key).unwrap_or_default();
                // An empty key ends the list; the same key again would loop.
                if next.is_empty() || next == key {
                    break;
                }
                key = next;
            }
        }
        Ok(out)
    }

    async fn proposals_v1beta1(&self) -> Result<Vec<UpgradeProposal>> {
        let mut out = Vec::new();
        for status in [ProposalStatus::VotingPeriod, ProposalStatus::Passed] {
            let mut key = Vec::new();
            for _ in 0..MAX_PAGES {
                let req = gov_v1beta1::QueryProposalsRequest {
                    proposal_status: status.as_i32(),
                    pagination: Some(page(key.clone())),
                    ..Default::default()
                };
                let r: gov_v1beta1::QueryProposalsResponse =
                    self.query(GOV_V1BETA1_PROPOSALS, req).await?;
                out.extend(r.proposals.iter().filter_map(proposals::from_v1beta1));
                self.check_count(out.len())?;
                let next = r.pagination.map(|p| p.next_key).unwrap_or_default();
                // An empty key ends the list; the same key again would loop.
                if next.is_empty() || next == key {
                    break;
                }
                key = next;
            }
        }
        Ok(out)
    }
}

impl ChainClient {
    fn check_count(&self, n: usize) -> Result<()> {
        if n > MAX_UPGRADE_PROPOSALS {
            return Err(WatchError::Garbage {
                what: "governance proposals".into(),
                addr: self.addr(),
                why: format!(
                    "more than {MAX_UPGRADE_PROPOSALS} upgrade proposals in voting or passed"
                ),
            });
        }
        Ok(())
    }
}

fn page(key: Vec<u8>) -> PageRequest {
    PageRequest {
        key,
        limit: PAGE_LIMIT,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real `abci_query` answer for CurrentPlan recorded from Nibiru mainnet decodes into
    /// the plan it announced.
    #[test]
    fn real_current_plan_answer_decodes() {
        let p = format!(
            "{}/tests/fixtures/cometbft/cosmos-node-exporter__upgrade-plan.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let a =
            crate::wire::AbciQueryAnswer::from_result(&crate::wire::envelope_result(v).unwrap())
                .unwrap();
        let r = upgrade::QueryCurrentPlanResponse::decode(a.value.as_slice()).unwrap();
        let plan = RawPlan::from(r.plan.unwrap());
        assert_eq!(plan.name, "v1.5.0");
        assert_eq!(plan.height, 8375044);
        let switchyard_core::PlanInfo::Binaries(b) = switchyard_core::parse_info(&plan.info) else {
            panic!("expected binaries in {:?}", plan.info)
        };
        assert!(b
            .for_platform("linux/amd64")
            .unwrap()
            .url
            .contains("nibid_1.5.0_linux_amd64"));
        assert!(b.entries.contains_key("docker"));
    }
}
