//! The module queries the fake answers, shared by its gRPC services and `abci_query`:
//! `cosmos.upgrade.v1beta1.Query/{CurrentPlan,AppliedPlan}` and `cosmos.gov.{v1,v1beta1}.Query/
//! Proposals` (status filter and key-based pagination as the SDK does them).

use cosmos_sdk_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::gov::v1beta1 as gov_v1beta1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use cosmos_sdk_proto::Timestamp;
use prost::Message;

use crate::state::{ChainState, Proposal};

/// A query refused: (ABCI code, log). Code 6 is the SDK's "unknown request".
pub(crate) type Refusal = (u32, String);

pub(crate) fn current_plan(st: &ChainState) -> upgrade::QueryCurrentPlanResponse {
    upgrade::QueryCurrentPlanResponse {
        plan: st.plan.as_ref().map(|p| p.to_proto()),
    }
}

pub(crate) fn applied_plan(
    st: &ChainState,
    req: &upgrade::QueryAppliedPlanRequest,
) -> upgrade::QueryAppliedPlanResponse {
    upgrade::QueryAppliedPlanResponse {
        height: st.applied.get(&req.name).copied().unwrap_or(0),
    }
}

fn ts(st: &ChainState, h: i64) -> Timestamp {
    let t = st.block_time(h);
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The proposals matching `status` (0 = all), one page of them, and the page response.
fn page<'a>(
    st: &'a ChainState,
    status: i32,
    req: Option<&PageRequest>,
) -> (Vec<&'a Proposal>, PageResponse) {
    let limit = req
        .map(|r| r.limit)
        .filter(|&l| l > 0)
        .unwrap_or(100)
        .min(st.s.max_page_size.max(1));
    let start = req
        .filter(|r| r.key.len() == 8)
        .map(|r| u64::from_be_bytes(r.key.clone().try_into().unwrap_or_default()))
        .unwrap_or(0);
    let offset = req
        .filter(|r| r.key.is_empty())
        .map(|r| r.offset)
        .unwrap_or(0);
    let matching: Vec<&Proposal> = st
        .proposals
        .iter()
        .filter(|p| (status == 0 || p.status == status) && p.id >= start)
        .skip(offset as usize)
        .collect();
    let taken: Vec<&Proposal> = matching.iter().take(limit as usize).copied().collect();
    let next_key = matching
        .get(limit as usize)
        .map(|p| p.id.to_be_bytes().to_vec())
        .unwrap_or_default();
    let total = if req.is_some_and(|r| r.count_total) {
        matching.len() as u64
    } else {
        0
    };
    (taken, PageResponse { next_key, total })
}

pub(crate) fn proposals_v1(
    st: &ChainState,
    req: &gov_v1::QueryProposalsRequest,
) -> gov_v1::QueryProposalsResponse {
    let (list, pagination) = page(st, req.proposal_status, req.pagination.as_ref());
    gov_v1::QueryProposalsResponse {
        proposals: list
            .into_iter()
            .map(|p| gov_v1::Proposal {
                id: p.id,
                messages: p.messages.clone(),
                status: p.status,
                submit_time: Some(ts(st, p.submit_height)),
                voting_start_time: Some(ts(st, p.submit_height)),
                voting_end_time: Some(ts(st, p.submit_height + 1000)),
                title: p.title.clone(),
                summary: p.title.clone(),
                ..Default::default()
            })
            .collect(),
        pagination: Some(pagination),
    }
}

/// v1beta1 shows one message as `content`; like the SDK, it refuses proposals with several.
pub(crate) fn proposals_v1beta1(
    st: &ChainState,
    req: &gov_v1beta1::QueryProposalsRequest,
) -> Result<gov_v1beta1::QueryProposalsResponse, Refusal> {
    let (list, pagination) = page(st, req.proposal_status, req.pagination.as_ref());
    let mut out = Vec::new();
    for p in list {
        if p.messages.len() > 1 {
            return Err((1, format!("proposal {} contains more than one message: can't convert a gov/v1 Proposal to gov/v1beta1 Proposal", p.id)));
        }
        out.push(gov_v1beta1::Proposal {
            proposal_id: p.id,
            content: p.messages.first().cloned(),
            status: p.status,
            submit_time: Some(ts(st, p.submit_height)),
            voting_start_time: Some(ts(st, p.submit_height)),
            voting_end_time: Some(ts(st, p.submit_height + 1000)),
            ..Default::default()
        });
    }
    Ok(gov_v1beta1::QueryProposalsResponse {
        proposals: out,
        pagination: Some(pagination),
    })
}

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, Refusal> {
    M::decode(data).map_err(|e| (2, format!("tx parse error: {e}")))
}

/// `abci_query` by gRPC method path: the protobuf answer, or a refusal.
pub(crate) fn abci_query(st: &ChainState, path: &str, data: &[u8]) -> Result<Vec<u8>, Refusal> {
    match path {
        "/cosmos.upgrade.v1beta1.Query/CurrentPlan" => {
            decode::<upgrade::QueryCurrentPlanRequest>(data)?;
            Ok(current_plan(st).encode_to_vec())
        }
        "/cosmos.upgrade.v1beta1.Query/AppliedPlan" => {
            Ok(applied_plan(st, &decode(data)?).encode_to_vec())
        }
        "/cosmos.gov.v1.Query/Proposals" if st.s.gov_v1 => {
            Ok(proposals_v1(st, &decode(data)?).encode_to_vec())
        }
        "/cosmos.gov.v1beta1.Query/Proposals" => {
            Ok(proposals_v1beta1(st, &decode(data)?)?.encode_to_vec())
        }
        other => Err((
            6,
            format!("no custom querier found for route {other}: unknown request"),
        )),
    }
}
