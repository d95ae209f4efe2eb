//! The typed contract of switchyard's JSON documents: `switchyard plan --json` prints a
//! [`PlanReport`] (or an [`ErrorReport`]), and the status API's `GET /status` serves a
//! [`StatusReport`], whose `plan` field is the same [`PlanReport`].
//!
//! These types are the schema: the README's "JSON documents" section documents them field by
//! field, and the tests parse the real output into them with unknown fields refused. Fields are
//! only ever added; a field that does not apply is `null`. This file is plain data (serde and
//! chrono only) so the tests can compile it on its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `switchyard plan --json`: the upgrades coming on this chain and whether this node is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanReport {
    pub chain_id: String,
    /// The latest block height the node reports.
    pub height: i64,
    /// Average seconds per block over the recent window (3 decimals).
    pub block_time_seconds: Option<f64>,
    pub catching_up: bool,
    /// How the module queries were answered.
    pub transport: Transport,
    /// What could not be read, in words (non-fatal).
    pub problems: Vec<String>,
    /// Manual upgrades and the scheduled plan by height, then proposals still in voting.
    pub upgrades: Vec<UpgradeRow>,
}

/// The transport that answered the module queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Transport {
    Grpc,
    AbciQuery,
}

impl Transport {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::AbciQuery => "abci_query",
        }
    }
}

/// One upcoming upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpgradeRow {
    pub name: String,
    pub height: i64,
    pub source: UpgradeSource,
    /// The proposal that scheduled it (plans) or proposes it (proposals).
    pub proposal_id: Option<u64>,
    pub proposal_status: Option<ProposalStatus>,
    /// Seconds until `height` at the average block time.
    pub eta_seconds: Option<u64>,
    pub binary: BinaryReport,
    /// The readiness verdict: true exactly when `readiness` has no `no` and `problems` says
    /// nothing blocks it.
    pub ready: bool,
    pub readiness: ReadinessReport,
    /// Why it is not ready (or what to know), in words.
    pub problems: Vec<String>,
    /// Manual upgrades: how the binary running before it will be stopped.
    pub halt: Option<HaltReport>,
}

/// Where an upcoming upgrade is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UpgradeSource {
    /// The chain's scheduled plan.
    Plan,
    /// A governance proposal still in its voting period.
    Proposal,
    /// `switchyard add-upgrade --height` (no on-chain plan).
    Manual,
}

impl UpgradeSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpgradeSource::Plan => "plan",
            UpgradeSource::Proposal => "proposal",
            UpgradeSource::Manual => "manual",
        }
    }
}

/// A governance proposal's status, as the chain names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ProposalStatus {
    #[serde(rename = "PROPOSAL_STATUS_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "PROPOSAL_STATUS_DEPOSIT_PERIOD")]
    DepositPeriod,
    #[serde(rename = "PROPOSAL_STATUS_VOTING_PERIOD")]
    VotingPeriod,
    #[serde(rename = "PROPOSAL_STATUS_PASSED")]
    Passed,
    #[serde(rename = "PROPOSAL_STATUS_REJECTED")]
    Rejected,
    #[serde(rename = "PROPOSAL_STATUS_FAILED")]
    Failed,
}

impl ProposalStatus {
    /// The chain's own name (`PROPOSAL_STATUS_PASSED`).
    pub(crate) fn chain_name(self) -> &'static str {
        match self {
            ProposalStatus::Unspecified => "PROPOSAL_STATUS_UNSPECIFIED",
            ProposalStatus::DepositPeriod => "PROPOSAL_STATUS_DEPOSIT_PERIOD",
            ProposalStatus::VotingPeriod => "PROPOSAL_STATUS_VOTING_PERIOD",
            ProposalStatus::Passed => "PROPOSAL_STATUS_PASSED",
            ProposalStatus::Rejected => "PROPOSAL_STATUS_REJECTED",
            ProposalStatus::Failed => "PROPOSAL_STATUS_FAILED",
        }
    }
}

