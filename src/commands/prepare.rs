//! `switchyard prepare`: stage the binaries of upcoming upgrades now, once, from the command line.
//!
//! It reads the chain once (as `switchyard plan` does) and stages, through
//! [`switchyard_store::stage_from_plan`], this platform's binary of the scheduled plan
//! (`CurrentPlan`, which is what a passed proposal becomes) and, with `--include-voting`, of every
//! proposal still in its voting period. It prints one line per upgrade (`--json`: one object) and
//! exits 0 when every upgrade it looked at has a binary in place, 1 when any could not be staged
//! or the chain could not be read.
//!
//! Running `prepare` is the operator asking for the download, so it does not also require
//! `DAEMON_ALLOW_DOWNLOAD_BINARIES` (that gate is for `run` staging on its own). Every other
//! download setting applies: `DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM`, `SWITCHYARD_ALLOW_HTTP`,
//! `SWITCHYARD_MAX_DOWNLOAD_BYTES`. A binary the operator placed with `add-upgrade` is never
//! touched.
//!
//! `--json` prints `{"chain_id", "height", "ok", "upgrades": [{"name", "height", "source",
//! "proposal_id", "proposal_status", "result", "message", "record"}]}` where `result` is one of
//! `staged`, `already_staged`, `operator_placed`, `skipped`, `failed`, and `record` is the staged
//! record (url, digest, size, binary_sha256, preflight, staged_at) when there is one.

use std::io::Write;

use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_store::Layout;
use switchyard_store::StageOptions;
use switchyard_store::StagingRecord;
use switchyard_watcher::{ProposalStatus, SeenIn, Upcoming};

use crate::chain_registry::RegistryCtx;
use crate::cli::PrepareArgs;
use crate::config::Config;
use crate::upgrade_binary::{stage_upcoming, Outcome};

