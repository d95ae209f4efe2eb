//! Building the upgrade report ([`PlanReport`]) from what the chain says and what the store
//! holds: used by `switchyard plan` (from a one-shot [`ChainSnapshot`]) and by the status API
//! and `/metrics` (from the running watcher's [`ChainView`]). The readiness verdict of each row
//! is the core's ([`switchyard_core::readiness`]); this module gathers its facts and words the
//! problems.

use std::time::Duration;

use switchyard_core::BinaryOrigin;
use switchyard_core::{
    readiness, BackupFact, BinaryFact, Check, ListingFact, Obstacle, PreUpgradeCommand,
    PreflightFact, Readiness, ReadinessFacts, UpgradeName,
};
use switchyard_store::{Layout, PreflightStatus};

use crate::chain_registry::{RegistryCtx, RegistryState, Source};
use switchyard_watcher::{
    ChainSnapshot, ChainView, PlanBinariesView, PlanWithBinaries, SeenIn, Upcoming,
};

use super::schema::{
    BinaryReport, BinarySourceKind, CheckState, PlanReport, PreUpgradeReport, PreUpgradeState,
    PreflightState, ProposalStatus, ReadinessReport, StagedReport, Transport, UpgradeRow,
    UpgradeSource,
};

/// What the report needs from the chain, from either a snapshot or the watcher's view.
#[derive(Debug, Clone)]
pub(crate) struct ChainFacts<'a> {
    pub chain_id: &'a str,
    pub height: i64,
    pub average_block_time: Option<Duration>,
    pub catching_up: bool,
    pub transport: Transport,
    pub upcoming: &'a [Upcoming],
    pub plan: Option<&'a PlanWithBinaries>,
    pub problems: Vec<String>,
}

impl<'a> ChainFacts<'a> {
    pub(crate) fn from_snapshot(s: &'a ChainSnapshot) -> Self {
        ChainFacts {
            chain_id: &s.chain_id,
            height: s.height,
            average_block_time: s.average_block_time,
            catching_up: s.catching_up,
            transport: transport(s.transport),
            upcoming: &s.upcoming,
            plan: s.plan.as_ref(),
            problems: s.problems.clone(),
        }
    }

    /// `None` until the watcher has read the chain once.
    pub(crate) fn from_view(v: &'a ChainView) -> Option<Self> {
        Some(ChainFacts {
            chain_id: v.chain_id.as_deref()?,
            height: v.latest_height?,
            average_block_time: v.average_block_time,
            catching_up: v.catching_up,
            transport: transport(v.transport?),
            upcoming: &v.upcoming,
            plan: v.plan.as_ref(),
            problems: v.last_error.iter().cloned().collect(),
        })
    }
}

fn transport(t: switchyard_watcher::Transport) -> Transport {
    match t {
        switchyard_watcher::Transport::Grpc => Transport::Grpc,
        switchyard_watcher::Transport::AbciQuery => Transport::AbciQuery,
    }
}

/// Whether the backup taken before the next swap would fit: estimated now from `data/` and the
/// backup folder's free space (the same estimate the swap checks before it writes anything).
/// Returns the fact, and the reason to tell the operator when it does not fit or cannot be
/// estimated.
pub(crate) fn backup_outlook(
    skip_backup: bool,
    data_dir: Option<&std::path::Path>,
    backup_root: Option<&std::path::Path>,
) -> (BackupFact, Option<String>) {
    use switchyard_store::backup::{estimate, human_bytes};
    if skip_backup {
        return (BackupFact::NotTaken, None);
    }
    let (Some(data_dir), Some(root)) = (data_dir.filter(|d| d.is_dir()), backup_root) else {
        return (BackupFact::Unknown, None);
    };
    match estimate(data_dir, root) {
        Ok(e) if e.fits => (BackupFact::Fits, None),
        Ok(e) => (
            BackupFact::TooSmall,
            Some(format!(
                "the data backup before the next swap would not fit: it needs {} on the filesystem of {}, which has {} free (set DAEMON_DATA_BACKUP_DIR to a bigger disk, or free space)",
                human_bytes(e.needed_bytes),
                e.target.display(),
                human_bytes(e.available_bytes)
            )),
        ),
        Err(e) => (
            BackupFact::Unknown,
            Some(format!("the size of the next data backup cannot be estimated: {e}")),
        ),
    }
}

