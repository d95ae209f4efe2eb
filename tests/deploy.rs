//! The fleet files in deploy/: the alert rules pass `promtool check rules` and their unit tests
//! (`promtool test rules`), and every metric the rules and the Grafana dashboard use is one
//! switchyard really exports; the Kubernetes example probes the endpoints switchyard serves.

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use api::{free_port, Api};
use common::*;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn promtool() -> Command {
    let ok = Command::new("sh")
        .args(["-c", "command -v promtool"])
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "promtool is not installed: `apt-get install -y prometheus` (scripts/test.sh does it)"
    );
    Command::new("promtool")
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    let out = promtool()
        .args(["check", "rules"])
        .arg(deploy("prometheus/switchyard-rules.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = promtool()
        .args(["test", "rules", "switchyard-rules.test.yml"])
        .current_dir(deploy("prometheus"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

/// Every `switchyard_...` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("switchyard_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_rules_and_the_dashboard_use_only_metrics_switchyard_exports() {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.53.4");
    home.setup(&genesis, &[]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sy = home.run(&[("SWITCHYARD_LISTEN", listen.as_str())]);
    let api = Api::new(port);
    api.wait_status(
        "the node running",
        Duration::from_secs(30),
        |s| s.chain.committed_height.unwrap_or(0) >= 2,
        || sy.log(),
    );
    // Families as exported (the exposition's HELP lines name every family, even empty ones).
    let (_, body) = api.get("/metrics").unwrap();
    let exported: BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    assert_eq!(sy.stop().code(), Some(0));
    assert!(exported.contains("switchyard_node_up"), "{exported:?}");

    let dashboard = std::fs::read_to_string(deploy("grafana/switchyard-dashboard.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(d["panels"].as_array().unwrap().len() >= 10);
    let rules = std::fs::read_to_string(deploy("prometheus/switchyard-rules.yml")).unwrap();
    for (file, text) in [("dashboard", &dashboard), ("rules", &rules)] {
        let used = names_in(text);
        assert!(!used.is_empty());
        let unknown: Vec<_> = used.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(
            unknown.is_empty(),
            "the {file} uses {unknown:?}, which switchyard does not export"
        );
    }
}

#[test]
fn the_kubernetes_example_probes_the_endpoints_switchyard_serves() {
    // Read with PyYAML (python3-yaml; scripts/test.sh installs it).
    let script = r#"
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
sts = [d for d in docs if d["kind"] == "StatefulSet"][0]
c = sts["spec"]["template"]["spec"]["containers"][0]
env = {e["name"]: e["value"] for e in c["env"]}
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
print(json.dumps({"command": c["command"], "env": env, "ports": ports,
  "liveness": c["livenessProbe"]["httpGet"], "readiness": c["readinessProbe"]["httpGet"]}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(deploy("kubernetes/statefulset.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"][0], "switchyard");
    assert_eq!(v["command"][1], "run");
    let listen = v["env"]["SWITCHYARD_LISTEN"].as_str().unwrap();
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(v["ports"]["switchyard"], port);
    // Not loopback (the kubelet probes the pod IP), so it must be allowed explicitly.
    assert_eq!(v["env"]["SWITCHYARD_LISTEN_ALLOW_REMOTE"], "true");
    assert_eq!(v["liveness"]["path"], "/healthz");
    assert_eq!(v["readiness"]["path"], "/readyz");
    assert_eq!(v["liveness"]["port"], "switchyard");

    let unit = std::fs::read_to_string(deploy("systemd/switchyard.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/switchyard run start"),
        "{unit}"
    );
    assert!(unit.contains("SWITCHYARD_LISTEN=127.0.0.1:"), "{unit}");
}
