//! `switchyard version`: our version, then the node's (`<current binary> version`), as
//! `cosmovisor version` prints them.
//!
//! Text: `switchyard version: <v>`, then the node's own output. `--output json` / `-o json` /
//! `--json`: one object with `switchyard_version`, `cosmovisor_version` (the same version, marked
//! `+switchyard`, for scripts and exporters that read cosmovisor's key) and `app_version`, the
//! node's `version --long --output json` object (as text when the node prints something else,
//! `null` without a node). `--cosmovisor-only`: the supervisor's version alone, without running
//! the node.

use std::process::Command;

use serde_json::{json, Value};

use crate::config::Config;

pub(super) struct Options {
    pub json: bool,
    pub long: bool,
    pub supervisor_only: bool,
    pub node_args: Vec<String>,
}

/// Our version as the `cosmovisor_version` key carries it: semver, with build metadata saying
/// which supervisor this is.
fn as_cosmovisor_version(ours: &str) -> String {
    format!("v{ours}+switchyard")
}

pub(super) fn run(cfg: &Config, opts: &Options) -> anyhow::Result<i32> {
    let ours = env!("CARGO_PKG_VERSION");
    let versions = |app: Option<Value>| {
        let mut v = json!({
            "switchyard_version": ours,
            "cosmovisor_version": as_cosmovisor_version(ours),
        });
        if let Some(app) = app {
            v["app_version"] = app;
        }
        v
    };
    if opts.supervisor_only {
        if opts.json {
            println!("{}", versions(None));
        } else {
            println!("switchyard version: {ours}");
        }
        return Ok(0);
    }
    let node_bin = cfg.layout().ok().and_then(|l| l.current_binary().ok());
    let node_args: Vec<String> = if opts.json {
        ["version", "--long", "--output", "json"]
            .map(String::from)
            .to_vec()
    } else {
        let mut a = vec!["version".to_string()];
        if opts.long {
            a.push("--long".into());
        }
        a.extend(opts.node_args.iter().cloned());
        a
    };
    if !opts.json {
        println!("switchyard version: {ours}");
    }
    let Some(bin) = node_bin else {
        if opts.json {
            println!("{}", versions(Some(Value::Null)));
        } else {
            eprintln!(
                "(no node binary: set DAEMON_HOME and DAEMON_NAME to see the node's version)"
            );
        }
        return Ok(0);
    };
    let out = Command::new(&bin)
        .args(&node_args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {} version: {e}", bin.display()))?;
    if opts.json {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let app = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if out.status.success() {
            println!("{}", versions(Some(app)));
        }
    } else {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        anyhow::bail!("{} version exited with {}", bin.display(), out.status);
    }
    Ok(0)
}