/// A report under construction: rows with the facts their verdict is decided from, so callers
/// can add what only they know (how a manual upgrade's predecessor halts) before
/// [`Draft::finish`] asks the core.
pub(crate) struct Draft {
    pub chain_id: String,
    pub height: i64,
    pub block_time_seconds: Option<f64>,
    pub catching_up: bool,
    pub transport: Transport,
    pub problems: Vec<String>,
    pub rows: Vec<DraftRow>,
}

pub(crate) struct DraftRow {
    pub row: UpgradeRow,
    pub facts: ReadinessFacts,
}

impl Draft {
    /// Asks the core for each row's verdict.
    pub(crate) fn finish(self) -> PlanReport {
        PlanReport {
            chain_id: self.chain_id,
            height: self.height,
            block_time_seconds: self.block_time_seconds,
            catching_up: self.catching_up,
            transport: self.transport,
            problems: self.problems,
            upgrades: self
                .rows
                .into_iter()
                .map(|DraftRow { mut row, facts }| {
                    let r = readiness(&facts);
                    row.ready = r.ready;
                    row.readiness = readiness_report(&r);
                    row
                })
                .collect(),
        }
    }
}

pub(crate) fn readiness_report(r: &Readiness) -> ReadinessReport {
    ReadinessReport {
        binary_staged: check(r.binary_staged),
        checksum_verified: check(r.checksum_verified),
        preflight_ok: check(r.preflight_ok),
        backup_space_ok: check(r.backup_space_ok),
        binary_source: check(r.binary_source),
    }
}

fn source_kind(o: BinaryOrigin) -> BinarySourceKind {
    match o {
        BinaryOrigin::PlanInfo => BinarySourceKind::PlanInfo,
        BinaryOrigin::Proposal => BinarySourceKind::Proposal,
        BinaryOrigin::Registry => BinarySourceKind::Registry,
        BinaryOrigin::ManualUrl => BinarySourceKind::ManualUrl,
        BinaryOrigin::PlacedByHand => BinarySourceKind::PlacedByHand,
    }
}

fn check(c: Check) -> CheckState {
    match c {
        Check::Yes => CheckState::Yes,
        Check::No => CheckState::No,
        Check::Unknown => CheckState::Unknown,
        Check::NotApplicable => CheckState::NotApplicable,
    }
}

/// Builds the report's rows from the chain and (when known) the store layout.
pub(crate) fn draft(
    chain: &ChainFacts<'_>,
    layout: Option<&Layout>,
    disable_recase: bool,
    platform: &str,
    backup: BackupFact,
    registry: Option<&RegistryState>,
) -> Draft {
    let reg = RegistryCtx {
        state: registry,
        chain_id: Some(chain.chain_id),
    };
    let mut problems = chain.problems.clone();
    if chain.catching_up {
        problems.push(format!(
            "the node is still catching up (at height {}): heights and ETAs may be behind the chain",
            chain.height
        ));
    }
    let mut rows: Vec<DraftRow> = chain
        .upcoming
        .iter()
        .map(|u| chain_row(u, chain, layout, disable_recase, platform, backup, reg))
        .collect();
    if let Some(layout) = layout {
        match switchyard_store::load_manual_upgrades(layout) {
            Ok(list) => {
                for m in list.iter().filter(|m| m.height > chain.height) {
                    rows.push(manual_row(
                        &m.name, m.height, chain, layout, backup, reg, platform,
                    ));
                }
            }
            Err(e) => problems.push(format!("manual upgrades could not be read: {e}")),
        }
    }
    rows.sort_by_key(|r| (r.row.source == UpgradeSource::Proposal, r.row.height));
    Draft {
        chain_id: chain.chain_id.to_string(),
        height: chain.height,
        block_time_seconds: chain
            .average_block_time
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
        catching_up: chain.catching_up,
        transport: chain.transport,
        problems,
        rows,
    }
}

fn eta_seconds(height: i64, chain: &ChainFacts<'_>) -> Option<u64> {
    chain.average_block_time.map(|d| {
        (d.as_secs_f64() * height.saturating_sub(chain.height).max(0) as f64).round() as u64
    })
}

fn proposal_status(s: switchyard_watcher::ProposalStatus) -> ProposalStatus {
    use switchyard_watcher::ProposalStatus as P;
    match s {
        P::Unspecified => ProposalStatus::Unspecified,
        P::DepositPeriod => ProposalStatus::DepositPeriod,
        P::VotingPeriod => ProposalStatus::VotingPeriod,
        P::Passed => ProposalStatus::Passed,
        P::Rejected => ProposalStatus::Rejected,
        P::Failed => ProposalStatus::Failed,
    }
}

