//! Reading upgrades out of governance: which proposal messages schedule or cancel an upgrade.
//!
//! An upgrade arrives as `/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade{authority, plan}`, or (chains
//! that still route legacy content) as `/cosmos.gov.v1.MsgExecLegacyContent` wrapping a
//! `/cosmos.upgrade.v1beta1.SoftwareUpgradeProposal{title, description, plan}`. A v1beta1 gov
//! proposal carries the same things as its `content`. `MsgCancelUpgrade` and the legacy
//! `CancelSoftwareUpgradeProposal` cancel. Every other message is ignored; a message of an
//! upgrade type that fails to decode is reported, not dropped silently.

use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::gov::v1beta1 as gov_v1beta1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use cosmos_sdk_proto::Any;
use prost::Message;

pub(crate) const MSG_SOFTWARE_UPGRADE: &str = "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade";
pub(crate) const MSG_CANCEL_UPGRADE: &str = "/cosmos.upgrade.v1beta1.MsgCancelUpgrade";
pub(crate) const MSG_EXEC_LEGACY_CONTENT: &str = "/cosmos.gov.v1.MsgExecLegacyContent";
pub(crate) const SOFTWARE_UPGRADE_PROPOSAL: &str =
    "/cosmos.upgrade.v1beta1.SoftwareUpgradeProposal";
pub(crate) const CANCEL_SOFTWARE_UPGRADE_PROPOSAL: &str =
    "/cosmos.upgrade.v1beta1.CancelSoftwareUpgradeProposal";

/// An upgrade plan as the chain states it (name not yet validated: it is untrusted input).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RawPlan {
    /// The plan's name, as governance wrote it.
    pub name: String,
    /// The height at which the chain halts for this upgrade.
    pub height: i64,
    /// The plan's free-form `info` (often JSON with binary URLs, or a URL to such JSON); may be
    /// empty.
    pub info: String,
}

impl RawPlan {
    /// The plan as the decision core knows it, once its name is validated (the name comes from
    /// governance: untrusted).
    pub fn scheduled_plan(
        &self,
        disable_recase: bool,
    ) -> Result<switchyard_core::ScheduledPlan, switchyard_core::NameError> {
        Ok(switchyard_core::ScheduledPlan {
            name: switchyard_core::UpgradeName::parse(&self.name, disable_recase)?,
            height: self.height,
        })
    }
}

impl From<upgrade::Plan> for RawPlan {
    fn from(p: upgrade::Plan) -> Self {
        RawPlan {
            name: p.name,
            height: p.height,
            info: p.info,
        }
    }
}

/// What one proposal message does to the upgrade schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UpgradeAction {
    Schedule(RawPlan),
    Cancel,
    /// A message of an upgrade type whose bytes could not be decoded.
    Undecodable {
        type_url: String,
        why: String,
    },
}

/// The upgrade actions in one `Any` message (none for unrelated messages).
pub(crate) fn actions_of(msg: &Any) -> Vec<UpgradeAction> {
    fn bad(url: &str, e: prost::DecodeError) -> UpgradeAction {
        UpgradeAction::Undecodable {
            type_url: url.to_string(),
            why: e.to_string(),
        }
    }
    match msg.type_url.as_str() {
        MSG_SOFTWARE_UPGRADE => match upgrade::MsgSoftwareUpgrade::decode(msg.value.as_slice()) {
            Ok(m) => plan_action(m.plan, MSG_SOFTWARE_UPGRADE),
            Err(e) => vec![bad(MSG_SOFTWARE_UPGRADE, e)],
        },
        SOFTWARE_UPGRADE_PROPOSAL => {
            match upgrade::SoftwareUpgradeProposal::decode(msg.value.as_slice()) {
                Ok(m) => plan_action(m.plan, SOFTWARE_UPGRADE_PROPOSAL),
                Err(e) => vec![bad(SOFTWARE_UPGRADE_PROPOSAL, e)],
            }
        }
        MSG_CANCEL_UPGRADE | CANCEL_SOFTWARE_UPGRADE_PROPOSAL => vec![UpgradeAction::Cancel],
        MSG_EXEC_LEGACY_CONTENT => match gov_v1::MsgExecLegacyContent::decode(msg.value.as_slice())
        {
            Ok(m) => m.content.as_ref().map(actions_of).unwrap_or_default(),
            Err(e) => vec![bad(MSG_EXEC_LEGACY_CONTENT, e)],
        },
        _ => Vec::new(),
    }
}

fn plan_action(plan: Option<upgrade::Plan>, url: &str) -> Vec<UpgradeAction> {
    match plan {
        // The SDK refuses such plans itself; a node that reports one sends garbage.
        Some(p) if p.height <= 0 => vec![UpgradeAction::Undecodable {
            type_url: url.to_string(),
            why: format!(
                "its plan height is {}; a plan height must be positive",
                p.height
            ),
        }],
        Some(p) => vec![UpgradeAction::Schedule(p.into())],
        None => vec![UpgradeAction::Undecodable {
            type_url: url.to_string(),
            why: "it has no plan".into(),
        }],
    }
}

