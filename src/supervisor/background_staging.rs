//! Pre-staging inside `run`: as soon as the chain watcher sees an upgrade with a binary for this
//! platform, download, verify, install and preflight it, long before the halt.
//!
//! What is staged is the core's rule (`switchyard_core::should_stage`): when
//! `DAEMON_ALLOW_DOWNLOAD_BINARIES` is true, the scheduled plan and passed proposals, and
//! proposals still in their voting period unless `SWITCHYARD_PRESTAGE_VOTING=false`; never a
//! height the node's `--unsafe-skip-upgrades` skips. An upgrade whose plan info gives no binary
//! for this platform is staged from the chain registry when `SWITCHYARD_CHAIN_REGISTRY` gives
//! one (`switchyard_core::pick_binary`; a plan and a registry that disagree stage nothing and
//! are logged once). This task only maps the watcher's view onto the core's terms and carries
//! it out; it runs again when the view or the registry changes.
//!
//! A staged binary is asked at once whether it has a `pre-upgrade` command (`probe_ahead`).
//! A binary the operator placed is never touched (the store refuses). Failures are retried after
//! a delay; they never disturb the node.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_core::{
    should_stage, this_platform, ProposalPhase, Sighting, StagingCandidate, StagingPolicy,
};
use switchyard_store::Layout;
use switchyard_watcher::{ChainView, ProposalStatus, SeenIn, Upcoming};
use tokio::sync::watch;

use crate::chain_registry::{RegistryCtx, RegistryState, Source};
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::upgrade_binary::{stage_upcoming, Outcome};

/// How long a failed attempt waits before the next one.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Upcoming upgrades, each with where its binary comes from.
pub(super) type Picked<U> = Vec<(U, Source)>;

/// The upcoming upgrades that should be staged now, by the core's rules
/// (`switchyard_core::should_stage`), each with where its binary comes from; and those that
/// would be, but whose plan info and registry disagree.
pub(super) fn candidates<'v>(
    view: &'v ChainView,
    policy: StagingPolicy,
    skip_heights: &BTreeSet<i64>,
    reg: RegistryCtx<'_>,
) -> (Picked<&'v Upcoming>, Picked<&'v Upcoming>) {
    let platform = this_platform();
    let (mut todo, mut conflicts) = (Vec::new(), Vec::new());
    for u in &view.upcoming {
        let source = reg.source_for(u, &platform);
        let mut c = candidate(u);
        let wanted_if_listed = {
            c.lists_binary = true;
            should_stage(&c, view.latest_height, skip_heights, policy)
        };
        if !wanted_if_listed {
            continue;
        }
        if source.is_some() {
            todo.push((u, source));
        } else if matches!(source, Source::Conflict(_)) {
            conflicts.push((u, source));
        }
    }
    (todo, conflicts)
}

/// How the core sees one upcoming upgrade, as far as its plan info goes (the registry is
/// [`candidates`]'s business).
fn candidate(u: &Upcoming) -> StagingCandidate {
    let phase = proposal_phase(u.proposal_status);
    StagingCandidate {
        height: u.height,
        sighting: match u.source {
            SeenIn::Plan => Sighting::ScheduledPlan,
            SeenIn::Proposal => Sighting::Proposal(phase),
        },
        // A binary for this very platform (or `any`), not just a binaries list.
        lists_binary: u
            .binaries
            .binaries()
            .is_some_and(|b| b.for_platform(&this_platform()).is_some()),
    }
}

/// A proposal's status in the core's terms.
pub(super) fn proposal_phase(status: Option<ProposalStatus>) -> ProposalPhase {
    match status {
        Some(ProposalStatus::DepositPeriod) => ProposalPhase::Deposit,
        Some(ProposalStatus::VotingPeriod) => ProposalPhase::Voting,
        Some(ProposalStatus::Passed) => ProposalPhase::Passed,
        _ => ProposalPhase::Other,
    }
}

