//! `switchyard plan`: the dry-run report of the upgrades coming on this chain and whether this
//! node is ready for each.
//!
//! It needs no supervisor running. Without `DAEMON_HOME` it reports chain state only (`staged`
//! is null, and "ready" means "a binary for this platform with a checksum is listed"); with
//! `DAEMON_HOME` and `DAEMON_NAME` it also looks in the store: an upgrade is ready when its binary
//! is staged (and its preflight did not fail). Manual upgrades (`add-upgrade --height`) are
//! listed with source `manual`.
//!
//! `--json` prints one [`PlanReport`] (the typed contract in [`crate::report::schema`], documented
//! in the README), or an [`ErrorReport`] when the chain could not be queried. Each row's
//! verdict is the core's ([`switchyard_core::readiness`]). Exit code: 0 when every upcoming
//! upgrade is ready (or none is coming), 2 when one is not, 1 when the chain could not be
//! queried or its answers cannot be believed (a latest block time before 2016 or more than a
//! day ahead of this host's clock: [`BlockTimeError`], naming the node's address).

use std::io::Write;

use switchyard_core::this_platform;
use switchyard_core::UpgradeName;
use switchyard_store::Layout;
use switchyard_watcher::{snapshot, ChainClient, ChainSnapshot, Limits, SnapshotOptions};

use crate::cli::{ChainArgs, PlanArgs};
use crate::config::Config;
use crate::report::upgrades::{backup_outlook, draft, halt_report, ChainFacts, Draft};
use crate::report::{CheckState, ErrorReport, PlanReport, UpgradeSource};

pub(super) async fn run(cfg: &Config, args: &PlanArgs) -> anyhow::Result<i32> {
    let snap = match query_chain_or_report(cfg, &args.chain, "plan", args.json).await {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let layout = match (&cfg.home, &cfg.daemon_name) {
        (Some(h), Some(n)) => Some(Layout::new(h, n)),
        _ => None,
    };
    let (backup, backup_problem) = backup_outlook(
        cfg.unsafe_skip_backup,
        layout.as_ref().map(Layout::data_dir).as_deref(),
        cfg.backup_dir().as_deref(),
    );
    let registry = crate::chain_registry::read_once(cfg).await;
    let mut draft = draft(
        &ChainFacts::from_snapshot(&snap),
        layout.as_ref(),
        cfg.disable_recase,
        &this_platform(),
        backup,
        registry.as_ref(),
    );
    if let Some(layout) = &layout {
        annotate_manual_halts(&mut draft, layout).await;
    }
    let mut report = draft.finish();
    report.problems.extend(backup_problem);
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
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", to_table(&report))?;
    }
    Ok(code)
}

/// Says, for each manual upgrade, how the binary running before it will be stopped: with the
/// `--halt-height` its behaviour calls for (known from its SDK version, or learned from an
/// earlier run of the same binary), or — when neither is known — with the probe flag H-1, which
/// no binary lets commit H (the same decision `run` takes: `switchyard_core::HaltFlag`).
async fn annotate_manual_halts(draft: &mut Draft, layout: &Layout) {
    use crate::binary_facts::{BinaryFacts, FactSource};
    use crate::report::KnownFrom;
    use switchyard_core::HaltFlag;
    let mut before = layout.current_binary().ok();
    let mut rows: Vec<_> = draft
        .rows
        .iter_mut()
        .filter(|r| r.row.source == UpgradeSource::Manual)
        .collect();
    rows.sort_by_key(|r| r.row.height);
    for draft_row in rows {
        let row = &mut draft_row.row;
        let facts = match &before {
            Some(bin) => Some(BinaryFacts::resolve(layout, bin).await),
            None => None,
        };
        let behaviour = facts.as_ref().and_then(|f| f.behaviour);
        let halt = HaltFlag::for_target(row.height, behaviour);
        let (sdk, known_from) = match facts.as_ref().map(|f| &f.source) {
            Some(FactSource::Sdk(v)) => (Some(v.to_string()), KnownFrom::SdkVersion),
            Some(FactSource::Learned(_)) => (None, KnownFrom::Learned),
            _ => (None, KnownFrom::Unknown),
        };
        row.halt = Some(halt_report(row.height, halt, behaviour, sdk, known_from));
        before = UpgradeName::parse(&row.name, true)
            .ok()
            .map(|n| layout.upgrade_binary(&n));
    }
}