/// A governance proposal's status (the gov v1 and v1beta1 enums agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProposalStatus {
    /// `PROPOSAL_STATUS_UNSPECIFIED` (0), also used for any value this crate does not know.
    Unspecified,
    /// `PROPOSAL_STATUS_DEPOSIT_PERIOD` (1): waiting for enough deposit to go to a vote.
    DepositPeriod,
    /// `PROPOSAL_STATUS_VOTING_PERIOD` (2): being voted on.
    VotingPeriod,
    /// `PROPOSAL_STATUS_PASSED` (3).
    Passed,
    /// `PROPOSAL_STATUS_REJECTED` (4).
    Rejected,
    /// `PROPOSAL_STATUS_FAILED` (5): passed, but executing its messages failed.
    Failed,
}

impl ProposalStatus {
    /// The status from the chain's enum value; unknown values become [`Self::Unspecified`].
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => Self::DepositPeriod,
            2 => Self::VotingPeriod,
            3 => Self::Passed,
            4 => Self::Rejected,
            5 => Self::Failed,
            _ => Self::Unspecified,
        }
    }

    /// The chain's enum value for this status.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::DepositPeriod => 1,
            Self::VotingPeriod => 2,
            Self::Passed => 3,
            Self::Rejected => 4,
            Self::Failed => 5,
        }
    }

    /// The chain's own name (`PROPOSAL_STATUS_PASSED`).
    pub fn chain_name(self) -> &'static str {
        match self {
            Self::Unspecified => "PROPOSAL_STATUS_UNSPECIFIED",
            Self::DepositPeriod => "PROPOSAL_STATUS_DEPOSIT_PERIOD",
            Self::VotingPeriod => "PROPOSAL_STATUS_VOTING_PERIOD",
            Self::Passed => "PROPOSAL_STATUS_PASSED",
            Self::Rejected => "PROPOSAL_STATUS_REJECTED",
            Self::Failed => "PROPOSAL_STATUS_FAILED",
        }
    }
}

/// A proposal that touches the upgrade schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpgradeProposal {
    /// The proposal's id on chain.
    pub id: u64,
    /// Where the proposal is in its life, as the chain reports it.
    pub status: ProposalStatus,
    /// The plan it schedules (the last one if it holds several).
    pub plan: Option<RawPlan>,
    /// Whether it cancels the current plan.
    pub cancels: bool,
    /// End of the voting period (RFC 3339), when known.
    pub voting_end_time: Option<String>,
    /// Upgrade messages that could not be decoded.
    pub problems: Vec<String>,
}

fn fold(
    id: u64,
    status: i32,
    msgs: &[Any],
    voting_end: Option<&cosmos_sdk_proto::Timestamp>,
) -> Option<UpgradeProposal> {
    let mut p = UpgradeProposal {
        id,
        status: ProposalStatus::from_i32(status),
        plan: None,
        cancels: false,
        voting_end_time: voting_end.and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                .map(|t| t.to_rfc3339())
        }),
        problems: Vec::new(),
    };
    let mut any = false;
    for m in msgs {
        for a in actions_of(m) {
            any = true;
            match a {
                UpgradeAction::Schedule(plan) => p.plan = Some(plan),
                UpgradeAction::Cancel => p.cancels = true,
                UpgradeAction::Undecodable { type_url, why } => p.problems.push(format!(
                    "proposal {id}: {type_url} cannot be decoded: {why}"
                )),
            }
        }
    }
    any.then_some(p)
}

/// The upgrade content of a gov v1 proposal, or `None` if it has nothing to do with upgrades.
pub(crate) fn from_v1(p: &gov_v1::Proposal) -> Option<UpgradeProposal> {
    fold(p.id, p.status, &p.messages, p.voting_end_time.as_ref())
}

