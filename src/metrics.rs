//! The Prometheus metrics switchyard exports at `/metrics` (OpenMetrics text, `prometheus-client`).
//!
//! Every name starts with `switchyard_` and carries its unit. Gauges and counters are atomics, so
//! the supervision loop updates them without waiting on anything; the families of labelled
//! series take a short lock, which only the scrape shares. The list, with meanings, is in the
//! README ("Monitoring").

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::report::{CheckState, PlanReport, SwapStepName};

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VersionLabels {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BinaryLabels {
    /// `genesis` or the upgrade `current` points at.
    pub upgrade: String,
    /// The app's version string, when known.
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpgradeLabels {
    pub upgrade: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CheckLabels {
    pub upgrade: String,
    pub source: String,
    pub check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FailureLabels {
    pub upgrade: String,
    pub source: String,
    /// What went wrong, in the loader's or the OS's own words (one line, at most 200 bytes).
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StepLabels {
    pub step: String,
}

/// Every metric, and the registry that encodes them.
pub(crate) struct Metrics {
    registry: Registry,
    pub node_up: Gauge,
    pub swap_in_progress: Gauge,
    pub node_binary_info: Family<BinaryLabels, Gauge>,
    pub node_committed_height: Gauge,
    pub node_latest_height: Gauge,
    pub seconds_since_last_block: FloatGauge,
    pub node_catching_up: Gauge,
    pub node_peers: Gauge,
    pub node_ready: Gauge,
    pub rpc_up: Gauge,
    pub upgrade_height: Family<UpgradeLabels, Gauge>,
    pub upgrade_eta_seconds: Family<UpgradeLabels, Gauge>,
    pub upgrade_ready: Family<UpgradeLabels, Gauge>,
    pub upgrade_check: Family<CheckLabels, Gauge>,
    pub upgrade_preflight_failed: Family<FailureLabels, Gauge>,
    pub node_restarts: Family<ReasonLabels, Counter>,
    pub node_crashes: Family<ReasonLabels, Counter>,
    pub swaps: Family<OutcomeLabels, Counter>,
    pub last_swap_success: Gauge,
    pub last_swap_timestamp_seconds: FloatGauge,
    pub last_swap_downtime_seconds: FloatGauge,
    pub last_swap_step_seconds: Family<StepLabels, FloatGauge>,
    pub download_bytes: Counter,
    pub download_failures: Counter,
    pub node_stalled: Gauge,
    pub height_unchanged_seconds: FloatGauge,
    pub stall_threshold_seconds: FloatGauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut r = Registry::with_prefix("switchyard");
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        r.register("build_info", "switchyard's version (always 1)", build_info);
        macro_rules! reg {
            ($name:literal, $help:literal, $m:expr) => {{
                let m = $m;
                r.register($name, $help, m.clone());
                m
            }};
        }
        Metrics {
            node_up: reg!("node_up", "1 while the node process runs", Gauge::default()),
            swap_in_progress: reg!(
                "swap_in_progress",
                "1 from the old node's stop to the new node's start (or the swap's failure)",
                Gauge::default()
            ),
            node_binary_info: reg!(
                "node_binary_info",
                "The binary the node runs: the upgrade `current` points at and the app's version (always 1)",
                Family::default()
            ),
            node_committed_height: reg!(
                "node_committed_height",
                "The app's last committed block height",
                Gauge::default()
            ),
            node_latest_height: reg!(
                "node_latest_height",
                "The latest block height CometBFT reports",
                Gauge::default()
            ),
            seconds_since_last_block: reg!(
                "node_seconds_since_last_block",
                "Seconds since the committed height last moved, as seen by switchyard",
                FloatGauge::default()
            ),
            node_catching_up: reg!(
                "node_catching_up",
                "1 while the node reports it is catching up (block sync)",
                Gauge::default()
            ),
            node_peers: reg!(
                "node_peers",
                "Peers the node is connected to (/net_info n_peers)",
                Gauge::default()
            ),
            node_ready: reg!(
                "node_ready",
                "1 when /readyz answers 200: the node serves RPC, is not catching up and not stalled",
                Gauge::default()
            ),
            rpc_up: reg!(
                "node_rpc_up",
                "1 when the node's RPC answered the watcher's last query",
                Gauge::default()
            ),
            upgrade_height: reg!(
                "upgrade_height",
                "Height of each upcoming upgrade",
                Family::default()
            ),
            upgrade_eta_seconds: reg!(
                "upgrade_eta_seconds",
                "Seconds until each upcoming upgrade at the average block time",
                Family::default()
            ),
            upgrade_ready: reg!(
                "upgrade_ready",
                "1 when this node is ready for the upcoming upgrade (the same verdict as `switchyard plan`)",
                Family::default()
            ),
            upgrade_check: reg!(
                "upgrade_check",
                "Each readiness check of an upcoming upgrade: 1 yes, 0 no, -1 unknown (absent: does not apply)",
                Family::default()
            ),
            upgrade_preflight_failed: reg!(
                "upgrade_preflight_failed",
                "1 for an upcoming upgrade whose staged binary does not start on this host; the error label says why",
                Family::default()
            ),
            node_restarts: reg!(
                "node_restarts",
                "Times switchyard started the node again, by reason (crash, stall, halt_height_changed, upgrade)",
                Family::default()
            ),
            node_crashes: reg!(
                "node_crashes",
                "Times the node crashed, by reason (exit_code, signal)",
                Family::default()
            ),
            swaps: reg!(
                "swaps",
                "Binary swaps, by outcome (ok, failed)",
                Family::default()
            ),
            last_swap_success: reg!(
                "last_swap_success",
                "1 when the last swap succeeded, 0 when it failed (kept across restarts of switchyard)",
                Gauge::default()
            ),
            last_swap_timestamp_seconds: reg!(
                "last_swap_timestamp_seconds",
                "When the last swap started (Unix time)",
                FloatGauge::default()
            ),
            last_swap_downtime_seconds: reg!(
                "last_swap_downtime_seconds",
                "The last swap's downtime: from stopping the old node to starting the new one",
                FloatGauge::default()
            ),
            last_swap_step_seconds: reg!(
                "last_swap_step_seconds",
                "How long each step of the last swap took",
                Family::default()
            ),
            download_bytes: reg!(
                "download_bytes",
                "Bytes of upgrade binaries downloaded",
                Counter::default()
            ),
            download_failures: reg!(
                "download_failures",
                "Failed attempts to stage an upgrade binary",
                Counter::default()
            ),
            node_stalled: reg!(
                "node_stalled",
                "1 while the node is stalled (up, not catching up, not at a halt, and no new block or too few peers for the threshold)",
                Gauge::default()
            ),
            height_unchanged_seconds: reg!(
                "node_height_unchanged_seconds",
                "Seconds the committed height has stayed the same while the node runs",
                FloatGauge::default()
            ),
            stall_threshold_seconds: reg!(
                "stall_threshold_seconds",
                "The stall threshold in force",
                FloatGauge::default()
            ),
            registry: r,
        }
        .with_zeroes()
    }

    /// Counters start at 0 for every reason, so `increase()` sees the first one.
    fn with_zeroes(self) -> Metrics {
        for r in ["crash", "stall", "halt_height_changed", "upgrade"] {
            let _ = self.node_restarts.get_or_create(&reason(r));
        }
        for r in ["exit_code", "signal"] {
            let _ = self.node_crashes.get_or_create(&reason(r));
        }
        for o in ["ok", "failed"] {
            let _ = self.swaps.get_or_create(&OutcomeLabels {
                outcome: o.to_string(),
            });
        }
        self
    }

    /// The exposition, in OpenMetrics text.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The exposition in the older Prometheus text format (0.0.4), for clients that do not ask
    /// for OpenMetrics (promtool, curl, most agents).
    pub(crate) fn encode_prometheus_text(&self) -> String {
        openmetrics_to_prometheus_text(&self.encode())
    }

    /// Replaces the upcoming-upgrade series with the report's rows.
    pub(crate) fn set_upgrades(&self, report: &PlanReport) {
        self.upgrade_height.clear();
        self.upgrade_eta_seconds.clear();
        self.upgrade_ready.clear();
        self.upgrade_check.clear();
        self.upgrade_preflight_failed.clear();
        for u in &report.upgrades {
            let l = UpgradeLabels {
                upgrade: u.name.clone(),
                source: u.source.as_str().to_string(),
            };
            let failed = u.binary.preflight.as_ref();
            if let Some(pf) = failed.filter(|p| p.status == crate::report::PreflightState::Failed) {
                self.upgrade_preflight_failed
                    .get_or_create(&FailureLabels {
                        upgrade: l.upgrade.clone(),
                        source: l.source.clone(),
                        error: loader_words(pf.message.as_deref().unwrap_or("")),
                    })
                    .set(1);
            }
            self.upgrade_height.get_or_create(&l).set(u.height);
            if let Some(eta) = u.eta_seconds {
                self.upgrade_eta_seconds
                    .get_or_create(&l)
                    .set(i64::try_from(eta).unwrap_or(i64::MAX));
            }
            self.upgrade_ready.get_or_create(&l).set(i64::from(u.ready));
            for (check, state) in [
                ("binary_staged", u.readiness.binary_staged),
                ("checksum_verified", u.readiness.checksum_verified),
                ("preflight_ok", u.readiness.preflight_ok),
                ("backup_space_ok", u.readiness.backup_space_ok),
                ("binary_source", u.readiness.binary_source),
            ] {
                let v = match state {
                    CheckState::Yes => 1,
                    CheckState::No => 0,
                    CheckState::Unknown => -1,
                    CheckState::NotApplicable => continue,
                };
                self.upgrade_check
                    .get_or_create(&CheckLabels {
                        upgrade: l.upgrade.clone(),
                        source: l.source.clone(),
                        check: check.to_string(),
                    })
                    .set(v);
            }
        }
    }

    /// Replaces the last swap's step series.
    pub(crate) fn set_swap_steps(&self, steps: &[(SwapStepName, f64)]) {
        self.last_swap_step_seconds.clear();
        for (step, secs) in steps {
            self.last_swap_step_seconds
                .get_or_create(&StepLabels {
                    step: step.as_str().to_string(),
                })
                .set(*secs);
        }
    }
}

/// The part of a preflight failure a label can carry: its first line, without the command and
/// the binary's path in front (`... exited with exit status: 127: /x/bin/wasmd: error while
/// loading shared libraries: ...` → `error while loading shared libraries: ...`), at most 200
/// bytes.
fn loader_words(message: &str) -> String {
    let line = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let words = match line.rfind(": /") {
        Some(i) => {
            let rest = &line[i + 2..];
            rest.split_once(": ").map_or(rest, |(_, w)| w)
        }
        None => line,
    };
    let mut end = words.len().min(200);
    while !words.is_char_boundary(end) {
        end -= 1;
    }
    words[..end].trim().to_string()
}

/// OpenMetrics text to Prometheus text 0.0.4: a counter family is named with its `_total`
/// there (`# TYPE x_total counter`), and there are no `# UNIT` or `# EOF` lines.
pub(crate) fn openmetrics_to_prometheus_text(om: &str) -> String {
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (*p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A label set of one value.
pub(crate) fn reason(r: &str) -> ReasonLabels {
    ReasonLabels {
        reason: r.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_failure_is_told_in_the_loaders_words() {
        let m = "`/h/cosmovisor/upgrades/v0.60/bin/wasmd version` exited with exit status: 127: \
                 /h/cosmovisor/upgrades/v0.60/bin/wasmd: error while loading shared libraries: \
                 libwasmvm.x86_64.so: cannot open shared object file: No such file or directory\nmore";
        assert_eq!(
            super::loader_words(m),
            "error while loading shared libraries: libwasmvm.x86_64.so: cannot open shared object file: No such file or directory"
        );
        assert_eq!(
            super::loader_words("Exec format error (os error 8)"),
            "Exec format error (os error 8)"
        );
        assert!(super::loader_words(&"é".repeat(300)).len() <= 200);
    }

    #[test]
    fn counters_are_named_with_total_in_the_prometheus_text_format() {
        let m = Metrics::new();
        m.download_bytes.inc_by(5);
        let om = m.encode();
        assert!(
            om.contains("# TYPE switchyard_download_bytes counter\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));
        let text = m.encode_prometheus_text();
        assert!(
            text.contains("# TYPE switchyard_download_bytes_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP switchyard_download_bytes_total Bytes"),
            "{text}"
        );
        assert!(
            text.contains("\nswitchyard_download_bytes_total 5\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE switchyard_node_up gauge\n"), "{text}");
        assert!(!text.contains("# EOF"));
    }
}