/// Exit code of `plan` and `prepare` when the chain could not be read.
pub(super) const EXIT_CHAIN_UNREADABLE: i32 = 1;
/// Exit code of `plan` and `prepare` when the configured RPC or gRPC is another node than the
/// one in `DAEMON_HOME` (its answers are refused).
pub(super) const EXIT_FOREIGN_NODE: i32 = 3;

/// [`query_chain`], or the exit code after telling the operator (as JSON with `json`) why it
/// failed: [`EXIT_FOREIGN_NODE`] when the answers came from another node, else
/// [`EXIT_CHAIN_UNREADABLE`].
pub(super) async fn query_chain_or_report(
    cfg: &Config,
    chain: &ChainArgs,
    command: &str,
    json: bool,
) -> Result<ChainSnapshot, i32> {
    match query_chain(cfg, chain).await {
        Ok(s) => Ok(s),
        Err(e) => {
            if json {
                let report = ErrorReport {
                    error: format!("cannot query the chain: {e}"),
                };
                match serde_json::to_string(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("switchyard {command}: {e}"),
                }
            } else {
                eprintln!("switchyard {command}: cannot query the chain: {e}");
            }
            let foreign = matches!(
                e.downcast_ref::<switchyard_watcher::WatchError>(),
                Some(switchyard_watcher::WatchError::ForeignNode { .. })
            );
            Err(if foreign {
                EXIT_FOREIGN_NODE
            } else {
                EXIT_CHAIN_UNREADABLE
            })
        }
    }
}

/// Resolves the endpoints (node config, environment, then flags) and reads the chain once.
pub(super) async fn query_chain(cfg: &Config, chain: &ChainArgs) -> anyhow::Result<ChainSnapshot> {
    let endpoints =
        crate::chain_now::endpoints_with(cfg, chain.rpc.as_deref(), chain.grpc.as_deref())?;
    let client = ChainClient::connect(&endpoints, Limits::default())
        .await?
        .with_identity(crate::chain_now::node_identity(cfg));
    client.verify_identity().await?;
    let opts = SnapshotOptions {
        info: crate::upgrade_binary::info_limits(cfg),
        ..SnapshotOptions::default()
    };
    let snap = snapshot(&client, opts).await?;
    let node = endpoints
        .rpc
        .as_deref()
        .or(endpoints.grpc.as_deref())
        .unwrap_or("the node");
    check_block_time(node, snap.block_time, chrono::Utc::now())?;
    Ok(snap)
}

/// A latest block time no real node can have: every estimate built on it (when an upgrade
/// comes, whether the node is behind) would be nonsense, so the chain "cannot be told"
/// ([`EXIT_CHAIN_UNREADABLE`]) rather than "not ready".
#[derive(Debug, thiserror::Error)]
pub(super) enum BlockTimeError {
    #[error("{node} reports its latest block time as {time}, before 2016; no real chain has such blocks, so when upgrades come cannot be told")]
    TooEarly { node: String, time: String },
    #[error("{node} reports its latest block time as {time}, more than a day ahead of this host's clock ({now}); when upgrades come cannot be told")]
    InTheFuture {
        node: String,
        time: String,
        now: String,
    },
}

/// Holds the node's latest block time against this host's clock (the rule is core's
/// [`switchyard_core::judge_block_time`]); the error names the node.
fn check_block_time(
    node: &str,
    time: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), BlockTimeError> {
    use switchyard_core::BlockTimeVerdict;
    let shown =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match switchyard_core::judge_block_time(time.timestamp(), now.timestamp()) {
        BlockTimeVerdict::Plausible => Ok(()),
        BlockTimeVerdict::BeforeAnyChain => Err(BlockTimeError::TooEarly {
            node: node.into(),
            time: shown(time),
        }),
        BlockTimeVerdict::AheadOfClock => Err(BlockTimeError::InTheFuture {
            node: node.into(),
            time: shown(time),
            now: shown(now),
        }),
    }
}

