//! Pre-staging inside `run`: as soon as the chain watcher sees an upgrade with a binary for this
//! platform, download, verify, install and preflight it, long before the halt.
//!
//! What is staged is the core's rule (`switchyard_core::should_stage`): when
//! `DAEMON_ALLOW_DOWNLOAD_BINARIES` is true, the scheduled plan and passed proposals, and
//! proposals still in their voting period unless `SWITCHYARD_PRESTAGE_VOTING=false`; never a
//! height the node's `--unsafe-skip-upgrades` skips. This task only maps the watcher's view onto
//! the core's terms and carries it out.
//!
//! A staged binary is asked at once whether it has a `pre-upgrade` command (`probe_ahead`).
//! A binary the operator placed is never touched (the store refuses). Failures are retried after
//! a delay; they never disturb the node.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use switchyard_core::{
    should_stage, this_platform, ProposalPhase, Sighting, StagingCandidate, StagingPolicy,
};
use switchyard_store::Layout;
use switchyard_watcher::{ChainView, ProposalStatus, SeenIn, Upcoming};
use tokio::sync::watch;

use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::upgrade_binary::{stage_upcoming, Outcome};

/// How long a failed attempt waits before the next one.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The upcoming upgrades that should be staged now, by the core's rules
/// (`switchyard_core::should_stage`).
pub(super) fn candidates<'v>(
    view: &'v ChainView,
    policy: StagingPolicy,
    skip_heights: &BTreeSet<i64>,
) -> Vec<&'v Upcoming> {
    view.upcoming
        .iter()
        .filter(|u| should_stage(&candidate(u), view.latest_height, skip_heights, policy))
        .collect()
}

/// How the core sees one upcoming upgrade.
fn candidate(u: &Upcoming) -> StagingCandidate {
    let phase = match u.proposal_status {
        Some(ProposalStatus::DepositPeriod) => ProposalPhase::Deposit,
        Some(ProposalStatus::VotingPeriod) => ProposalPhase::Voting,
        Some(ProposalStatus::Passed) => ProposalPhase::Passed,
        _ => ProposalPhase::Other,
    };
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

/// Starts the pre-staging task; it ends when `shutdown` is triggered, a download in progress
/// dropped (its attempt folder in the staging work area is removed with it, the next start
/// downloads again, and nothing is installed half-written).
pub(super) fn spawn(
    cfg: Config,
    layout: Layout,
    mut view: watch::Receiver<ChainView>,
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
        loop {
            let todo: Vec<Upcoming> = {
                let v = view.borrow_and_update();
                candidates(
                    &v,
                    StagingPolicy {
                        allow_download: true,
                        include_voting: cfg.prestage_voting,
                    },
                    &skip_heights,
                )
                .into_iter()
                .cloned()
                .collect()
            };
            for u in todo {
                let Some(binaries) = u.binaries.binaries() else {
                    continue;
                };
                let url = binaries
                    .for_platform(&this_platform())
                    .map(|s| s.url.clone())
                    .unwrap_or_default();
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
                tracing::info!(upgrade = %u.name, height = u.height, "pre-staging the binary of {what}");
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
        let names = |v: Vec<&Upcoming>| v.iter().map(|u| u.name.clone()).collect::<Vec<_>>();
        let policy = |allow_download, include_voting| StagingPolicy {
            allow_download,
            include_voting,
        };
        let none = BTreeSet::new();
        assert_eq!(
            names(candidates(&view, policy(true, false), &none)),
            ["plan"]
        );
        assert_eq!(
            names(candidates(&view, policy(true, true), &none)),
            ["plan", "voting"]
        );
        assert!(candidates(&view, policy(false, true), &none).is_empty());
        assert_eq!(
            names(candidates(
                &view,
                policy(true, true),
                &BTreeSet::from([200])
            )),
            ["voting"]
        );
    }
}
