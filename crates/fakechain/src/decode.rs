//! What a stored proposal message does when executed (the fake's own small reading of the
//! upgrade messages, kept apart from the watcher's so tests are not circular).

use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use cosmos_sdk_proto::Any;
use prost::Message;

use crate::plan_script::PlanScript;

pub(crate) enum Effect {
    Schedule(PlanScript),
    Cancel,
}

fn plan(p: Option<upgrade::Plan>) -> Option<Effect> {
    p.map(|p| {
        Effect::Schedule(PlanScript {
            name: p.name,
            height: p.height,
            info: p.info,
        })
    })
}

pub(crate) fn upgrade_effect(m: &Any) -> Option<Effect> {
    match m.type_url.as_str() {
        "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade" => plan(
            upgrade::MsgSoftwareUpgrade::decode(m.value.as_slice())
                .ok()?
                .plan,
        ),
        "/cosmos.upgrade.v1beta1.SoftwareUpgradeProposal" => plan(
            upgrade::SoftwareUpgradeProposal::decode(m.value.as_slice())
                .ok()?
                .plan,
        ),
        "/cosmos.upgrade.v1beta1.MsgCancelUpgrade"
        | "/cosmos.upgrade.v1beta1.CancelSoftwareUpgradeProposal" => Some(Effect::Cancel),
        "/cosmos.gov.v1.MsgExecLegacyContent" => upgrade_effect(
            &gov_v1::MsgExecLegacyContent::decode(m.value.as_slice())
                .ok()?
                .content?,
        ),
        _ => None,
    }
}
