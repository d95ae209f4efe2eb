//! The fake chain's state and the script operations that change it.
//!
//! Heights advance by command (or on a timer); block `h` has time `genesis_time + h * interval`.
//! Proposals hold real protobuf `Any` messages (`MsgSoftwareUpgrade`, `MsgExecLegacyContent`
//! wrapping a `SoftwareUpgradeProposal`, `MsgCancelUpgrade`); passing one executes them as the
//! gov module would: the plan is scheduled (or the proposal FAILS when its height is already
//! past), or the current plan is cancelled. Like a real node, the chain halts at a plan's height:
//! `/status` reports H while `/abci_info` reports H-1, until `apply_plan` is called.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use cosmos_sdk_proto::cosmos::gov::v1 as gov_v1;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use cosmos_sdk_proto::Any;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::plan_script::PlanScript;

/// How a proposal carries its upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// `/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade`.
    #[default]
    SoftwareUpgrade,
    /// `/cosmos.gov.v1.MsgExecLegacyContent` wrapping a `SoftwareUpgradeProposal`.
    LegacyContent,
    /// `/cosmos.upgrade.v1beta1.MsgCancelUpgrade`.
    Cancel,
    /// A `MsgSend`-like message unrelated to upgrades.
    Unrelated,
}

/// A proposal as scripted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalScript {
    /// Assigned when absent.
    #[serde(default)]
    pub id: Option<u64>,
    /// How it carries its upgrade (`software_upgrade` when absent).
    #[serde(default)]
    pub kind: ProposalKind,
    /// The plan it schedules; required by `software_upgrade` and `legacy_content`, unused by the
    /// other kinds.
    #[serde(default)]
    pub plan: Option<PlanScript>,
    /// Gov status name (`PROPOSAL_STATUS_VOTING_PERIOD` ...); voting when absent.
    #[serde(default)]
    pub status: Option<String>,
}

/// One stored proposal.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The proposal's id.
    pub id: u64,
    /// 1 deposit, 2 voting, 3 passed, 4 rejected, 5 failed.
    pub status: i32,
    /// Its messages: one protobuf `Any`, built from the script's [`ProposalKind`].
    pub messages: Vec<Any>,
    /// The plan's name, or a fixed text for `cancel` and `unrelated`; also served as the summary.
    pub title: String,
    /// The height it was submitted at; its submit and voting times are derived from it.
    pub submit_height: i64,
}

/// How the fake misbehaves on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Answer correctly.
    #[default]
    Normal,
    /// Accept requests and never answer.
    Silent,
    /// Answer with bytes that are not JSON-RPC (gRPC: an INTERNAL status).
    Garbage,
    /// Answer with a huge body (gRPC: only `CurrentPlan`, its plan's info padded).
    Oversized,
    /// Answer every call with a JSON-RPC error (gRPC: UNAVAILABLE).
    Error,
    /// `abci_query` answers carry bytes that are not protobuf (RPC only; gRPC treats it as normal).
    GarbageValue,
}

