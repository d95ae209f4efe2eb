//! Entry points for the fuzz targets in `fuzz/` (coverage-guided, libFuzzer): each runs, on raw
//! bytes, exactly the decoding the watcher applies to what a node sends. switchyard itself does
//! not call these; they are public only so the decoders, which are private, can be fuzzed
//! through one deliberate door. Each must return (any result) and never panic.

use std::time::Duration;

use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::gov::v1beta1 as gov_v1beta1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use prost::Message;

use crate::block_times::{average_between, eta, BlockTimes};
use crate::proposals::{self, RawPlan};
use crate::view::{upcoming, PlanWithBinaries, ProposalWithBinaries};
use crate::wire::{envelope_result, AbciInfo, AbciQueryAnswer, BlockHeader, Status};

/// A CometBFT JSON-RPC HTTP answer body, decoded as each method the watcher calls
/// (`/status`, `/abci_info`, `abci_query`, `/block`), then the heights and times it yields run
/// through the block-time and ETA arithmetic.
pub fn cometbft_answer(body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Ok(r) = envelope_result(v) else {
        return;
    };
    let mut points = Vec::new();
    if let Ok(s) = Status::from_result(&r) {
        points.push((s.earliest_block_height, s.latest_block_time));
        points.push((s.latest_block_height, s.latest_block_time));
    }
    if let Ok(i) = AbciInfo::from_result(&r) {
        let _ = i.last_block_height;
    }
    if let Ok(q) = AbciQueryAnswer::from_result(&r) {
        let _ = upgrade::QueryCurrentPlanResponse::decode(q.value.as_slice());
    }
    if let Ok(b) = BlockHeader::from_block_result(&r) {
        points.push((b.height, b.time));
    }
    if let Ok(Some(b)) = BlockHeader::from_event_result(&r) {
        points.push((b.height, b.time));
    }
    block_arithmetic(&points);
}

/// One websocket message, as the block feed reads it; where the fast read answers, the slow
/// read (through a JSON tree) must answer the same.
pub fn websocket_message(text: &[u8]) {
    use crate::blocks::{read_message, read_message_slowly};
    let text = String::from_utf8_lossy(text);
    let got = read_message(&text);
    // Compared where both reads can see the message: a JSON tree cannot hold a number beyond
    // f64's range (`23e603`) in a field the typed read skips, so there only the typed read parses.
    if crate::wire::ws_message(&text).is_ok()
        && serde_json::from_str::<serde_json::Value>(&text).is_ok()
    {
        assert_eq!(
            got,
            read_message_slowly(&text),
            "the two reads differ on {text}"
        );
    }
    if let Ok(crate::blocks::Announcement::Block(b)) = got {
        block_arithmetic(&[(b.height, b.time), (b.height.wrapping_add(1), b.time)]);
    }
}

/// Which protobuf answer [`protobuf_answer`] decodes.
#[derive(Debug, Clone, Copy)]
pub enum ProtoAnswer {
    /// A `cosmos.upgrade.v1beta1.QueryCurrentPlanResponse`.
    CurrentPlan,
    /// A `cosmos.gov.v1.QueryProposalsResponse`.
    ProposalsV1,
    /// A `cosmos.gov.v1beta1.QueryProposalsResponse`.
    ProposalsV1beta1,
}

/// A protobuf answer to an upgrade or gov query, decoded and turned into the plan, the upgrade
/// proposals and the upcoming list, as the snapshot does (info URLs are not fetched).
pub fn protobuf_answer(which: ProtoAnswer, bytes: &[u8]) {
    let mut plan = None;
    let mut props = Vec::new();
    match which {
        ProtoAnswer::CurrentPlan => {
            if let Ok(r) = upgrade::QueryCurrentPlanResponse::decode(bytes) {
                plan = r.plan.map(RawPlan::from);
            }
        }
        ProtoAnswer::ProposalsV1 => {
            if let Ok(r) = gov_v1::QueryProposalsResponse::decode(bytes) {
                props.extend(r.proposals.iter().filter_map(proposals::from_v1));
            }
        }
        ProtoAnswer::ProposalsV1beta1 => {
            if let Ok(r) = gov_v1beta1::QueryProposalsResponse::decode(bytes) {
                props.extend(r.proposals.iter().filter_map(proposals::from_v1beta1));
            }
        }
    }
    let plan = plan.map(|spec| {
        let _ = spec.scheduled_plan(false);
        PlanWithBinaries {
            binaries: inline_binaries(&spec.info),
            spec,
        }
    });
    let props: Vec<ProposalWithBinaries> = props
        .into_iter()
        .map(|p| {
            if let Some(spec) = &p.plan {
                let _ = spec.scheduled_plan(true);
            }
            ProposalWithBinaries {
                binaries: p.plan.as_ref().map(|s| inline_binaries(&s.info)),
                proposal: p,
            }
        })
        .collect();
    for h in [i64::MIN, 0, i64::MAX] {
        let _ = upcoming(plan.as_ref(), &props, h, Some(Duration::MAX));
    }
}

fn inline_binaries(info: &str) -> crate::PlanBinariesView {
    match switchyard_core::parse_info(info) {
        switchyard_core::PlanInfo::Binaries(b) => crate::PlanBinariesView::Listed {
            binaries: b,
            from_url: None,
        },
        _ => crate::PlanBinariesView::None,
    }
}

