//! A real Prometheus server (Debian's `prometheus`, on 127.0.0.1 with a 1s scrape interval and
//! the alert rules from deploy/) scrapes switchyard while a scenario moves, and the series and a
//! pending alert are read back through Prometheus' HTTP API. `promtool check metrics` accepts
//! the exposition. Fails loudly when the tools are missing (scripts/test.sh installs them).

#[path = "common/api.rs"]
mod api;
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::{free_port, Api};
use common::*;
use serde_json::{json, Value};
use switchyard_core::this_platform;
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

const T: Duration = Duration::from_secs(60);

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: `apt-get install -y prometheus` (scripts/test.sh does it)"
    );
    String::from_utf8_lossy(&found.stdout).trim().to_string()
}

struct Prometheus {
    child: Child,
    url: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let bin = tool("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let rules =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/switchyard-rules.yml");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query's result vector (empty while Prometheus is not up yet).
    fn query(&self, q: &str) -> Vec<Value> {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .timeout(Duration::from_secs(5))
            .send();
        let Ok(r) = r else { return Vec::new() };
        let Ok(v) = r.json::<Value>() else {
            return Vec::new();
        };
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the API until `q` returns a sample whose value satisfies `ok`.
    fn wait_for(&self, q: &str, ok: impl Fn(f64) -> bool, context: impl Fn() -> String) -> Value {
        let start = Instant::now();
        loop {
            if let Some(s) = self.query(q).into_iter().find(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(&ok)
            }) {
                return s;
            }
            if start.elapsed() > T {
                panic!(
                    "Prometheus never had {q} as wanted; last: {:?}\nprometheus log:\n{}\n{}",
                    self.query(q),
                    self.log(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn prometheus_scrapes_switchyard_through_a_scenario_and_the_rules_fire() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.53.4");
    let v2 = home.binary("v2", "v2", "v0.53.4");
    home.setup(&genesis, &[]);
    // The chain: a plan about 250 blocks away whose binary is not staged (no downloads).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let info = json!({"binaries": {this_platform(): "https://example.invalid/v2?checksum=sha256:673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca"}}).to_string();
    let chain = rt
        .block_on(FakeChain::start(Scenario {
            height: 100,
            block_interval_ms: 200,
            auto_blocks: true,
            plan: Some(PlanScript {
                name: "v2".into(),
                height: 350,
                info,
            }),
            ..Default::default()
        }))
        .unwrap();
    home.rpc_from_fake_chain(&chain.rpc_url());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sy = home.run(&[("SWITCHYARD_LISTEN", listen.as_str())]);
    let prom = Prometheus::start(port);
    let ctx = || sy.log();

    // Scraped: the node, the chain, the upcoming upgrade (not ready), a pending alert.
    prom.wait_for("up{job=\"switchyard\"}", |v| v == 1.0, ctx);
    prom.wait_for("switchyard_node_up", |v| v == 1.0, ctx);
    prom.wait_for("switchyard_node_committed_height", |v| v >= 100.0, ctx);
    prom.wait_for("switchyard_node_peers", |v| v == 3.0, ctx);
    let s = prom.wait_for(
        "switchyard_upgrade_ready{upgrade=\"v2\",source=\"plan\"}",
        |v| v == 0.0,
        ctx,
    );
    assert_eq!(s["metric"]["instance"], listen.as_str(), "{s}");
    prom.wait_for(
        "switchyard_upgrade_eta_seconds{upgrade=\"v2\"}",
        |v| v > 0.0 && v < 86400.0,
        ctx,
    );
    prom.wait_for(
        "switchyard_upgrade_check{upgrade=\"v2\",check=\"binary_staged\"}",
        |v| v == 0.0,
        ctx,
    );
    prom.wait_for(
        "ALERTS{alertname=\"SwitchyardUpgradeNotReady\",upgrade=\"v2\",alertstate=\"pending\"}",
        |v| v == 1.0,
        ctx,
    );
    prom.wait_for(
        "switchyard_node_restarts_total{reason=\"crash\"}",
        |v| v == 0.0,
        ctx,
    );

    // The exposition passes promtool's own checks.
    let (code, body) = Api::new(port).get("/metrics").unwrap();
    assert_eq!(code, 200);
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{body}",
        text(&out)
    );

    // The operator places the binary: Prometheus sees the node become ready for it.
    let out = home.cmd(&["add-upgrade", "v2", v2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    prom.wait_for(
        "switchyard_upgrade_ready{upgrade=\"v2\",source=\"plan\"}",
        |v| v == 1.0,
        ctx,
    );
    prom.wait_for(
        "switchyard_upgrade_check{upgrade=\"v2\",check=\"binary_staged\"}",
        |v| v == 1.0,
        ctx,
    );

    // switchyard goes away: Prometheus records it down.
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    prom.wait_for("up{job=\"switchyard\"}", |v| v == 0.0, String::new);
    drop(chain);
    drop(rt);
}
