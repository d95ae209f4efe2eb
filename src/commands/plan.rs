//! `switchyard plan`: the dry-run report of the upgrades coming on this chain and whether this
//! node is ready for each.
//!
//! It needs no supervisor running. Without `DAEMON_HOME` it reports chain state only (`staged`
//! is null, and "ready" means "a binary for this platform with a checksum is listed"); with
//! `DAEMON_HOME` and `DAEMON_NAME` it also looks in the store: an upgrade is ready when its binary
//! is staged (and its preflight did not fail). Manual upgrades (`add-upgrade --height`) are
//! listed with source `manual`.
//!
//! `--json` prints one object:
//! `{"chain_id", "height", "block_time_seconds", "catching_up", "transport", "problems",
//!   "upgrades": [{"name", "height", "source", "proposal_id", "proposal_status", "eta_seconds",
//!   "binary": {"url", "checksum", "staged", "preflight"}, "ready", "problems"}]}`;
//! fields that don't apply are null. Exit code: 0 when every upcoming upgrade is ready (or none is
//! coming), 2 when one is not, 1 when the chain could not be queried.

use std::io::Write;

use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_core::UpgradeName;
use switchyard_store::Layout;
use switchyard_watcher::{
    snapshot, ChainClient, ChainSnapshot, Limits, PlanBinariesView, SeenIn, SnapshotOptions,
    Upcoming,
};

use crate::cli::{ChainArgs, PlanArgs};
use crate::config::Config;

pub async fn run(cfg: &Config, args: &PlanArgs) -> anyhow::Result<i32> {
    let Some(snap) = query_chain_or_report(cfg, &args.chain, "plan", args.json).await else {
        return Ok(1);
    };
    let layout = match (&cfg.home, &cfg.daemon_name) {
        (Some(h), Some(n)) => Some(Layout::new(h, n)),
        _ => None,
    };
    let mut report = build_report(&snap, layout.as_ref(), cfg.disable_recase, &this_platform());
    if let Some(layout) = &layout {
        annotate_manual_halts(&mut report, layout).await;
    }
    if cfg.home.is_some() && cfg.daemon_name.is_none() {
        report
            .problems
            .push("DAEMON_NAME is not set: whether binaries are staged was not checked".into());
    }
    let code = if report.upgrades.iter().all(|u| u.ready) {
        0
    } else {
        2
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write!(out, "{}", report.to_table())?;
    }
    Ok(code)
}

/// Says, for each manual upgrade, how the binary running before it will be stopped: with the
/// `--halt-height` its behaviour calls for (known from its SDK version, or learned from an
/// earlier run of the same binary), or — when neither is known — with the probe flag H-1, which
/// no binary lets commit H (the same decision `run` takes: `switchyard_core::HaltFlag`).
async fn annotate_manual_halts(report: &mut Report, layout: &Layout) {
    use crate::binary_facts::{BinaryFacts, FactSource};
    use switchyard_core::HaltFlag;
    let mut before = layout.current_binary().ok();
    let mut rows: Vec<&mut UpgradeRow> = report
        .upgrades
        .iter_mut()
        .filter(|u| u.source == "manual")
        .collect();
    rows.sort_by_key(|u| u.height);
    for row in rows {
        let facts = match &before {
            Some(bin) => Some(BinaryFacts::resolve(layout, bin).await),
            None => None,
        };
        let behaviour = facts.as_ref().and_then(|f| f.behaviour);
        let halt = HaltFlag::for_target(row.height, behaviour);
        let (sdk, known_from) = match facts.as_ref().map(|f| &f.source) {
            Some(FactSource::Sdk(v)) => (Some(v.to_string()), "sdk_version"),
            Some(FactSource::Learned(_)) => (None, "learned"),
            _ => (None, "unknown"),
        };
        let note = halt.is_probe().then(|| {
            format!(
                "what --halt-height does on the binary running before it is not known: it will be started with --halt-height {}, \
                 which no binary lets commit block {}, and restarted once with --halt-height {} if it stops one block early",
                halt.flag, row.height, row.height
            )
        });
        row.halt = Some(json!({
            "method": if halt.is_probe() { "probe" } else { "halt-height" },
            "halt_height": halt.flag,
            "sdk_version": sdk,
            "behaviour": behaviour,
            "known_from": known_from,
            "note": note,
        }));
        before = UpgradeName::parse(&row.name, true)
            .ok()
            .map(|n| layout.upgrade_binary(&n));
    }
}