/// The whole scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// The chain id: `network` in `/status` and gRPC `GetNodeInfo`, `chain_id` in block headers.
    pub chain_id: String,
    /// The latest block height: where the chain starts (in [`ChainState::s`], where it is now).
    pub height: i64,
    /// The time of block 0; block `h` is `h * block_interval_ms` later.
    pub genesis_time: DateTime<Utc>,
    /// Milliseconds between blocks, for block times and for `auto_blocks`.
    pub block_interval_ms: u64,
    /// Advance one block every `block_interval_ms` by itself.
    pub auto_blocks: bool,
    /// Reported as `catching_up` in `/status` and as `syncing` by gRPC `GetSyncing`.
    pub catching_up: bool,
    /// Peers reported by `/net_info`.
    pub peers: u32,
    /// Blocks stop: the height stays where it is, whatever advances it (a node alive but stuck).
    pub frozen: bool,
    /// The app's version: `version` in `/abci_info` and in gRPC `GetNodeInfo`.
    pub app_version: String,
    /// The plan scheduled at start (`None`: none). The live plan is [`ChainState::plan`].
    pub plan: Option<PlanScript>,
    /// Proposals submitted at start, in order, at the starting height.
    pub proposals: Vec<ProposalScript>,
    /// Serve `cosmos.gov.v1` (false: only v1beta1, like pre-0.46 chains).
    pub gov_v1: bool,
    /// Most proposals per page, whatever the client asks for.
    pub max_page_size: u64,
    /// Stop at a plan's height as a real node does.
    pub halt_at_plan: bool,
    /// Documents served at `GET /info/<path>` (for plans whose info is a URL).
    pub info_docs: BTreeMap<String, String>,
    /// Lowest height still stored (`earliest_block_height`).
    pub earliest_height: i64,
    /// How the JSON-RPC server misbehaves.
    pub mode: Mode,
    /// How the gRPC server misbehaves.
    pub grpc_mode: Mode,
    /// Size of an oversized answer, in bytes.
    pub oversized_bytes: usize,
    /// JSON-RPC methods answered with a fixed body, byte for byte (e.g. a recorded real answer).
    pub replay: BTreeMap<String, String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            chain_id: "fakechain-1".into(),
            height: 100,
            genesis_time: DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            block_interval_ms: 5000,
            auto_blocks: false,
            catching_up: false,
            peers: 3,
            frozen: false,
            app_version: "0.50.10".into(),
            plan: None,
            proposals: Vec::new(),
            gov_v1: true,
            max_page_size: 100,
            halt_at_plan: true,
            info_docs: BTreeMap::new(),
            earliest_height: 1,
            mode: Mode::Normal,
            grpc_mode: Mode::Normal,
            oversized_bytes: 64 * 1024 * 1024,
            replay: BTreeMap::new(),
        }
    }
}

/// The live state.
#[derive(Debug, Clone)]
pub struct ChainState {
    /// The scenario, kept current by the script commands (height, modes, peers, ...); only its
    /// `plan` and `proposals` stay the starting ones.
    pub s: Scenario,
    /// The plan scheduled now (`None`: none).
    pub plan: Option<PlanScript>,
    /// Plans applied with `apply_plan`: name to height, answered by `AppliedPlan`.
    pub applied: BTreeMap<String, i64>,
    /// Every proposal, sorted by id.
    pub proposals: Vec<Proposal>,
    /// gRPC calls answered so far (tests use it to tell which transport was used).
    pub grpc_calls: u64,
    next_id: u64,
}

pub(crate) const GOV_AUTHORITY: &str = "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn";