fn block_arithmetic(points: &[(i64, chrono::DateTime<chrono::Utc>)]) {
    let mut w = BlockTimes::new(4);
    for &(h, t) in points {
        w.push(h, t);
    }
    let per_block = w.average();
    for pair in points.windows(2) {
        let _ = average_between(pair[0].0, pair[0].1, pair[1].0, pair[1].1);
    }
    for &(h, _) in points {
        for target in [i64::MIN, h, i64::MAX] {
            let _ = eta(h, target, per_block.unwrap_or(Duration::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmos_sdk_proto::cosmos::tx::v1beta1::{TxBody, TxRaw};
    use cosmos_sdk_proto::Any;
    use std::path::PathBuf;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The upgrade messages proposed in the real Cronos transactions recorded in
    /// tests/fixtures/real/crypto-com-chain-indexing (v1 messages, v1beta1 content).
    fn real_messages() -> (Vec<Any>, Vec<Any>) {
        use base64::Engine as _;
        let dir = repo().join("tests/fixtures/real/crypto-com-chain-indexing");
        let (mut v1, mut v1beta1) = (Vec::new(), Vec::new());
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("upgrade"))
            .collect();
        names.sort();
        for path in names {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let Some(txs) = v["result"]["block"]["data"]["txs"].as_array() else {
                continue;
            };
            for tx in txs {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(tx.as_str().unwrap())
                    .unwrap();
                let raw = TxRaw::decode(raw.as_slice()).unwrap();
                let body = TxBody::decode(raw.body_bytes.as_slice()).unwrap();
                for m in body.messages {
                    match m.type_url.as_str() {
                        "/cosmos.gov.v1.MsgSubmitProposal" => v1.extend(
                            gov_v1::MsgSubmitProposal::decode(m.value.as_slice())
                                .unwrap()
                                .messages,
                        ),
                        "/cosmos.gov.v1beta1.MsgSubmitProposal" => v1beta1.extend(
                            gov_v1beta1::MsgSubmitProposal::decode(m.value.as_slice())
                                .unwrap()
                                .content,
                        ),
                        _ => {}
                    }
                }
            }
        }
        (v1, v1beta1)
    }

    /// The protobuf seeds of the `protobuf_answers` fuzz target (first byte: the answer type),
    /// built from real recorded answers and messages.
    fn protobuf_seeds() -> Vec<(String, Vec<u8>)> {
        use base64::Engine as _;
        let mut out = Vec::new();
        let plan: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/cometbft/cosmos-node-exporter__upgrade-plan.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let value = base64::engine::general_purpose::STANDARD
            .decode(plan["result"]["response"]["value"].as_str().unwrap())
            .unwrap();
        out.push(("current_plan_nibiru".into(), [&[0u8][..], &value].concat()));
        let (v1, v1beta1) = real_messages();
        assert!(!v1.is_empty() && !v1beta1.is_empty());
        let end = Some(cosmos_sdk_proto::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        });
        let r = gov_v1::QueryProposalsResponse {
            proposals: v1
                .into_iter()
                .enumerate()
                .map(|(i, m)| gov_v1::Proposal {
                    id: i as u64 + 1,
                    status: 2,
                    messages: vec![m],
                    voting_end_time: end,
                    ..Default::default()
                })
                .collect(),
            pagination: None,
        };
        out.push((
            "proposals_v1_cronos".into(),
            [&[1u8][..], &r.encode_to_vec()].concat(),
        ));
        let r = gov_v1beta1::QueryProposalsResponse {
            proposals: v1beta1
                .into_iter()
                .enumerate()
                .map(|(i, m)| gov_v1beta1::Proposal {
                    proposal_id: i as u64 + 1,
                    status: 3,
                    content: Some(m),
                    voting_end_time: end,
                    ..Default::default()
                })
                .collect(),
            pagination: None,
        };
        out.push((
            "proposals_v1beta1_cronos".into(),
            [&[2u8][..], &r.encode_to_vec()].concat(),
        ));
        out
    }

    /// The committed seeds are what the real fixtures give (regenerate with
    /// `SWITCHYARD_WRITE_FUZZ_SEEDS=1 cargo test -p switchyard-watcher fuzzing`), and each
    /// decodes into at least one plan.
    #[test]
    fn protobuf_seed_corpus_matches_the_real_fixtures() {
        let dir = repo().join("fuzz/seeds/protobuf_answers");
        for (name, bytes) in protobuf_seeds() {
            let path = dir.join(&name);
            if std::env::var_os("SWITCHYARD_WRITE_FUZZ_SEEDS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(committed, bytes, "{name} is stale");
            protobuf_answer(ProtoAnswer::CurrentPlan, &bytes[1..]);
        }
    }

    /// Each entry point survives the real fixtures and the extremes that used to panic.
    #[test]
    fn entry_points_take_real_answers_and_extremes() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cometbft");
        for e in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            cometbft_answer(&bytes);
            websocket_message(&bytes);
        }
        let years = br#"{"jsonrpc":"2.0","id":1,"result":{"sync_info":{
            "latest_block_height":"9223372036854775807","latest_block_time":"9999-12-31T23:59:59Z",
            "earliest_block_height":"-9223372036854775808"}}}"#;
        cometbft_answer(years);
        for (name, bytes) in protobuf_seeds() {
            let which = match bytes[0] {
                0 => ProtoAnswer::CurrentPlan,
                1 => ProtoAnswer::ProposalsV1,
                _ => ProtoAnswer::ProposalsV1beta1,
            };
            protobuf_answer(which, &bytes[1..]);
            let _ = name;
        }
    }
}
