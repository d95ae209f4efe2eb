//! Pre-staging inside `run`: as soon as the chain watcher sees an upgrade with a binary for this
//! platform, download, verify, install and preflight it, long before the halt.
//!
//! What is staged (when `DAEMON_ALLOW_DOWNLOAD_BINARIES` is true):
//! - the scheduled plan (`CurrentPlan`, which is what a passed proposal becomes);
//! - proposals still in their voting period, only with `SWITCHYARD_PRESTAGE_VOTING=true`
//!   (running a binary from a proposal that may never pass is the operator's choice).
//!
//! A binary the operator placed is never touched (the store refuses). Failures are retried after
//! a delay; they never disturb the node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchyard_core::this_platform;
use switchyard_store::Layout;
use switchyard_watcher::{ChainView, PlanBinariesView, ProposalStatus, SeenIn, Upcoming};
use tokio::sync::watch;

use crate::config::Config;
use crate::upgrade_binary::{stage_upcoming, Outcome};

/// How long a failed attempt waits before the next one.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The upcoming upgrades that should be staged now, by the rules above.
pub fn candidates(view: &ChainView, allow_download: bool, prestage_voting: bool) -> Vec<&Upcoming> {
    if !allow_download {
        return Vec::new();
    }
    view.upcoming
        .iter()
        .filter(|u| matches!(u.binaries, PlanBinariesView::Listed { .. }))
        .filter(|u| match u.source {
            SeenIn::Plan => true,
            SeenIn::Proposal => {
                prestage_voting && u.proposal_status == Some(ProposalStatus::VotingPeriod)
                    || u.proposal_status == Some(ProposalStatus::Passed)
            }
        })
        .filter(|u| view.latest_height.is_none_or(|h| u.height > h))
        .collect()
}

/// Starts the pre-staging task.
pub fn spawn(cfg: Config, layout: Layout, mut view: watch::Receiver<ChainView>) {
    if !cfg.allow_download_binaries {
        tracing::info!("DAEMON_ALLOW_DOWNLOAD_BINARIES is false: upcoming binaries are not pre-staged (use `switchyard prepare` or `add-upgrade`)");
        return;
    }
    tokio::spawn(async move {
        let opts = crate::upgrade_binary::stage_options(&cfg, false);
        // name -> (url, when it last failed); successes are remembered with no failure time.
        let mut tried: HashMap<(String, String), Option<Instant>> = HashMap::new();
        loop {
            let todo: Vec<Upcoming> = {
                let v = view.borrow_and_update();
                candidates(&v, true, cfg.prestage_voting)
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
                if let Err(e) = switchyard_core::UpgradeName::parse(&u.name, cfg.disable_recase) {
                    // Permanent: say it once, never retry.
                    tracing::error!("not staging an upgrade with a bad name: {e}");
                    tried.insert(key, None);
                    continue;
                }
                let what = match (u.source, u.proposal_id) {
                    (SeenIn::Plan, _) => "the scheduled plan".to_string(),
                    (SeenIn::Proposal, Some(id)) => {
                        format!("proposal #{id}, still in voting")
                    }
                    (SeenIn::Proposal, None) => "a proposal".to_string(),
                };
                tracing::info!(upgrade = %u.name, height = u.height, "pre-staging the binary of {what}");
                // Candidates are already filtered by the voting rule: include them all.
                let (outcome, message, _) = stage_upcoming(
                    &layout,
                    &u,
                    true,
                    cfg.disable_recase,
                    &this_platform(),
                    &opts,
                )
                .await;
                if outcome == Outcome::Failed {
                    tracing::error!(upgrade = %u.name, "pre-staging failed (will retry): {message}");
                    tried.insert(key, Some(Instant::now()));
                } else {
                    tracing::info!(upgrade = %u.name, "{}: {message}", outcome.as_str().replace('_', " "));
                    tried.insert(key, None);
                }
            }
            tokio::select! {
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
        assert_eq!(names(candidates(&view, true, false)), ["plan"]);
        assert_eq!(names(candidates(&view, true, true)), ["plan", "voting"]);
        assert!(candidates(&view, false, true).is_empty());
    }
}
