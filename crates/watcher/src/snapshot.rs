//! One-shot reading of the chain's state, for `switchyard plan` and for each refresh of the
//! watcher: status, app info, average block time, current plan and upgrade proposals.
//!
//! Only the essentials are fatal (`/status` and `CurrentPlan`); a gov query that fails, an
//! `/abci_info` a node refuses, or an info URL that cannot be fetched become notes in
//! [`ChainSnapshot::problems`] so the report can still be made.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::block_times::average_between;
use crate::error::Result;
use crate::plan_binaries::{resolve_info, InfoFetchLimits};
use crate::query::{ChainClient, GovVersion, Transport};
use crate::view::{upcoming, PlanWithBinaries, ProposalWithBinaries, Upcoming};
use crate::wire::AbciInfo;

/// Tuning of a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotOptions {
    /// Bounds on fetching a plan's `info` when it is a URL.
    pub info: InfoFetchLimits,
    /// How many blocks back to look when estimating the average block time.
    pub block_window: i64,
    /// Whether to query governance proposals at all.
    pub proposals: bool,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            info: InfoFetchLimits::default(),
            block_window: 100,
            proposals: true,
        }
    }
}

/// Everything one look at the chain tells.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainSnapshot {
    /// The chain id the node reports (`/status` `node_info.network`, or the gRPC block header).
    pub chain_id: String,
    /// The latest block height the node reports (`/status`, or gRPC `GetLatestBlock`).
    pub height: i64,
    /// The time in the header of the block at `height`.
    pub block_time: DateTime<Utc>,
    /// Whether the node says it is still syncing (`/status`, or gRPC `GetSyncing`).
    pub catching_up: bool,
    /// The app's version and committed height (`/abci_info`); `None` when it could not be read
    /// (the reason is in `problems`).
    pub app: Option<AbciInfo>,
    /// Average time per block over the last [`SnapshotOptions::block_window`] blocks; `None`
    /// when the node has fewer blocks, time did not move forward, or the older header could not
    /// be read.
    pub average_block_time: Option<Duration>,
    /// The transport module queries were sent over first.
    pub transport: Transport,
    /// Which gov query answered the proposals; `None` when proposals were not asked for or could
    /// not be read.
    pub gov: Option<GovVersion>,
    /// The scheduled plan (`CurrentPlan`) with its binaries; `None` when no upgrade is scheduled.
    pub plan: Option<PlanWithBinaries>,
    /// Upgrade proposals in their voting period or passed, each with its plan's binaries.
    pub proposals: Vec<ProposalWithBinaries>,
    /// The plan, then proposals in voting by height: the upgrades that are coming or may come.
    pub upcoming: Vec<Upcoming>,
    /// What could not be read, in words (non-fatal).
    pub problems: Vec<String>,
}

/// Reads the chain once.
pub async fn snapshot(client: &ChainClient, opts: SnapshotOptions) -> Result<ChainSnapshot> {
    let status = client.status().await?;
    let mut problems = Vec::new();
    if let Some(e) = &client.grpc_problem {
        problems.push(format!("gRPC not used: {e}"));
    }
    let app = match client.abci_info().await {
        Ok(a) => Some(a),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let average_block_time = average_block_time(client, &status, opts.block_window).await;
    let plan = match client.current_plan().await? {
        Some(spec) => Some(PlanWithBinaries {
            binaries: resolve_info(&spec.info, opts.info).await,
            spec,
        }),
        None => None,
    };
    let (gov, proposals) = if opts.proposals {
        match client.upgrade_proposals().await {
            Ok((v, list)) => {
                let mut views = Vec::with_capacity(list.len());
                for p in list {
                    problems.extend(p.problems.iter().cloned());
                    let binaries = match &p.plan {
                        Some(spec) => Some(resolve_info(&spec.info, opts.info).await),
                        None => None,
                    };
                    views.push(ProposalWithBinaries {
                        proposal: p,
                        binaries,
                    });
                }
                (Some(v), views)
            }
            Err(e) => {
                problems.push(format!("governance proposals could not be read: {e}"));
                (None, Vec::new())
            }
        }
    } else {
        (None, Vec::new())
    };
    let upcoming = upcoming(
        plan.as_ref(),
        &proposals,
        status.latest_block_height,
        average_block_time,
    );
    Ok(ChainSnapshot {
        chain_id: status.chain_id,
        height: status.latest_block_height,
        block_time: status.latest_block_time,
        catching_up: status.catching_up,
        app,
        average_block_time,
        transport: client.transport(),
        gov,
        plan,
        proposals,
        upcoming,
        problems,
    })
}

/// Average block time over the last `window` blocks (from the block at the window's start).
async fn average_block_time(
    client: &ChainClient,
    status: &crate::wire::Status,
    window: i64,
) -> Option<Duration> {
    let h1 = status.latest_block_height;
    let h0 = (h1 - window).max(status.earliest_block_height).max(1);
    if h0 >= h1 {
        return None;
    }
    match client.block_header(h0).await {
        Ok(b) => average_between(b.height, b.time, h1, status.latest_block_time),
        Err(e) => {
            tracing::debug!("average block time: {e}");
            None
        }
    }
}