/// The upgrade content of a gov v1beta1 proposal (its `content`).
pub(crate) fn from_v1beta1(p: &gov_v1beta1::Proposal) -> Option<UpgradeProposal> {
    let msgs: Vec<Any> = p.content.iter().cloned().collect();
    fold(p.proposal_id, p.status, &msgs, p.voting_end_time.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmos_sdk_proto::cosmos::tx::v1beta1::{TxBody, TxRaw};

    fn plan(name: &str, h: i64) -> upgrade::Plan {
        upgrade::Plan {
            name: name.into(),
            height: h,
            info: "i".into(),
            ..Default::default()
        }
    }

    fn any<M: Message>(url: &str, m: &M) -> Any {
        Any {
            type_url: url.into(),
            value: m.encode_to_vec(),
        }
    }

    #[test]
    fn all_upgrade_shapes_are_read() {
        let direct = any(
            MSG_SOFTWARE_UPGRADE,
            &upgrade::MsgSoftwareUpgrade {
                authority: "a".into(),
                plan: Some(plan("v2", 100)),
            },
        );
        let legacy = any(
            MSG_EXEC_LEGACY_CONTENT,
            &gov_v1::MsgExecLegacyContent {
                authority: "a".into(),
                content: Some(any(
                    SOFTWARE_UPGRADE_PROPOSAL,
                    &upgrade::SoftwareUpgradeProposal {
                        title: "t".into(),
                        description: "d".into(),
                        plan: Some(plan("v3", 200)),
                    },
                )),
            },
        );
        let cancel = any(
            MSG_CANCEL_UPGRADE,
            &upgrade::MsgCancelUpgrade {
                authority: "a".into(),
            },
        );
        let unrelated = any(
            "/cosmos.bank.v1beta1.MsgSend",
            &upgrade::MsgCancelUpgrade::default(),
        );
        assert_eq!(
            actions_of(&direct),
            vec![UpgradeAction::Schedule(plan("v2", 100).into())]
        );
        assert_eq!(
            actions_of(&legacy),
            vec![UpgradeAction::Schedule(plan("v3", 200).into())]
        );
        assert_eq!(actions_of(&cancel), vec![UpgradeAction::Cancel]);
        assert!(actions_of(&unrelated).is_empty());
        for h in [0, -1, i64::MIN] {
            let bad_height = any(
                MSG_SOFTWARE_UPGRADE,
                &upgrade::MsgSoftwareUpgrade {
                    authority: "a".into(),
                    plan: Some(plan("v9", h)),
                },
            );
            assert!(
                matches!(&actions_of(&bad_height)[..], [UpgradeAction::Undecodable { why, .. }] if why.contains("positive")),
                "{h}"
            );
        }
        let junk = Any {
            type_url: MSG_SOFTWARE_UPGRADE.into(),
            value: vec![0xff, 0xff, 0xff],
        };
        assert!(matches!(
            actions_of(&junk)[..],
            [UpgradeAction::Undecodable { .. }]
        ));

        let p = gov_v1::Proposal {
            id: 7,
            status: 2,
            messages: vec![unrelated.clone(), direct],
            ..Default::default()
        };
        let u = from_v1(&p).unwrap();
        assert_eq!(
            (u.id, u.status, u.plan.unwrap().height),
            (7, ProposalStatus::VotingPeriod, 100)
        );
        let p = gov_v1::Proposal {
            id: 8,
            status: 3,
            messages: vec![unrelated],
            ..Default::default()
        };
        assert_eq!(from_v1(&p), None);
    }

    /// Real transactions recorded from Cronos nodes: the gov MsgSubmitProposal inside carries
    /// the upgrade messages exactly as a proposal's `messages` do.
    fn real_submitted_messages(fixture: &str) -> Vec<Any> {
        use base64::Engine as _;
        let path = format!(
            "{}/../../tests/fixtures/real/crypto-com-chain-indexing/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let txs = v["result"]["block"]["data"]["txs"].as_array().unwrap();
        let mut out = Vec::new();
        for tx in txs {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(tx.as_str().unwrap())
                .unwrap();
            let raw = TxRaw::decode(raw.as_slice()).unwrap();
            let body = TxBody::decode(raw.body_bytes.as_slice()).unwrap();
            for m in body.messages {
                match m.type_url.as_str() {
                    "/cosmos.gov.v1.MsgSubmitProposal" => out.extend(
                        gov_v1::MsgSubmitProposal::decode(m.value.as_slice())
                            .unwrap()
                            .messages,
                    ),
                    "/cosmos.gov.v1beta1.MsgSubmitProposal" => out.extend(
                        gov_v1beta1::MsgSubmitProposal::decode(m.value.as_slice())
                            .unwrap()
                            .content,
                    ),
                    _ => {}
                }
            }
        }
        out
    }

    #[test]
    fn real_msg_software_upgrade_is_read() {
        let msgs = real_submitted_messages(
            "tx_msg_software_upgrade__tx_msg_software_upgrade_block_resp.json",
        );
        let acts: Vec<_> = msgs.iter().flat_map(actions_of).collect();
        assert_eq!(
            acts,
            vec![UpgradeAction::Schedule(RawPlan {
                name: "name".into(),
                height: 1000,
                info: "info".into()
            })]
        );
    }

    #[test]
    fn real_exec_legacy_content_and_cancel_are_read() {
        let msgs = real_submitted_messages(
            "tx_msg_exec_legacy_content_v1__tx_msg_exec_legacy_content_v1_block_resp.json",
        );
        let acts: Vec<_> = msgs.iter().flat_map(actions_of).collect();
        assert!(matches!(acts[..], [UpgradeAction::Schedule(_)]), "{acts:?}");
        let msgs =
            real_submitted_messages("tx_msg_cancel_upgrade__tx_msg_cancel_upgrade_block_resp.json");
        let acts: Vec<_> = msgs.iter().flat_map(actions_of).collect();
        assert_eq!(acts, vec![UpgradeAction::Cancel]);
        let msgs = real_submitted_messages(
            "tx_msg_submit_software_upgrade_proposal_height__tx_msg_submit_software_upgrade_proposal_height_block_resp.json",
        );
        let acts: Vec<_> = msgs.iter().flat_map(actions_of).collect();
        assert!(matches!(acts[..], [UpgradeAction::Schedule(_)]), "{acts:?}");
    }
}
