//! The fake's gRPC services (tonic + cosmos-sdk-proto): `cosmos.upgrade.v1beta1.Query`,
//! `cosmos.gov.v1.Query` (unless the scenario turns gov v1 off), `cosmos.gov.v1beta1.Query`, and
//! the blocks/sync part of `cosmos.base.tendermint.v1beta1.Service`.
//! Methods the watcher does not use answer UNIMPLEMENTED, as a node without them would.

// tonic's own signatures return `Result<_, Status>`.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use cosmos_sdk_proto::cosmos::base::tendermint::v1beta1 as tm;
use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::gov::v1beta1 as gov_v1beta1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::state::Mode;
use crate::{queries, Shared};

type R<T> = Result<Response<T>, Status>;

#[derive(Clone)]
struct Svc(Arc<Shared>);

impl Svc {
    async fn gate(&self) -> Result<Mode, Status> {
        let mode = {
            let mut st = self.0.state.lock().unwrap();
            st.grpc_calls += 1;
            st.s.grpc_mode
        };
        match mode {
            Mode::Silent => std::future::pending().await,
            Mode::Garbage => Err(Status::internal(
                "failed to decode Protobuf message: invalid wire type",
            )),
            Mode::Error => Err(Status::unavailable("fakechain: scripted failure")),
            Mode::Normal | Mode::Oversized | Mode::GarbageValue => Ok(mode),
        }
    }
}

/// Wraps an answer as the SDK does, with the height it was answered at.
fn at<T>(st: &crate::state::ChainState, msg: T) -> Response<T> {
    let mut r = Response::new(msg);
    if let Ok(v) = st.last_committed().to_string().parse() {
        r.metadata_mut().insert("x-cosmos-block-height", v);
    }
    r
}

fn nope<T>() -> R<T> {
    Err(Status::unimplemented("not served by fakechain"))
}

#[tonic::async_trait]
impl upgrade::query_server::Query for Svc {
    async fn current_plan(
        &self,
        _: Request<upgrade::QueryCurrentPlanRequest>,
    ) -> R<upgrade::QueryCurrentPlanResponse> {
        let mode = self.gate().await?;
        let st = self.0.state.lock().unwrap();
        let mut r = queries::current_plan(&st);
        if mode == Mode::Oversized {
            let mut p = r.plan.unwrap_or_default();
            p.info = "x".repeat(st.s.oversized_bytes);
            r.plan = Some(p);
        }
        Ok(at(&st, r))
    }
    async fn applied_plan(
        &self,
        req: Request<upgrade::QueryAppliedPlanRequest>,
    ) -> R<upgrade::QueryAppliedPlanResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        Ok(at(&st, queries::applied_plan(&st, req.get_ref())))
    }
    async fn upgraded_consensus_state(
        &self,
        _: Request<upgrade::QueryUpgradedConsensusStateRequest>,
    ) -> R<upgrade::QueryUpgradedConsensusStateResponse> {
        nope()
    }
    async fn module_versions(
        &self,
        _: Request<upgrade::QueryModuleVersionsRequest>,
    ) -> R<upgrade::QueryModuleVersionsResponse> {
        nope()
    }
    async fn authority(
        &self,
        _: Request<upgrade::QueryAuthorityRequest>,
    ) -> R<upgrade::QueryAuthorityResponse> {
        nope()
    }
}

#[tonic::async_trait]
impl gov_v1::query_server::Query for Svc {
    async fn constitution(
        &self,
        _: Request<gov_v1::QueryConstitutionRequest>,
    ) -> R<gov_v1::QueryConstitutionResponse> {
        nope()
    }
    async fn proposal(
        &self,
        _: Request<gov_v1::QueryProposalRequest>,
    ) -> R<gov_v1::QueryProposalResponse> {
        nope()
    }
    async fn proposals(
        &self,
        req: Request<gov_v1::QueryProposalsRequest>,
    ) -> R<gov_v1::QueryProposalsResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        Ok(at(&st, queries::proposals_v1(&st, req.get_ref())))
    }
    async fn vote(&self, _: Request<gov_v1::QueryVoteRequest>) -> R<gov_v1::QueryVoteResponse> {
        nope()
    }
    async fn votes(&self, _: Request<gov_v1::QueryVotesRequest>) -> R<gov_v1::QueryVotesResponse> {
        nope()
    }
    async fn params(
        &self,
        _: Request<gov_v1::QueryParamsRequest>,
    ) -> R<gov_v1::QueryParamsResponse> {
        nope()
    }
    async fn deposit(
        &self,
        _: Request<gov_v1::QueryDepositRequest>,
    ) -> R<gov_v1::QueryDepositResponse> {
        nope()
    }
    async fn deposits(
        &self,
        _: Request<gov_v1::QueryDepositsRequest>,
    ) -> R<gov_v1::QueryDepositsResponse> {
        nope()
    }
    async fn tally_result(
        &self,
        _: Request<gov_v1::QueryTallyResultRequest>,
    ) -> R<gov_v1::QueryTallyResultResponse> {
        nope()
    }
}