fn empty_readiness() -> ReadinessReport {
    ReadinessReport {
        binary_staged: CheckState::Unknown,
        checksum_verified: CheckState::Unknown,
        preflight_ok: CheckState::Unknown,
        backup_space_ok: CheckState::Unknown,
        binary_source: CheckState::Unknown,
    }
}

fn chain_row(
    u: &Upcoming,
    chain: &ChainFacts<'_>,
    layout: Option<&Layout>,
    disable_recase: bool,
    platform: &str,
    backup: BackupFact,
    reg: RegistryCtx<'_>,
) -> DraftRow {
    let mut problems = Vec::new();
    let mut obstacles = Vec::new();
    let name = match UpgradeName::parse(&u.name, disable_recase) {
        Ok(n) => Some(n),
        Err(e) => {
            problems.push(format!("the plan name cannot be used: {e}"));
            obstacles.push(Obstacle::UnusableName);
            None
        }
    };
    if u.height <= chain.height {
        problems.push(format!(
            "plan height {} already reached: the chain is at height {}",
            u.height, chain.height
        ));
        obstacles.push(Obstacle::HeightReached);
    }
    let source = reg.source_for(u, platform);
    let (url, checksum) = match source.binary() {
        Some(b) => (
            Some(b.url.clone()),
            b.checksum.as_ref().map(|c| c.to_string()),
        ),
        None => (None, None),
    };
    let mut binary_problem = None;
    let plan_problem = plan_binary_problem(u, platform);
    let listing = match &source {
        Source::Plan(b) | Source::Registry { source: b, .. } => {
            if b.checksum.is_none() {
                binary_problem = Some(match source {
                    Source::Registry { .. } => {
                        format!("the chain registry's binary for {platform} has no checksum")
                    }
                    _ => format!("the binary for {platform} has no checksum"),
                });
            }
            ListingFact::ForPlatform {
                checksum: b.checksum.is_some(),
            }
        }
        Source::Conflict(c) => {
            binary_problem = Some(c.to_string());
            ListingFact::Unusable
        }
        Source::Nothing(why) => {
            let mut text = format!(
                "no binary source: {}",
                plan_problem.clone().unwrap_or_default()
            );
            if let Some(why) = why {
                text.push_str("; ");
                text.push_str(why);
            }
            binary_problem = Some(text);
            ListingFact::Unusable
        }
    };
    // A registry for another chain is refused even when the plan's own binary makes it moot: a
    // wrong SWITCHYARD_CHAIN_REGISTRY is said before the upgrade that would need it.
    if let (Source::Plan(_), Some(why)) = (&source, reg.wrong_chain()) {
        problems.push(why);
    }
    // Said whatever else holds: the registry and the plan disagree on the height.
    if let Source::Registry {
        height: Some(m), ..
    } = &source
    {
        problems.push(format!("{m}"));
    }
    let disk = match (layout, &name) {
        (Some(l), Some(n)) => staged_state(l, n, &mut problems, &mut obstacles),
        (None, _) => OnDisk::not_checked(),
        // A name that cannot be a folder cannot be on disk either.
        (Some(_), None) => OnDisk::missing(),
    };
    match disk.fact {
        // On disk: whatever the info says, the binary is here.
        BinaryFact::Staged { .. } | BinaryFact::Placed => {}
        BinaryFact::Missing => {
            problems.extend(binary_problem);
            problems.push(
                "the binary is not staged (run `switchyard prepare`, or `switchyard add-upgrade`)"
                    .into(),
            );
        }
        BinaryFact::NotChecked => problems.extend(binary_problem),
    }
    DraftRow {
        row: UpgradeRow {
            name: u.name.clone(),
            height: u.height,
            source: match u.source {
                SeenIn::Plan => UpgradeSource::Plan,
                SeenIn::Proposal => UpgradeSource::Proposal,
            },
            proposal_id: u.proposal_id,
            proposal_status: u.proposal_status.map(proposal_status),
            eta_seconds: eta_seconds(u.height, chain),
            binary: BinaryReport {
                url,
                checksum,
                source: disk.origin.or(source.origin(u.source)).map(source_kind),
                staged: disk.staged,
                preflight: disk.record,
                pre_upgrade: disk.pre_upgrade,
            },
            ready: false,
            readiness: empty_readiness(),
            problems,
            halt: None,
        },
        facts: ReadinessFacts {
            binary: disk.fact,
            listing,
            backup,
            obstacles,
        },
    }
}