/// The upgrade's binary: what the chain lists for this platform and what is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BinaryReport {
    /// The download URL for this platform (the plan's info's, or the chain registry's).
    pub url: Option<String>,
    /// Its checksum (`sha256:<hex>`).
    pub checksum: Option<String>,
    /// Where the binary comes from: for one on disk, where it came from; else where it would be
    /// staged from; null when there is no binary source.
    pub source: Option<BinarySourceKind>,
    /// Whether `upgrades/<name>/bin/$DAEMON_NAME` exists (null: the store was not looked at).
    pub staged: Option<bool>,
    /// switchyard's staging record, when switchyard staged it.
    pub preflight: Option<StagedReport>,
    /// What switchyard learned before the halt about this very file's `pre-upgrade` command;
    /// null when it has not asked yet, or the file changed since it asked.
    pub pre_upgrade: Option<PreUpgradeReport>,
}

/// Where an upgrade's binary comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BinarySourceKind {
    /// The scheduled plan's `info`.
    PlanInfo,
    /// A governance proposal's plan `info`.
    Proposal,
    /// The chain registry (`SWITCHYARD_CHAIN_REGISTRY`).
    Registry,
    /// `switchyard add-upgrade NAME --url`.
    ManualUrl,
    /// Placed by the operator (`add-upgrade NAME <path>`, or by hand).
    PlacedByHand,
}

impl BinarySourceKind {
    /// The name in the JSON documents (`plan_info`, `registry`, ...), for tables.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BinarySourceKind::PlanInfo => "plan_info",
            BinarySourceKind::Proposal => "proposal",
            BinarySourceKind::Registry => "registry",
            BinarySourceKind::ManualUrl => "manual_url",
            BinarySourceKind::PlacedByHand => "placed_by_hand",
        }
    }
}

/// The pre-upgrade probe's verdict on the binary now in `upgrades/<name>/bin/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreUpgradeReport {
    pub command: PreUpgradeState,
    /// When it was asked (RFC 3339).
    pub probed_at: String,
    /// Whether `<bin> pre-upgrade` will be run at the halt: only `absent` spares that start.
    pub run_at_halt: bool,
}

/// Whether the binary has a `pre-upgrade` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PreUpgradeState {
    /// It answers `pre-upgrade` exactly as an unknown command.
    Absent,
    /// It shows help for `pre-upgrade`.
    Present,
    /// Its answers could not tell.
    Unknown,
}

/// What switchyard staged and how its preflight went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StagedReport {
    pub url: String,
    /// Digest of the download in the plan's algorithm.
    pub digest: String,
    /// Bytes downloaded.
    pub size: u64,
    pub status: PreflightState,
    /// What `<bin> version` printed.
    pub output: String,
    /// Why the preflight failed.
    pub message: Option<String>,
    pub ran_at: Option<DateTime<Utc>>,
    pub staged_at: DateTime<Utc>,
}

/// How `<bin> version` went for a staged binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PreflightState {
    Pending,
    Ok,
    Failed,
    /// Not run: downloaded without a checksum.
    Skipped,
}

/// The readiness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadinessReport {
    pub binary_staged: CheckState,
    pub checksum_verified: CheckState,
    pub preflight_ok: CheckState,
    pub backup_space_ok: CheckState,
    /// `no`: no binary source (not on disk, and neither the chain nor the registry gives one).
    pub binary_source: CheckState,
}

/// One readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckState {
    Yes,
    No,
    Unknown,
    NotApplicable,
}

/// How a manual upgrade's predecessor is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HaltReport {
    pub method: HaltMethodName,
    /// The `--halt-height` flag given to the node.
    pub halt_height: i64,
    /// The predecessor's Cosmos SDK version, when it could be told.
    pub sdk_version: Option<String>,
    /// What `--halt-height` does on it, when known.
    pub behaviour: Option<HaltBehaviourName>,
    pub known_from: KnownFrom,
    /// What a probe will do, in words.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HaltMethodName {
    /// The flag its known behaviour calls for.
    HaltHeight,
    /// Behaviour unknown: H-1, which no binary lets commit H; restarted once with H if it stops
    /// one block early.
    Probe,
}