/// [`query_chain`], or `None` after telling the operator (as JSON with `json`) why it failed.
pub async fn query_chain_or_report(
    cfg: &Config,
    chain: &ChainArgs,
    command: &str,
    json: bool,
) -> Option<ChainSnapshot> {
    match query_chain(cfg, chain).await {
        Ok(s) => Some(s),
        Err(e) => {
            if json {
                println!(
                    "{}",
                    json!({"error": format!("cannot query the chain: {e}")})
                );
            } else {
                eprintln!("switchyard {command}: cannot query the chain: {e}");
            }
            None
        }
    }
}

/// Resolves the endpoints (node config, environment, then flags) and reads the chain once.
pub async fn query_chain(cfg: &Config, chain: &ChainArgs) -> anyhow::Result<ChainSnapshot> {
    let endpoints =
        crate::chain_now::endpoints_with(cfg, chain.rpc.as_deref(), chain.grpc.as_deref())?;
    let client = ChainClient::connect(&endpoints, Limits::default()).await?;
    let opts = SnapshotOptions {
        info: crate::upgrade_binary::info_limits(cfg),
        ..SnapshotOptions::default()
    };
    Ok(snapshot(&client, opts).await?)
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct UpgradeRow {
    pub name: String,
    pub height: i64,
    pub source: &'static str,
    pub proposal_id: Option<u64>,
    pub proposal_status: Option<&'static str>,
    pub eta_seconds: Option<u64>,
    pub url: Option<String>,
    pub checksum: Option<String>,
    pub staged: Option<bool>,
    pub preflight: Option<Value>,
    pub ready: bool,
    pub problems: Vec<String>,
    /// For manual upgrades: how the old binary will be stopped before `height`.
    pub halt: Option<Value>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub chain_id: String,
    pub height: i64,
    pub block_time_seconds: Option<f64>,
    pub catching_up: bool,
    pub transport: &'static str,
    pub problems: Vec<String>,
    pub upgrades: Vec<UpgradeRow>,
}

/// Builds the report from a snapshot and (when known) the store layout.
pub fn build_report(
    snap: &ChainSnapshot,
    layout: Option<&Layout>,
    disable_recase: bool,
    platform: &str,
) -> Report {
    let mut problems = snap.problems.clone();
    if snap.catching_up {
        problems.push(format!(
            "the node is still catching up (at height {}): heights and ETAs may be behind the chain",
            snap.height
        ));
    }
    let mut upgrades: Vec<UpgradeRow> = snap
        .upcoming
        .iter()
        .map(|u| chain_row(u, snap, layout, disable_recase, platform))
        .collect();
    if let Some(layout) = layout {
        match switchyard_store::load_manual_upgrades(layout) {
            Ok(list) => {
                for m in list.iter().filter(|m| m.height > snap.height) {
                    upgrades.push(manual_row(&m.name, m.height, snap, layout));
                }
            }
            Err(e) => problems.push(format!("manual upgrades could not be read: {e}")),
        }
    }
    upgrades.sort_by_key(|u| (u.source == "proposal", u.height));
    Report {
        chain_id: snap.chain_id.clone(),
        height: snap.height,
        block_time_seconds: snap
            .average_block_time
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
        catching_up: snap.catching_up,
        transport: match snap.transport {
            switchyard_watcher::Transport::Grpc => "grpc",
            switchyard_watcher::Transport::AbciQuery => "abci_query",
        },
        problems,
        upgrades,
    }
}

fn eta_seconds(height: i64, snap: &ChainSnapshot) -> Option<u64> {
    snap.average_block_time.map(|d| {
        (d.as_secs_f64() * height.saturating_sub(snap.height).max(0) as f64).round() as u64
    })
}

fn chain_row(
    u: &Upcoming,
    snap: &ChainSnapshot,
    layout: Option<&Layout>,
    disable_recase: bool,
    platform: &str,
) -> UpgradeRow {
    let mut problems = Vec::new();
    let name = match UpgradeName::parse(&u.name, disable_recase) {
        Ok(n) => Some(n),
        Err(e) => {
            problems.push(format!("the plan name cannot be used: {e}"));
            None
        }
    };
    if u.height <= snap.height {
        problems.push(format!(
            "plan height {} already reached: the chain is at height {}",
            u.height, snap.height
        ));
    }
    let mut url = None;
    let mut checksum = None;
    let mut binary_problem = None;
    match &u.binaries {
        PlanBinariesView::Listed { binaries, .. } => match binaries.for_platform(platform) {
            Some(src) => {
                url = Some(src.url.clone());
                checksum = src.checksum.as_ref().map(|c| c.to_string());
                if src.checksum.is_none() {
                    binary_problem = Some(format!("the binary for {platform} has no checksum"));
                }
            }
            None => {
                binary_problem = Some(match binaries.rejection_for(platform) {
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
                })
            }
        },
        PlanBinariesView::None => {
            binary_problem =
                Some("the plan's info lists no binaries (plain text or no \"binaries\" map)".into())
        }
        PlanBinariesView::Unavailable { url: info_url, why } => {
            binary_problem = Some(format!(
                "the plan's info URL {info_url} could not be used: {why}"
            ))
        }
    }
    let (staged_flag, preflight) = match (layout, &name) {
        (Some(l), Some(n)) => staged_state(l, n, &mut problems),
        _ => (None, None),
    };
    match staged_flag {
        // Staged: whatever the info says, the binary is here.
        Some(true) => {}
        Some(false) => {
            problems.extend(binary_problem);
            problems.push(
                "the binary is not staged (run `switchyard prepare`, or `switchyard add-upgrade`)"
                    .into(),
            );
        }
        None => problems.extend(binary_problem),
    }
    UpgradeRow {
        name: u.name.clone(),
        height: u.height,
        source: match u.source {
            SeenIn::Plan => "plan",
            SeenIn::Proposal => "proposal",
        },
        proposal_id: u.proposal_id,
        proposal_status: u.proposal_status.map(|s| s.chain_name()),
        eta_seconds: eta_seconds(u.height, snap),
        url,
        checksum,
        staged: staged_flag,
        preflight,
        ready: problems.is_empty(),
        problems,
        halt: None,
    }
}

fn manual_row(
    name: &UpgradeName,
    height: i64,
    snap: &ChainSnapshot,
    layout: &Layout,
) -> UpgradeRow {
    let mut problems = Vec::new();
    if let Some(p) = &snap.plan {
        if p.spec.height == height {
            problems.push(format!(
                "suspended: the on-chain plan {:?} is scheduled at the same height and wins",
                p.spec.name
            ));
        }
    }
    let (staged_flag, preflight) = staged_state(layout, name, &mut problems);
    if staged_flag == Some(false) {
        problems.push("the binary is not staged (place it with `switchyard add-upgrade`)".into());
    }
    UpgradeRow {
        name: name.to_string(),
        height,
        source: "manual",
        proposal_id: None,
        proposal_status: None,
        eta_seconds: eta_seconds(height, snap),
        url: None,
        checksum: None,
        staged: staged_flag,
        preflight,
        ready: problems.is_empty(),
        problems,
        halt: None,
    }
}

/// Whether the binary is in `upgrades/<name>/bin/`, and the staging record's preflight if any.
fn staged_state(
    layout: &Layout,
    name: &UpgradeName,
    problems: &mut Vec<String>,
) -> (Option<bool>, Option<Value>) {
    let present = layout.has_upgrade_binary(name);
    let record = match switchyard_store::load_staging_record(layout, name) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("the staging record cannot be read: {e}"));
            None
        }
    };
    let preflight = record.as_ref().filter(|_| present).map(|r| {
        if r.preflight.status == switchyard_store::PreflightStatus::Failed {
            problems.push(format!(
                "the staged binary failed its preflight: {}",
                r.preflight.message.as_deref().unwrap_or("no message")
            ));
        }
        json!({
            "url": r.url,
            "digest": r.digest,
            "size": r.size,
            "status": r.preflight.status,
            "output": r.preflight.output,
            "message": r.preflight.message,
            "ran_at": r.preflight.ran_at,
            "staged_at": r.staged_at,
        })
    });
    (Some(present), preflight)
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "chain_id": self.chain_id,
            "height": self.height,
            "block_time_seconds": self.block_time_seconds,
            "catching_up": self.catching_up,
            "transport": self.transport,
            "problems": self.problems,
            "upgrades": self.upgrades.iter().map(|u| json!({
                "name": u.name,
                "height": u.height,
                "source": u.source,
                "proposal_id": u.proposal_id,
                "proposal_status": u.proposal_status,
                "eta_seconds": u.eta_seconds,
                "binary": {
                    "url": u.url,
                    "checksum": u.checksum,
                    "staged": u.staged,
                    "preflight": u.preflight,
                },
                "ready": u.ready,
                "problems": u.problems,
                "halt": u.halt,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn to_table(&self) -> String {
        let mut s = format!(
            "chain {}  height {}  block time {}  (queries via {})\n",
            self.chain_id,
            self.height,
            self.block_time_seconds
                .map(|b| format!("{b:.2}s"))
                .unwrap_or_else(|| "unknown".into()),
            self.transport
        );
        for p in &self.problems {
            s.push_str(&format!("note: {p}\n"));
        }
        if self.upgrades.is_empty() {
            s.push_str("no upgrade is coming\n");
            return s;
        }
        let rows: Vec<[String; 7]> = self
            .upgrades
            .iter()
            .map(|u| {
                [
                    sanitize(&u.name),
                    u.height.to_string(),
                    u.source.to_string(),
                    match (u.proposal_id, u.proposal_status) {
                        (Some(id), Some(st)) => {
                            format!("#{id} {}", st.trim_start_matches("PROPOSAL_STATUS_"))
                        }
                        (Some(id), None) => format!("#{id}"),
                        _ => "-".into(),
                    },
                    u.eta_seconds
                        .map(human_duration)
                        .unwrap_or_else(|| "-".into()),
                    match u.staged {
                        Some(true) => "yes".into(),
                        Some(false) => "no".into(),
                        None => "-".into(),
                    },
                    if u.ready { "yes".into() } else { "NO".into() },
                ]
            })
            .collect();
        let head = [
            "NAME", "HEIGHT", "SOURCE", "PROPOSAL", "ETA", "STAGED", "READY",
        ];
        let mut widths = head.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (c, w) in cells.iter().zip(widths) {
                l.push_str(&format!("{c:<w$}  "));
            }
            l.trim_end().to_string() + "\n"
        };
        s.push_str(&line(head.to_vec()));
        for (r, u) in rows.iter().zip(&self.upgrades) {
            s.push_str(&line(r.iter().map(String::as_str).collect()));
            for p in &u.problems {
                s.push_str(&format!("    - {}\n", sanitize(p)));
            }
        }
        s
    }
}

/// Names and reasons come from the chain: keep control characters off the operator's terminal.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(7260), "2h1m");
        assert_eq!(human_duration(90000), "1d1h");
        assert_eq!(sanitize("v2\u{1b}[31m"), "v2?[31m");
    }
}