/// Starts the pre-staging task; it ends when `shutdown` is triggered, a download in progress
/// dropped (its attempt folder in the staging work area is removed with it, the next start
/// downloads again, and nothing is installed half-written).
pub(super) fn spawn(
    cfg: Config,
    layout: Layout,
    mut view: watch::Receiver<ChainView>,
    mut registry: watch::Receiver<Option<Arc<RegistryState>>>,
    skip_heights: BTreeSet<i64>,
    shutdown: &Shutdown,
) {
    let shutdown = shutdown.clone();
    if !cfg.allow_download_binaries {
        tracing::info!("DAEMON_ALLOW_DOWNLOAD_BINARIES is false: upcoming binaries are not pre-staged (use `switchyard prepare` or `add-upgrade`)");
        return;
    }
    shutdown.clone().spawn(async move {
        let opts = crate::upgrade_binary::stage_options(&cfg, false);
        // name -> (url, when it last failed); successes are remembered with no failure time.
        let mut tried: HashMap<(String, String), Option<Instant>> = HashMap::new();
        // Conflicts between the plan's info and the registry, each logged once.
        let mut said: HashSet<String> = HashSet::new();
        loop {
            let (todo, conflicts): (Picked<Upcoming>, Picked<Upcoming>) = {
                let v = view.borrow_and_update();
                let r = registry.borrow_and_update().clone();
                let reg = RegistryCtx {
                    state: r.as_deref(),
                    chain_id: v.chain_id.as_deref(),
                };
                // Said once, whether or not an upgrade needs the registry now.
                if let Some(why) = reg.wrong_chain() {
                    let line = format!("the chain registry is not used: {why}");
                    if said.insert(line.clone()) {
                        tracing::error!("{line}");
                    }
                }
                let (todo, conflicts) = candidates(
                    &v,
                    StagingPolicy {
                        allow_download: true,
                        include_voting: cfg.prestage_voting,
                    },
                    &skip_heights,
                    reg,
                );
                let own = |l: Vec<(&Upcoming, Source)>| {
                    l.into_iter().map(|(u, s)| (u.clone(), s)).collect()
                };
                (own(todo), own(conflicts))
            };
            for (u, source) in conflicts {
                if let Source::Conflict(c) = source {
                    let line = format!("not pre-staging {}: {c}", u.name);
                    if said.insert(line.clone()) {
                        tracing::error!(upgrade = %u.name, "{line}");
                    }
                }
            }
            for (u, source) in todo {
                let url = source.binary().map(|s| s.url.clone()).unwrap_or_default();
                let key = (u.name.clone(), url);
                match tried.get(&key) {
                    Some(None) => continue,
                    Some(Some(t)) if t.elapsed() < RETRY_AFTER => continue,
                    _ => {}
                }
                let name = match switchyard_core::UpgradeName::parse(&u.name, cfg.disable_recase) {
                    Ok(name) => name,
                    Err(e) => {
                        // Permanent: say it once, never retry.
                        tracing::error!("not staging an upgrade with a bad name: {e}");
                        tried.insert(key, None);
                        continue;
                    }
                };
                let from_registry = matches!(source, Source::Registry { .. });
                let what = match (u.source, u.proposal_id, u.proposal_status) {
                    (SeenIn::Plan, _, _) => "the scheduled plan".to_string(),
                    (SeenIn::Proposal, Some(id), Some(ProposalStatus::VotingPeriod)) => {
                        format!("proposal #{id}, still in voting")
                    }
                    (SeenIn::Proposal, Some(id), Some(ProposalStatus::Passed)) => {
                        format!("proposal #{id}, passed")
                    }
                    (SeenIn::Proposal, Some(id), _) => format!("proposal #{id}"),
                    (SeenIn::Proposal, None, _) => "a proposal".to_string(),
                };
                let what = if from_registry {
                    format!("{what}, from the chain registry")
                } else {
                    what
                };
                tracing::info!(upgrade = %u.name, height = u.height, "pre-staging the binary of {what}");
                // Owned copies: no watch guard is held across the download.
                let reg_now = registry.borrow().clone();
                let chain_id = view.borrow().chain_id.clone();
                crate::notify::staging(Some(&u.name));
                // Candidates are already filtered by the voting rule: include them all.
                let staged = shutdown
                    .unless(stage_upcoming(
                        &layout,
                        &u,
                        true,
                        cfg.disable_recase,
                        &this_platform(),
                        &opts,
                        RegistryCtx {
                            state: reg_now.as_deref(),
                            chain_id: chain_id.as_deref(),
                        },
                    ))
                    .await;
                crate::notify::staging(None);
                let Ok((outcome, message, record)) = staged else {
                    tracing::info!(upgrade = %u.name, "pre-staging stopped by the shutdown; its partial download was removed and the next start downloads it again");
                    return;
                };
                match (outcome, &record) {
                    (Outcome::Staged, Some(r)) => crate::live::downloaded(r.size),
                    (Outcome::Failed, _) => crate::live::download_failed(),
                    _ => {}
                }
                if outcome == Outcome::Failed {
                    tracing::error!(upgrade = %u.name, "pre-staging failed (will retry): {message}");
                    tried.insert(key, Some(Instant::now()));
                } else {
                    tracing::info!(upgrade = %u.name, "{}: {message}", outcome.as_str().replace('_', " "));
                    tried.insert(key, None);
                    // While the binary is fresh on disk, days before the halt.
                    let probe = super::probe_ahead::probe_if_needed(&layout, &name);
                    if shutdown.unless(probe).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                () = shutdown.triggered() => return,
                r = view.changed() => if r.is_err() { return },
                r = registry.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::{parse_info, PlanInfo};
    use switchyard_watcher::PlanBinariesView;

    fn upcoming(
        name: &str,
        height: i64,
        source: SeenIn,
        status: Option<ProposalStatus>,
        listed: bool,
    ) -> Upcoming {
        let binaries = match parse_info(
            r#"{"binaries":{"any":"https://x/y?checksum=sha256:673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca"}}"#,
        ) {
            PlanInfo::Binaries(b) if listed => PlanBinariesView::Listed {
                binaries: b,
                from_url: None,
            },
            _ => PlanBinariesView::None,
        };
        Upcoming {
            name: name.into(),
            height,
            info: String::new(),
            source,
            proposal_id: Some(1),
            proposal_status: status,
            binaries,
            eta: None,
        }
    }

    #[test]
    fn a_plan_without_a_binary_for_this_platform_is_not_a_candidate() {
        let elsewhere = if this_platform() == "linux/arm64" {
            "darwin/amd64"
        } else {
            "linux/arm64"
        };
        let info = format!(
            r#"{{"binaries":{{"{elsewhere}":"https://x/y?checksum=sha256:673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca"}}}}"#
        );
        let PlanInfo::Binaries(b) = parse_info(&info) else {
            panic!("{info}")
        };
        let mut u = upcoming("plan", 200, SeenIn::Plan, None, true);
        u.binaries = PlanBinariesView::Listed {
            binaries: b,
            from_url: None,
        };
        assert!(!candidate(&u).lists_binary);
        assert!(candidate(&upcoming("any", 200, SeenIn::Plan, None, true)).lists_binary);
    }

    #[test]
    fn stages_plans_and_voting_proposals_only_when_allowed() {
        let view = ChainView {
            latest_height: Some(100),
            upcoming: vec![
                upcoming("plan", 200, SeenIn::Plan, None, true),
                upcoming(
                    "voting",
                    300,
                    SeenIn::Proposal,
                    Some(ProposalStatus::VotingPeriod),
                    true,
                ),
                upcoming(
                    "deposit",
                    300,
                    SeenIn::Proposal,
                    Some(ProposalStatus::DepositPeriod),
                    true,
                ),
                upcoming("nobin", 400, SeenIn::Plan, None, false),
                upcoming("past", 50, SeenIn::Plan, None, true),
            ],
            ..Default::default()
        };
        let names = |(v, _): (Picked<&Upcoming>, _)| {
            v.iter().map(|(u, _)| u.name.clone()).collect::<Vec<_>>()
        };
        let none_reg = RegistryCtx::default();
        let policy = |allow_download, include_voting| StagingPolicy {
            allow_download,
            include_voting,
        };
        let none = BTreeSet::new();
        assert_eq!(
            names(candidates(&view, policy(true, false), &none, none_reg)),
            ["plan"]
        );
        assert_eq!(
            names(candidates(&view, policy(true, true), &none, none_reg)),
            ["plan", "voting"]
        );
        assert!(candidates(&view, policy(false, true), &none, none_reg)
            .0
            .is_empty());
        assert_eq!(
            names(candidates(
                &view,
                policy(true, true),
                &BTreeSet::from([200]),
                none_reg
            )),
            ["voting"]
        );
        // With a registry of this chain that lists "nobin", it is a candidate too; with one
        // that gives another binary for "plan", "plan" is a conflict and not staged.
        let registry = switchyard_core::Registry::assemble(
            switchyard_core::parse_chain(
                br#"{"chain_name":"t","chain_id":"t-1","codebase":{"versions":[
                    {"name":"nobin","binaries":{"any":"https://r/nobin?checksum=sha256:1111111111111111111111111111111111111111111111111111111111111111"}},
                    {"name":"plan","binaries":{"any":"https://r/plan?checksum=sha256:2222222222222222222222222222222222222222222222222222222222222222"}}]}}"#,
            )
            .unwrap(),
            None,
        )
        .unwrap();
        let state = RegistryState {
            source: switchyard_watcher::RegistrySource::Path("/r/chain.json".into()),
            read: Ok(registry),
        };
        let reg = RegistryCtx {
            state: Some(&state),
            chain_id: Some("t-1"),
        };
        let (todo, conflicts) = candidates(&view, policy(true, false), &none, reg);
        let todo: Vec<_> = todo
            .iter()
            .map(|(u, s)| (u.name.as_str(), s.origin(u.source)))
            .collect();
        assert_eq!(
            todo,
            [("nobin", Some(switchyard_core::BinaryOrigin::Registry))]
        );
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].0.name, "plan");
        // Another chain's registry is not used.
        let other = RegistryCtx {
            chain_id: Some("x-1"),
            ..reg
        };
        assert_eq!(
            names(candidates(&view, policy(true, false), &none, other)),
            ["plan"]
        );
    }
}