/// What `--halt-height N` does on a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HaltBehaviourName {
    CommitsThenExits,
    CommitsThenWaits,
    Commits,
    StopsBefore,
}

/// Where the halt behaviour is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KnownFrom {
    SdkVersion,
    Learned,
    Unknown,
}

/// What `plan --json` prints when the chain could not be queried (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorReport {
    pub error: String,
}

/// `GET /status`: the supervisor's own state, and the same upgrade report `plan --json` gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusReport {
    pub switchyard: SelfReport,
    pub node: NodeReport,
    pub chain: ChainReport,
    /// The upgrade report (null until the chain was read once).
    pub plan: Option<PlanReport>,
    /// The manual upgrade the running node is armed to halt for.
    pub armed_halt: Option<ArmedHaltReport>,
    /// The last swap (kept across restarts of switchyard).
    pub last_swap: Option<SwapReport>,
    pub restarts: Counts<RestartReason>,
    pub crashes: Counts<CrashReason>,
    pub stall: StallReport,
    /// What `/readyz` answers.
    pub ready: ReadyReport,
    /// Every setting with its effective value and where it came from.
    pub settings: Vec<Setting>,
    /// The config file that was read.
    pub config_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelfReport {
    pub version: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub home: String,
    pub daemon_name: String,
}

/// The supervised node process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeReport {
    pub state: NodeState,
    pub pid: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    /// The binary `current` points at.
    pub binary: Option<String>,
    pub binary_sha256: Option<String>,
    /// `genesis` or the upgrade name `current` points at.
    pub upgrade: Option<String>,
    /// The app's version string (`/abci_info`).
    pub app_version: Option<String>,
    /// The arguments the node was started with.
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NodeState {
    /// switchyard is getting ready to start it (recovering a swap, waiting out a backoff).
    Starting,
    Running,
    /// Stopped for a swap, which is under way.
    Swapping,
    /// Crashed or stopped for a stall; waiting to restart it.
    Restarting,
    /// Ended; switchyard is exiting.
    Exited,
}

/// What the chain watcher sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainReport {
    pub watched: bool,
    pub chain_id: Option<String>,
    pub latest_height: Option<i64>,
    /// The app's last committed height.
    pub committed_height: Option<i64>,
    pub last_block_time: Option<DateTime<Utc>>,
    /// Since the committed height last moved, as seen by switchyard.
    pub seconds_since_last_block: Option<f64>,
    pub catching_up: bool,
    pub peers: Option<u32>,
    pub block_time_seconds: Option<f64>,
    /// The node's RPC answered the last query.
    pub rpc_ok: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArmedHaltReport {
    pub upgrade: String,
    pub height: i64,
    #[serde(flatten)]
    pub halt: HaltReport,
}

/// One swap: the old node stopped, the binary switched, the new one started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwapReport {
    pub upgrade: String,
    pub height: i64,
    pub source: SwapSource,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: SwapOutcome,
    pub error: Option<String>,
    /// From the decision to stop the old node to the new node's start.
    pub downtime_seconds: Option<f64>,
    /// Each step as it ran, in order.
    pub steps: Vec<SwapStepReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SwapSource {
    Plan,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SwapOutcome {
    InProgress,
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwapStepReport {
    pub step: SwapStepName,
    pub seconds: f64,
}

/// The swap's steps, in order (`restart_delay` is `DAEMON_RESTART_DELAY`; `fetch` makes the new
/// binary ready: checks what was staged, or downloads it now; `start` is starting the new node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SwapStepName {
    Stop,
    RestartDelay,
    Fetch,
    Backup,
    PreUpgrade,
    Switch,
    Record,
    Start,
}

impl SwapStepName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SwapStepName::Stop => "stop",
            SwapStepName::RestartDelay => "restart_delay",
            SwapStepName::Fetch => "fetch",
            SwapStepName::Backup => "backup",
            SwapStepName::PreUpgrade => "pre_upgrade",
            SwapStepName::Switch => "switch",
            SwapStepName::Record => "record",
            SwapStepName::Start => "start",
        }
    }
}

