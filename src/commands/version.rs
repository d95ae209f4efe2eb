//! `switchyard version [--json]`: our version, then the node's (`<current binary> version`).

use std::process::Command;

use crate::config::Config;

pub fn run(cfg: &Config, json: bool, long: bool) -> anyhow::Result<i32> {
    let ours = env!("CARGO_PKG_VERSION");
    let node_bin = cfg.layout().ok().and_then(|l| l.current_binary().ok());
    let mut node_args = vec!["version".to_string()];
    if long {
        node_args.push("--long".into());
    }
    if json {
        node_args.extend(["--output".into(), "json".into()]);
    }
    let node = node_bin
        .as_ref()
        .map(|bin| Command::new(bin).args(&node_args).output());
    if json {
        let app_version = match &node {
            Some(Ok(out)) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            }
            _ => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::json!({"switchyard_version": ours, "app_version": app_version})
        );
    } else {
        println!("switchyard version: {ours}");
    }
    match (node_bin, node) {
        (None, _) => {
            if !json {
                eprintln!(
                    "(no node binary: set DAEMON_HOME and DAEMON_NAME to see the node's version)"
                );
            }
            Ok(0)
        }
        (Some(bin), Some(Err(e))) => anyhow::bail!("cannot run {} version: {e}", bin.display()),
        (Some(bin), Some(Ok(out))) => {
            if !json {
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
            if !out.status.success() {
                anyhow::bail!("{} version exited with {}", bin.display(), out.status);
            }
            Ok(0)
        }
        (Some(_), None) => Ok(0),
    }
}