fn any<M: Message>(type_url: &str, m: &M) -> Any {
    Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

impl ChainState {
    /// The state at start: `s` with its plan and its proposals submitted. `Err` when a proposal
    /// is refused (a duplicate id, a missing plan, an unknown status).
    pub fn new(s: Scenario) -> Result<Self, String> {
        let mut st = ChainState {
            plan: s.plan.clone(),
            s,
            applied: BTreeMap::new(),
            proposals: Vec::new(),
            grpc_calls: 0,
            next_id: 1,
        };
        for p in st.s.proposals.clone() {
            st.submit(p)?;
        }
        Ok(st)
    }

    /// The latest block height (`/status`); one above the committed height while halted.
    pub fn height(&self) -> i64 {
        self.s.height
    }

    /// Time of block `h`.
    pub fn block_time(&self, h: i64) -> DateTime<Utc> {
        self.s.genesis_time + ChronoDuration::milliseconds(self.s.block_interval_ms as i64 * h)
    }

    /// Whether the app is halted at the plan's height.
    pub fn halted(&self) -> bool {
        self.s.halt_at_plan
            && self
                .plan
                .as_ref()
                .is_some_and(|p| self.s.height >= p.height)
    }

    /// The app's last committed height: one less than the height while halted at a plan.
    pub fn last_committed(&self) -> i64 {
        if self.halted() {
            self.s.height - 1
        } else {
            self.s.height
        }
    }

    /// Advances up to `n` blocks (stopping at a plan's height when halting, and not at all while
    /// frozen); returns the new heights.
    pub fn advance(&mut self, n: u64) -> Vec<i64> {
        let mut out = Vec::new();
        for _ in 0..n {
            if self.halted() || self.s.frozen {
                break;
            }
            self.s.height += 1;
            out.push(self.s.height);
        }
        out
    }

    /// Submits a proposal; returns its id.
    pub fn submit(&mut self, p: ProposalScript) -> Result<u64, String> {
        let id = p.id.unwrap_or(self.next_id);
        if self.proposals.iter().any(|x| x.id == id) {
            return Err(format!("proposal {id} already exists"));
        }
        self.next_id = self.next_id.max(id + 1);
        let need_plan = || {
            p.plan
                .clone()
                .ok_or_else(|| "this kind of proposal needs a plan".to_string())
        };
        let (msg, title) = match p.kind {
            ProposalKind::SoftwareUpgrade => {
                let plan = need_plan()?;
                (
                    any(
                        "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade",
                        &upgrade::MsgSoftwareUpgrade {
                            authority: GOV_AUTHORITY.into(),
                            plan: Some(plan.to_proto()),
                        },
                    ),
                    plan.name,
                )
            }
            ProposalKind::LegacyContent => {
                let plan = need_plan()?;
                let content = any(
                    "/cosmos.upgrade.v1beta1.SoftwareUpgradeProposal",
                    &upgrade::SoftwareUpgradeProposal {
                        title: plan.name.clone(),
                        description: format!("Upgrade to {}", plan.name),
                        plan: Some(plan.to_proto()),
                    },
                );
                (
                    any(
                        "/cosmos.gov.v1.MsgExecLegacyContent",
                        &gov_v1::MsgExecLegacyContent {
                            content: Some(content),
                            authority: GOV_AUTHORITY.into(),
                        },
                    ),
                    plan.name,
                )
            }
            ProposalKind::Cancel => (
                any(
                    "/cosmos.upgrade.v1beta1.MsgCancelUpgrade",
                    &upgrade::MsgCancelUpgrade {
                        authority: GOV_AUTHORITY.into(),
                    },
                ),
                "cancel upgrade".to_string(),
            ),
            ProposalKind::Unrelated => (
                Any {
                    type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
                    value: Vec::new(),
                },
                "community spend".to_string(),
            ),
        };
        let status = match p.status.as_deref() {
            None => 2,
            Some(name) => gov_v1::ProposalStatus::from_str_name(name)
                .map(|s| s as i32)
                .ok_or_else(|| format!("unknown proposal status {name:?}"))?,
        };
        self.proposals.push(Proposal {
            id,
            status,
            messages: vec![msg],
            title,
            submit_height: self.s.height,
        });
        self.proposals.sort_by_key(|p| p.id);
        Ok(id)
    }

    /// Ends the voting period with a yes: executes the messages like x/gov does.
    pub fn pass(&mut self, id: u64) -> Result<i32, String> {
        let height = self.s.height;
        let p = self
            .proposals
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| format!("no proposal {id}"))?
            .clone();
        let mut new_plan = self.plan.clone();
        let mut failed = false;
        for m in &p.messages {
            match crate::decode::upgrade_effect(m) {
                Some(crate::decode::Effect::Schedule(plan)) => {
                    if plan.height <= height {
                        failed = true;
                    } else {
                        new_plan = Some(plan);
                    }
                }
                Some(crate::decode::Effect::Cancel) => new_plan = None,
                None => {}
            }
        }
        let status = if failed { 5 } else { 3 };
        if !failed {
            self.plan = new_plan;
        }
        if let Some(p) = self.proposals.iter_mut().find(|p| p.id == id) {
            p.status = status;
        }
        Ok(status)
    }

    /// Marks proposal `id` rejected (status 4); `Err` when there is no such proposal.
    pub fn reject(&mut self, id: u64) -> Result<(), String> {
        let p = self
            .proposals
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| format!("no proposal {id}"))?;
        p.status = 4;
        Ok(())
    }

    /// The new binary took over at the plan height: record it applied and resume.
    pub fn apply_plan(&mut self) -> Result<(), String> {
        let p = self.plan.take().ok_or("no plan is scheduled")?;
        self.applied.insert(p.name, p.height);
        Ok(())
    }

    /// A summary for the control endpoint.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "chain_id": self.s.chain_id,
            "height": self.s.height,
            "last_committed": self.last_committed(),
            "halted": self.halted(),
            "plan": self.plan,
            "applied": self.applied,
            "proposals": self.proposals.iter().map(|p| serde_json::json!({"id": p.id, "status": p.status, "title": p.title})).collect::<Vec<_>>(),
            "mode": self.s.mode,
            "peers": self.s.peers,
            "frozen": self.s.frozen,
            "grpc_calls": self.grpc_calls,
            "grpc_mode": self.s.grpc_mode,
        })
    }
}