/// The human table.
pub(super) fn to_table(report: &PlanReport) -> String {
    let mut s = format!(
        "chain {}  height {}  block time {}  (queries via {})\n",
        report.chain_id,
        report.height,
        report
            .block_time_seconds
            .map(|b| format!("{b:.2}s"))
            .unwrap_or_else(|| "unknown".into()),
        report.transport.as_str()
    );
    for p in &report.problems {
        s.push_str(&format!("note: {p}\n"));
    }
    if report.upgrades.is_empty() {
        s.push_str("no upgrade is coming\n");
        return s;
    }
    let rows: Vec<[String; 8]> = report
        .upgrades
        .iter()
        .map(|u| {
            [
                sanitize(&u.name),
                u.height.to_string(),
                u.source.as_str().to_string(),
                match (u.proposal_id, u.proposal_status) {
                    (Some(id), Some(st)) => {
                        format!(
                            "#{id} {}",
                            st.chain_name().trim_start_matches("PROPOSAL_STATUS_")
                        )
                    }
                    (Some(id), None) => format!("#{id}"),
                    _ => "-".into(),
                },
                u.eta_seconds
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
                match u.binary.staged {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
                match u.binary.source {
                    Some(s) => s.as_str().to_string(),
                    None if u.readiness.binary_source == CheckState::No => "none".into(),
                    None => "-".into(),
                },
                if u.ready { "yes".into() } else { "NO".into() },
            ]
        })
        .collect();
    let head = [
        "NAME",
        "HEIGHT",
        "SOURCE",
        "PROPOSAL",
        "ETA",
        "STAGED",
        "BINARY FROM",
        "READY",
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
    for (r, u) in rows.iter().zip(&report.upgrades) {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
        if let Some(p) = &u.binary.pre_upgrade {
            s.push_str(&format!("    {}\n", pre_upgrade_line(p)));
        }
        for p in &u.problems {
            s.push_str(&format!("    - {}\n", sanitize(p)));
        }
    }
    s
}

/// The probe's verdict in words: what it found and what happens at the halt.
fn pre_upgrade_line(p: &crate::report::PreUpgradeReport) -> String {
    use crate::report::PreUpgradeState;
    let found = match p.command {
        PreUpgradeState::Absent => "this binary has no pre-upgrade command",
        PreUpgradeState::Present => "this binary has a pre-upgrade command",
        PreUpgradeState::Unknown => "could not tell whether this binary has a pre-upgrade command",
    };
    let at_halt = if p.run_at_halt {
        "it will be run at the halt"
    } else {
        "nothing to run at the halt"
    };
    format!("{found} (asked {}); {at_halt}", sanitize(&p.probed_at))
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
    fn nonsense_block_times_are_refused_naming_the_node() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let now = t("2026-06-01T00:00:00Z");
        let node = "http://10.0.0.1:26657";
        assert!(check_block_time(node, t("2026-05-31T23:59:00Z"), now).is_ok());
        assert!(check_block_time(node, t("2019-12-11T16:11:34Z"), now).is_ok());
        assert!(check_block_time(node, t("2026-06-01T12:00:00Z"), now).is_ok());
        for (bad, year) in [
            ("0001-01-01T00:00:00Z", "0001"),
            ("2015-12-31T23:59:59Z", "2015"),
            ("2026-06-03T00:00:00Z", "2026-06-03"),
            ("9999-12-31T23:59:59Z", "9999"),
        ] {
            let e = check_block_time(node, t(bad), now).unwrap_err().to_string();
            assert!(e.contains(node) && e.contains(year), "{bad}: {e}");
        }
        // The far end of chrono's range does not overflow.
        assert!(check_block_time(
            node,
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
            chrono::DateTime::<chrono::Utc>::MAX_UTC
        )
        .is_ok());
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(7260), "2h1m");
        assert_eq!(human_duration(90000), "1d1h");
        assert_eq!(sanitize("v2\u{1b}[31m"), "v2?[31m");
    }
}
