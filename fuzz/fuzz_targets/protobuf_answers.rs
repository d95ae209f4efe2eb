//! Protobuf answers: CurrentPlan, gov v1 and v1beta1 Proposals (and the upgrade messages inside
//! them). The first byte picks the answer type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_watcher::fuzzing::{protobuf_answer, ProtoAnswer};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let which = match which % 3 {
        0 => ProtoAnswer::CurrentPlan,
        1 => ProtoAnswer::ProposalsV1,
        _ => ProtoAnswer::ProposalsV1beta1,
    };
    protobuf_answer(which, rest);
});