#[tonic::async_trait]
impl gov_v1beta1::query_server::Query for Svc {
    async fn proposal(
        &self,
        _: Request<gov_v1beta1::QueryProposalRequest>,
    ) -> R<gov_v1beta1::QueryProposalResponse> {
        nope()
    }
    async fn proposals(
        &self,
        req: Request<gov_v1beta1::QueryProposalsRequest>,
    ) -> R<gov_v1beta1::QueryProposalsResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        queries::proposals_v1beta1(&st, req.get_ref())
            .map(|r| at(&st, r))
            .map_err(|(_, log)| Status::internal(log))
    }
    async fn vote(
        &self,
        _: Request<gov_v1beta1::QueryVoteRequest>,
    ) -> R<gov_v1beta1::QueryVoteResponse> {
        nope()
    }
    async fn votes(
        &self,
        _: Request<gov_v1beta1::QueryVotesRequest>,
    ) -> R<gov_v1beta1::QueryVotesResponse> {
        nope()
    }
    async fn params(
        &self,
        _: Request<gov_v1beta1::QueryParamsRequest>,
    ) -> R<gov_v1beta1::QueryParamsResponse> {
        nope()
    }
    async fn deposit(
        &self,
        _: Request<gov_v1beta1::QueryDepositRequest>,
    ) -> R<gov_v1beta1::QueryDepositResponse> {
        nope()
    }
    async fn deposits(
        &self,
        _: Request<gov_v1beta1::QueryDepositsRequest>,
    ) -> R<gov_v1beta1::QueryDepositsResponse> {
        nope()
    }
    async fn tally_result(
        &self,
        _: Request<gov_v1beta1::QueryTallyResultRequest>,
    ) -> R<gov_v1beta1::QueryTallyResultResponse> {
        nope()
    }
}

fn sdk_block(st: &crate::state::ChainState, h: i64) -> tm::Block {
    let t = st.block_time(h);
    tm::Block {
        header: Some(tm::Header {
            chain_id: st.s.chain_id.clone(),
            height: h,
            time: Some(cosmos_sdk_proto::Timestamp {
                seconds: t.timestamp(),
                nanos: t.timestamp_subsec_nanos() as i32,
            }),
            proposer_address: "cosmosvalcons1m7ka6tzn8d9fcnw79wnshu9uykmzaalwy0c3ss".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl tm::service_server::Service for Svc {
    async fn get_node_info(
        &self,
        _: Request<tm::GetNodeInfoRequest>,
    ) -> R<tm::GetNodeInfoResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        Ok(at(
            &st,
            tm::GetNodeInfoResponse {
                default_node_info: Some(cosmos_sdk_proto::tendermint::p2p::DefaultNodeInfo {
                    default_node_id: crate::json::NODE_ID.into(),
                    network: st.s.chain_id.clone(),
                    version: "0.38.12".into(),
                    moniker: "fakechain".into(),
                    ..Default::default()
                }),
                application_version: Some(tm::VersionInfo {
                    name: "sim".into(),
                    app_name: "simd".into(),
                    version: st.s.app_version.clone(),
                    ..Default::default()
                }),
            },
        ))
    }
    async fn get_syncing(&self, _: Request<tm::GetSyncingRequest>) -> R<tm::GetSyncingResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        Ok(at(
            &st,
            tm::GetSyncingResponse {
                syncing: st.s.catching_up,
            },
        ))
    }
    async fn get_latest_block(
        &self,
        _: Request<tm::GetLatestBlockRequest>,
    ) -> R<tm::GetLatestBlockResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        // The latest block CometBFT stored (H while halted at a plan at H).
        Ok(at(
            &st,
            tm::GetLatestBlockResponse {
                sdk_block: Some(sdk_block(&st, st.height())),
                ..Default::default()
            },
        ))
    }
    async fn get_block_by_height(
        &self,
        req: Request<tm::GetBlockByHeightRequest>,
    ) -> R<tm::GetBlockByHeightResponse> {
        self.gate().await?;
        let st = self.0.state.lock().unwrap();
        let h = req.get_ref().height;
        if h < st.s.earliest_height || h > st.height() {
            return Err(Status::invalid_argument(format!(
                "requested block height {h} is not available"
            )));
        }
        Ok(at(
            &st,
            tm::GetBlockByHeightResponse {
                sdk_block: Some(sdk_block(&st, h)),
                ..Default::default()
            },
        ))
    }
    async fn get_latest_validator_set(
        &self,
        _: Request<tm::GetLatestValidatorSetRequest>,
    ) -> R<tm::GetLatestValidatorSetResponse> {
        nope()
    }
    async fn get_validator_set_by_height(
        &self,
        _: Request<tm::GetValidatorSetByHeightRequest>,
    ) -> R<tm::GetValidatorSetByHeightResponse> {
        nope()
    }
    async fn abci_query(&self, _: Request<tm::AbciQueryRequest>) -> R<tm::AbciQueryResponse> {
        nope()
    }
}

/// Serves the gRPC services until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let svc = Svc(shared.clone());
    let gov_v1_on = shared.state.lock().unwrap().s.gov_v1;
    let mut builder = tonic::transport::Server::builder();
    let router = builder
        .add_service(upgrade::query_server::QueryServer::new(svc.clone()))
        .add_service(gov_v1beta1::query_server::QueryServer::new(svc.clone()))
        .add_service(tm::service_server::ServiceServer::new(svc.clone()))
        .add_optional_service(gov_v1_on.then(|| gov_v1::query_server::QueryServer::new(svc)));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    if let Err(e) = router.serve_with_incoming(incoming).await {
        tracing::error!("fakechain gRPC server stopped: {e}");
    }
}