/// A total and its breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(deserialize = "K: Ord + Deserialize<'de>"))]
pub(crate) struct Counts<K: Ord> {
    pub total: u64,
    pub by_reason: BTreeMap<K, u64>,
}

impl<K: Ord> Default for Counts<K> {
    fn default() -> Self {
        Counts {
            total: 0,
            by_reason: BTreeMap::new(),
        }
    }
}

impl<K: Ord> Counts<K> {
    pub(crate) fn add(&mut self, reason: K) {
        self.total += 1;
        *self.by_reason.entry(reason).or_insert(0) += 1;
    }
}

/// Why switchyard started the node again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RestartReason {
    /// It crashed.
    Crash,
    /// It stalled and `SWITCHYARD_STALL_ACTION=restart`.
    Stall,
    /// Its RPC stayed silent for the stall threshold and `SWITCHYARD_SILENT_RPC_ACTION=restart`.
    SilentRpc,
    /// The manual upgrades changed, so its `--halt-height` had to.
    HaltHeightChanged,
    /// A swap finished: the new binary started.
    Upgrade,
}

impl RestartReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RestartReason::Crash => "crash",
            RestartReason::Stall => "stall",
            RestartReason::SilentRpc => "silent_rpc",
            RestartReason::HaltHeightChanged => "halt_height_changed",
            RestartReason::Upgrade => "upgrade",
        }
    }
}

/// How the node crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CrashReason {
    /// It exited with a non-zero status of its own.
    ExitCode,
    /// A signal switchyard did not send ended it.
    Signal,
}

impl CrashReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CrashReason::ExitCode => "exit_code",
            CrashReason::Signal => "signal",
        }
    }
}

/// Stall detection's view of the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StallReport {
    pub state: StallState,
    /// Set when `state` is `stalled`.
    pub reason: Option<StallReasonName>,
    /// Set when `state` is `excused`.
    pub excuse: Option<ExcuseName>,
    /// The committed height and how long it has stayed there.
    pub height: Option<i64>,
    pub height_unchanged_seconds: Option<f64>,
    pub threshold_seconds: f64,
    pub min_peers: u32,
    pub action: StallAction,
    /// `SWITCHYARD_SILENT_RPC_ACTION`: what is done when `state` is `unanswered`.
    pub silent_rpc_action: StallAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StallState {
    /// Not running, or the chain is not watched.
    NotWatched,
    /// Started; its RPC has not answered yet.
    Starting,
    Progressing,
    /// Not moving, for a good reason (`excuse`).
    Excused,
    Stalled,
    /// Its RPC has given no fresh answer for the threshold: whether it moves is not known (not
    /// a stall; `SWITCHYARD_SILENT_RPC_ACTION` says what is done).
    Unanswered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StallReasonName {
    NoNewBlocks,
    TooFewPeers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExcuseName {
    CatchingUp,
    AtUpgradeHeight,
    AtHaltHeight,
    AtHaltTime,
}

/// `SWITCHYARD_STALL_ACTION`, `SWITCHYARD_SILENT_RPC_ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StallAction {
    /// Log it, export it, mark the node not ready.
    Log,
    /// Also restart the node (graceful stop, crash-loop limit).
    Restart,
}

/// `/readyz`: the node serves RPC, is not catching up and not stalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadyReport {
    pub ready: bool,
    /// Why not, in words.
    pub reasons: Vec<String>,
}

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Setting {
    pub key: String,
    pub value: String,
    pub source: SettingSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SettingSource {
    Env,
    File,
    Default,
}