/// Why `u`'s plan info gives no usable binary for `platform`, in words; `None` when it gives one.
fn plan_binary_problem(u: &Upcoming, platform: &str) -> Option<String> {
    match &u.binaries {
        PlanBinariesView::Listed { binaries, .. } => match binaries.for_platform(platform) {
            Some(_) => None,
            None => Some(match binaries.rejection_for(platform) {
                Some(r) => format!(
                    "the binary listed for {} cannot be used: {}",
                    r.platform, r.reason
                ),
                None => format!(
                    "no binary for this platform ({platform}); the plan lists: {}",
                    if binaries.entries.is_empty() {
                        "nothing usable".to_string()
                    } else {
                        binaries
                            .entries
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            }),
        },
        PlanBinariesView::None => {
            Some("the plan's info lists no binaries (plain text or no \"binaries\" map)".into())
        }
        PlanBinariesView::Unavailable { url, why } => Some(format!(
            "the plan's info URL {url} could not be used: {why}"
        )),
    }
}

fn manual_row(
    name: &UpgradeName,
    height: i64,
    chain: &ChainFacts<'_>,
    layout: &Layout,
    backup: BackupFact,
    reg: RegistryCtx<'_>,
    platform: &str,
) -> DraftRow {
    let mut problems = Vec::new();
    let mut obstacles = Vec::new();
    if let Some(p) = chain.plan {
        if switchyard_core::plan_displaces(height, p.spec.height) {
            problems.push(format!(
                "suspended: the on-chain plan {:?} is scheduled at the same height and wins",
                p.spec.name
            ));
            obstacles.push(Obstacle::Suspended);
        }
    }
    let disk = staged_state(layout, name, &mut problems, &mut obstacles);
    // Not on disk: the chain registry may still give it (pre-staged by `run`).
    let mut listing = ListingFact::NotApplicable;
    let mut from_registry = None;
    if disk.fact == BinaryFact::Missing {
        match reg.registry_only(name.as_str(), Some(height), platform) {
            Source::Registry { source, height } => {
                problems.extend(height.map(|m| m.to_string()));
                listing = ListingFact::ForPlatform {
                    checksum: source.checksum.is_some(),
                };
                from_registry = Some(source);
            }
            Source::Nothing(Some(why)) => problems.push(format!("no binary source: {why}")),
            _ => {}
        }
        problems.push("the binary is not staged (place it with `switchyard add-upgrade`)".into());
    }
    DraftRow {
        row: UpgradeRow {
            name: name.to_string(),
            height,
            source: UpgradeSource::Manual,
            proposal_id: None,
            proposal_status: None,
            eta_seconds: eta_seconds(height, chain),
            binary: BinaryReport {
                url: from_registry.as_ref().map(|s| s.url.clone()),
                checksum: from_registry
                    .as_ref()
                    .and_then(|s| s.checksum.as_ref().map(|c| c.to_string())),
                source: disk
                    .origin
                    .or(from_registry.as_ref().map(|_| BinaryOrigin::Registry))
                    .map(source_kind),
                staged: disk.staged,
                preflight: disk.record,
                pre_upgrade: disk.pre_upgrade,
            },
            ready: false,
            readiness: empty_readiness(),
            problems,
            halt: None,
        },
        facts: ReadinessFacts {
            binary: disk.fact,
            listing,
            backup,
            obstacles,
        },
    }
}

/// What the store says about one upgrade's binary.
struct OnDisk {
    /// Where the binary on disk came from (its staging record, or placed by hand).
    origin: Option<BinaryOrigin>,
    staged: Option<bool>,
    record: Option<StagedReport>,
    pre_upgrade: Option<PreUpgradeReport>,
    fact: BinaryFact,
}

impl OnDisk {
    fn not_checked() -> Self {
        OnDisk {
            origin: None,
            staged: None,
            record: None,
            pre_upgrade: None,
            fact: BinaryFact::NotChecked,
        }
    }
    fn missing() -> Self {
        OnDisk {
            origin: None,
            staged: Some(false),
            record: None,
            pre_upgrade: None,
            fact: BinaryFact::Missing,
        }
    }
}

/// Whether the binary is in `upgrades/<name>/bin/`, and the staging record's preflight if any.
fn staged_state(
    layout: &Layout,
    name: &UpgradeName,
    problems: &mut Vec<String>,
    obstacles: &mut Vec<Obstacle>,
) -> OnDisk {
    let present = layout.has_upgrade_binary(name);
    let record = match switchyard_store::load_staging_record(layout, name) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("the staging record cannot be read: {e}"));
            obstacles.push(Obstacle::UnreadableRecord);
            None
        }
    };
    if !present {
        return OnDisk::missing();
    }
    let pre_upgrade = pre_upgrade_verdict(layout, name, problems);
    let Some(r) = record else {
        return OnDisk {
            origin: Some(BinaryOrigin::PlacedByHand),
            staged: Some(true),
            record: None,
            pre_upgrade,
            fact: BinaryFact::Placed,
        };
    };
    let preflight = match r.preflight.status {
        PreflightStatus::Pending => PreflightFact::Pending,
        PreflightStatus::Ok => PreflightFact::Ok,
        PreflightStatus::Failed => PreflightFact::Failed,
        PreflightStatus::Skipped => PreflightFact::Skipped,
    };
    match preflight {
        PreflightFact::Failed => problems.push(format!(
            "the staged binary failed its preflight: {}",
            r.preflight.message.as_deref().unwrap_or("no message")
        )),
        PreflightFact::Skipped => problems.push(
            "the binary was staged without a checksum, so nothing proves it is the one the chain decided (and it was not test-run)".into(),
        ),
        PreflightFact::Ok | PreflightFact::Pending => {}
    }
    // Staging refuses a download whose digest differs from the expected checksum, so a record
    // with an expected checksum is a verified one.
    let checksum_verified = r.expected_checksum.is_some();
    if !checksum_verified && preflight != PreflightFact::Skipped {
        problems.push("the binary was staged without a checksum to verify it against".into());
    }
    OnDisk {
        origin: r.origin,
        staged: Some(true),
        record: Some(StagedReport {
            url: r.url,
            digest: r.digest,
            size: r.size,
            status: match r.preflight.status {
                PreflightStatus::Pending => PreflightState::Pending,
                PreflightStatus::Ok => PreflightState::Ok,
                PreflightStatus::Failed => PreflightState::Failed,
                PreflightStatus::Skipped => PreflightState::Skipped,
            },
            output: r.preflight.output,
            message: r.preflight.message,
            ran_at: r.preflight.ran_at,
            staged_at: r.staged_at,
        }),
        pre_upgrade,
        fact: BinaryFact::Staged {
            checksum_verified,
            preflight,
        },
    }
}