pub(super) async fn run(cfg: &Config, args: &PrepareArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let snap =
        match super::plan::query_chain_or_report(cfg, &args.chain, "prepare", args.json).await {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
    let opts = crate::upgrade_binary::stage_options(cfg, !args.json);
    let registry = crate::chain_registry::read_once(cfg).await;
    let reg = RegistryCtx {
        state: registry.as_ref(),
        chain_id: Some(&snap.chain_id),
    };
    let items = prepare_upcoming(
        &layout,
        &snap.upcoming,
        args.include_voting,
        cfg.disable_recase,
        &this_platform(),
        &opts,
        reg,
    )
    .await;
    let ok = items.iter().all(|i| i.result != Outcome::Failed);
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = json!({
            "chain_id": snap.chain_id,
            "height": snap.height,
            "ok": ok,
            "upgrades": items.iter().map(Item::to_json).collect::<Vec<_>>(),
        });
        writeln!(out, "{report}")?;
    } else if items.is_empty() {
        writeln!(
            out,
            "no upgrade is scheduled or in voting at height {}",
            snap.height
        )?;
    } else {
        for i in &items {
            writeln!(out, "{}", i.line())?;
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// One upgrade's line of the report.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub name: String,
    pub height: i64,
    pub source: SeenIn,
    pub proposal_id: Option<u64>,
    pub proposal_status: Option<ProposalStatus>,
    pub result: Outcome,
    pub message: String,
    pub record: Option<StagingRecord>,
}

impl Item {
    fn where_from(&self) -> String {
        match (self.source, self.proposal_id) {
            (SeenIn::Plan, _) => "scheduled plan".into(),
            (SeenIn::Proposal, Some(id)) => format!("proposal {id} in voting"),
            (SeenIn::Proposal, None) => "proposal in voting".into(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} (height {}, {}): {}: {}",
            self.name,
            self.height,
            self.where_from(),
            self.result.as_str().replace('_', " "),
            self.message
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "height": self.height,
            "source": self.source,
            "proposal_id": self.proposal_id,
            "proposal_status": self.proposal_status.map(|s| s.chain_name()),
            "result": self.result.as_str(),
            "message": self.message,
            "record": self.record,
        })
    }
}

/// Stages each upcoming upgrade in turn (one at a time: downloads compete for one link anyway).
pub(super) async fn prepare_upcoming(
    layout: &Layout,
    upcoming: &[Upcoming],
    include_voting: bool,
    disable_recase: bool,
    platform: &str,
    opts: &StageOptions,
    reg: RegistryCtx<'_>,
) -> Vec<Item> {
    let mut items = Vec::new();
    for u in upcoming {
        let mut item = Item {
            name: u.name.clone(),
            height: u.height,
            source: u.source,
            proposal_id: u.proposal_id,
            proposal_status: u.proposal_status,
            result: Outcome::Failed,
            message: String::new(),
            record: None,
        };
        let (result, message, record) = stage_upcoming(
            layout,
            u,
            include_voting,
            disable_recase,
            platform,
            opts,
            reg,
        )
        .await;
        item.result = result;
        item.message = message;
        item.record = record;
        items.push(item);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::time::Duration;
    use switchyard_core::UpgradeName;
    use switchyard_core::{parse_info, PlanInfo};
    use switchyard_watcher::PlanBinariesView;

    /// Serves `body` to every request on 127.0.0.1; returns the base URL.
    fn serve(body: Vec<u8>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
                    line.clear();
                }
                let mut c = conn;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&body);
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    fn upcoming(name: &str, source: SeenIn, info: &str) -> Upcoming {
        let binaries = match parse_info(info) {
            PlanInfo::Binaries(b) => PlanBinariesView::Listed {
                binaries: b,
                from_url: None,
            },
            _ => PlanBinariesView::None,
        };
        Upcoming {
            name: name.into(),
            height: 100,
            info: info.into(),
            source,
            proposal_id: (source == SeenIn::Proposal).then_some(7),
            proposal_status: (source == SeenIn::Proposal).then_some(ProposalStatus::VotingPeriod),
            binaries,
            eta: None,
        }
    }

    fn opts() -> StageOptions {
        let mut o = StageOptions::default();
        o.fetch.progress = false;
        o.fetch.retry_backoff = Duration::from_millis(10);
        o
    }

    #[tokio::test]
    async fn stages_the_plan_skips_voting_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let body = b"#!/bin/sh\necho v2.0.0\n".to_vec();
        let sum = switchyard_store::hash_reader(&body[..], switchyard_core::ChecksumAlgo::Sha256)
            .unwrap()
            .0;
        let base = serve(body.clone());
        let info = format!(r#"{{"binaries":{{"linux/amd64":"{base}/simd?checksum={sum}"}}}}"#);
        let list = [
            upcoming("V2", SeenIn::Plan, &info),
            upcoming("v3", SeenIn::Proposal, &info),
            upcoming("v4", SeenIn::Plan, "see the forum"),
        ];
        let items = prepare_upcoming(
            &layout,
            &list,
            false,
            false,
            "linux/amd64",
            &opts(),
            RegistryCtx::default(),
        )
        .await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].result, Outcome::Staged, "{}", items[0].message);
        let v2 = UpgradeName::parse("v2", false).unwrap();
        assert_eq!(std::fs::read(layout.upgrade_binary(&v2)).unwrap(), body);
        assert!(
            items[0].line().contains("preflight ok (v2.0.0)"),
            "{}",
            items[0].line()
        );
        assert_eq!(items[1].result, Outcome::Skipped);
        assert!(!layout
            .upgrade_dir(&UpgradeName::parse("v3", false).unwrap())
            .exists());
        assert_eq!(items[2].result, Outcome::Failed);
        assert!(
            items[2].message.contains("add-upgrade v4"),
            "{}",
            items[2].message
        );
        let j = items[0].to_json();
        assert_eq!(j["result"], "staged");
        assert_eq!(j["record"]["preflight"]["status"], "ok");

        // Again, with --include-voting: v2 is already there, v3 gets staged.
        let items = prepare_upcoming(
            &layout,
            &list[..2],
            true,
            false,
            "linux/amd64",
            &opts(),
            RegistryCtx::default(),
        )
        .await;
        assert_eq!(items[0].result, Outcome::AlreadyStaged);
        assert_eq!(items[1].result, Outcome::Staged, "{}", items[1].message);
        assert!(
            items[1].line().contains("proposal 7 in voting"),
            "{}",
            items[1].line()
        );
    }

    #[tokio::test]
    async fn operator_binaries_and_wrong_platforms_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let v2 = UpgradeName::parse("v2", false).unwrap();
        let bin = layout.upgrade_binary(&v2);
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, b"mine").unwrap();
        let info = format!(
            r#"{{"binaries":{{"linux/arm64":"https://example.invalid/simd?checksum=sha256:{}"}}}}"#,
            "0".repeat(64)
        );
        let list = [
            upcoming("v2", SeenIn::Plan, &info),
            upcoming("v3", SeenIn::Plan, &info),
        ];
        let items = prepare_upcoming(
            &layout,
            &list,
            false,
            false,
            "linux/amd64",
            &opts(),
            RegistryCtx::default(),
        )
        .await;
        assert_eq!(items[0].result, Outcome::OperatorPlaced);
        assert_eq!(std::fs::read(&bin).unwrap(), b"mine");
        // Written without execute bits (as cosmovisor's add-upgrade writes it): staging adds
        // them (issue 24 #11).
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
        assert_eq!(items[1].result, Outcome::Failed);
        assert!(
            items[1].message.contains("linux/amd64"),
            "{}",
            items[1].message
        );
    }
}