/// The pre-upgrade probe's verdict on the binary as it is now. It does not bear on readiness:
/// without a verdict the command is simply run at the halt, as cosmovisor always does.
fn pre_upgrade_verdict(
    layout: &Layout,
    name: &UpgradeName,
    problems: &mut Vec<String>,
) -> Option<PreUpgradeReport> {
    let rec = match switchyard_store::current_preupgrade_probe(layout, name) {
        Ok(r) => r?,
        Err(e) => {
            problems.push(format!(
                "the pre-upgrade probe's record cannot be read: {e}"
            ));
            return None;
        }
    };
    let command = match rec.command {
        PreUpgradeCommand::Absent => PreUpgradeState::Absent,
        PreUpgradeCommand::Present => PreUpgradeState::Present,
        PreUpgradeCommand::Unknown => PreUpgradeState::Unknown,
    };
    Some(PreUpgradeReport {
        command,
        probed_at: rec.probed_at,
        run_at_halt: switchyard_core::preupgrade_needed(Some(rec.command)),
    })
}

/// How a manual upgrade's predecessor is stopped, for the report.
pub(crate) fn halt_report(
    height: i64,
    halt: switchyard_core::HaltFlag,
    behaviour: Option<switchyard_core::HaltBehaviour>,
    sdk_version: Option<String>,
    known_from: super::schema::KnownFrom,
) -> super::schema::HaltReport {
    use super::schema::{HaltBehaviourName, HaltMethodName, HaltReport};
    use switchyard_core::HaltBehaviour as B;
    HaltReport {
        method: if halt.is_probe() {
            HaltMethodName::Probe
        } else {
            HaltMethodName::HaltHeight
        },
        halt_height: halt.flag,
        sdk_version,
        behaviour: behaviour.map(|b| match b {
            B::CommitsThenExits => HaltBehaviourName::CommitsThenExits,
            B::CommitsThenWaits => HaltBehaviourName::CommitsThenWaits,
            B::Commits => HaltBehaviourName::Commits,
            B::StopsBefore => HaltBehaviourName::StopsBefore,
        }),
        known_from,
        note: halt.is_probe().then(|| {
            format!(
                "what --halt-height does on the binary running before it is not known: it will be started with --halt-height {}, \
                 which no binary lets commit block {height}, and restarted once with --halt-height {height} if it stops one block early",
                halt.flag
            )
        }),
    }
}
