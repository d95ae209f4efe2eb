//! Where to ask: the CometBFT RPC and gRPC addresses, found with zero configuration on a node host.
//!
//! Precedence, lowest first: the node's own `$DAEMON_HOME/config/config.toml` (`[rpc] laddr`) and
//! `config/app.toml` (`[grpc] address`, ignored when `[grpc] enable = false`), then the
//! environment (`DAEMON_GRPC_ADDRESS`, `SWITCHYARD_RPC_ADDRESS`), then the command-line flags
//! `--rpc` / `--grpc`. Listen addresses are turned into addresses one can dial: `tcp://` becomes
//! `http://`, and a wildcard host (`0.0.0.0`, `::`) becomes loopback.

use std::path::PathBuf;

use crate::error::{Result, WatchError};
use crate::node_config::read_table;

/// The addresses to query, as `http://host:port` URLs (no trailing slash).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Endpoints {
    /// CometBFT JSON-RPC (`/status`, `/abci_info`, `abci_query`, websocket).
    pub rpc: Option<String>,
    /// Cosmos SDK gRPC.
    pub grpc: Option<String>,
}

/// The inputs to [`resolve`]; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct EndpointInputs {
    /// `$DAEMON_HOME`: read `config/config.toml` and `config/app.toml` from it.
    pub home: Option<PathBuf>,
    /// `DAEMON_GRPC_ADDRESS`.
    pub env_grpc: Option<String>,
    /// `SWITCHYARD_RPC_ADDRESS`.
    pub env_rpc: Option<String>,
    /// `--rpc`.
    pub flag_rpc: Option<String>,
    /// `--grpc`.
    pub flag_grpc: Option<String>,
}

/// What [`resolve`] found, with notes on what it skipped (for logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub endpoints: Endpoints,
    /// Things the operator may want to know (a file that could not be read, gRPC disabled, ...).
    pub notes: Vec<String>,
}

/// Works out the endpoints. Fails only when an address given explicitly is unusable, or when
/// no address at all could be found.
pub fn resolve(inputs: &EndpointInputs) -> Result<Resolved> {
    let mut notes = Vec::new();
    let mut rpc = None;
    let mut grpc = None;
    if let Some(home) = &inputs.home {
        let cfg = home.join("config").join("config.toml");
        match read_table(&cfg) {
            Ok(Some(t)) => match t
                .get("rpc")
                .and_then(|r| r.get("laddr"))
                .and_then(|v| v.as_str())
            {
                Some(laddr) => match dialable("RPC", laddr) {
                    Ok(u) => rpc = Some(u),
                    Err(e) => notes.push(format!("{}: [rpc] laddr: {e}", cfg.display())),
                },
                None => notes.push(format!("{} has no [rpc] laddr", cfg.display())),
            },
            Ok(None) => notes.push(format!("{} does not exist", cfg.display())),
            Err(e) => notes.push(e.to_string()),
        }
        let app = home.join("config").join("app.toml");
        match read_table(&app) {
            Ok(Some(t)) => {
                let section = t.get("grpc");
                let enabled = section
                    .and_then(|g| g.get("enable"))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(true);
                let address = section
                    .and_then(|g| g.get("address"))
                    .and_then(|v| v.as_str());
                match (enabled, address) {
                    (false, _) => notes.push(format!("{}: [grpc] enable = false", app.display())),
                    (true, Some(a)) => match dialable("gRPC", a) {
                        Ok(u) => grpc = Some(u),
                        Err(e) => notes.push(format!("{}: [grpc] address: {e}", app.display())),
                    },
                    (true, None) => {}
                }
            }
            Ok(None) => {}
            Err(e) => notes.push(e.to_string()),
        }
    }
    if let Some(a) = nonempty(&inputs.env_grpc) {
        grpc = Some(dialable("gRPC", a)?);
    }
    if let Some(a) = nonempty(&inputs.env_rpc) {
        rpc = Some(dialable("RPC", a)?);
    }
    if let Some(a) = nonempty(&inputs.flag_rpc) {
        rpc = Some(dialable("RPC", a)?);
    }
    if let Some(a) = nonempty(&inputs.flag_grpc) {
        grpc = Some(dialable("gRPC", a)?);
    }
    if rpc.is_none() && grpc.is_none() {
        return Err(WatchError::NoEndpoint);
    }
    Ok(Resolved {
        endpoints: Endpoints { rpc, grpc },
        notes,
    })
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Turns a listen address or user input into a URL to dial: `tcp://0.0.0.0:26657` →
/// `http://127.0.0.1:26657`, `localhost:9090` → `http://localhost:9090`.
pub(crate) fn dialable(what: &'static str, addr: &str) -> Result<String> {
    let bad = |why: &str| WatchError::BadAddress {
        what,
        addr: addr.to_string(),
        why: why.to_string(),
    };
    let a = addr.trim();
    let rest = if let Some(r) = a.strip_prefix("tcp://") {
        format!("http://{r}")
    } else if a.starts_with("unix://") {
        return Err(bad("unix sockets are not supported; give a TCP address"));
    } else if a.starts_with("http://") || a.starts_with("https://") {
        a.to_string()
    } else if a.contains("://") {
        return Err(bad("expected http://, https:// or tcp://"));
    } else {
        format!("http://{a}")
    };
    let mut url = url::Url::parse(&rest).map_err(|e| bad(&e.to_string()))?;
    let host = url.host_str().ok_or_else(|| bad("no host"))?.to_string();
    if host == "0.0.0.0" {
        url.set_host(Some("127.0.0.1"))
            .map_err(|e| bad(&e.to_string()))?;
    } else if host == "[::]" {
        url.set_host(Some("[::1]"))
            .map_err(|e| bad(&e.to_string()))?;
    }
    if url.port_or_known_default().is_none() {
        return Err(bad("no port"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(config: &str, app: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("config")).unwrap();
        std::fs::write(d.path().join("config/config.toml"), config).unwrap();
        std::fs::write(d.path().join("config/app.toml"), app).unwrap();
        d
    }

    #[test]
    fn reads_the_nodes_own_config() {
        let d = home_with(
            "moniker = \"x\"\n[rpc]\nladdr = \"tcp://0.0.0.0:36657\"\n",
            "[grpc]\nenable = true\naddress = \"localhost:9190\"\n",
        );
        let r = resolve(&EndpointInputs {
            home: Some(d.path().into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.endpoints.rpc.as_deref(), Some("http://127.0.0.1:36657"));
        assert_eq!(r.endpoints.grpc.as_deref(), Some("http://localhost:9190"));
    }

    #[test]
    fn grpc_disabled_is_respected_and_flags_win() {
        let d = home_with(
            "[rpc]\nladdr = \"tcp://127.0.0.1:26657\"\n",
            "[grpc]\nenable = false\naddress = \"0.0.0.0:9090\"\n",
        );
        let mut inputs = EndpointInputs {
            home: Some(d.path().into()),
            ..Default::default()
        };
        let r = resolve(&inputs).unwrap();
        assert_eq!(r.endpoints.grpc, None);
        assert!(
            r.notes.iter().any(|n| n.contains("enable = false")),
            "{:?}",
            r.notes
        );
        inputs.env_grpc = Some("127.0.0.1:1".into());
        assert_eq!(
            resolve(&inputs).unwrap().endpoints.grpc.as_deref(),
            Some("http://127.0.0.1:1")
        );
        inputs.flag_grpc = Some("http://127.0.0.1:2".into());
        inputs.flag_rpc = Some("127.0.0.1:3".into());
        let r = resolve(&inputs).unwrap();
        assert_eq!(r.endpoints.grpc.as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(r.endpoints.rpc.as_deref(), Some("http://127.0.0.1:3"));
    }

    #[test]
    fn nothing_found_is_an_error_and_bad_flags_are_named() {
        assert_eq!(
            resolve(&EndpointInputs::default()),
            Err(WatchError::NoEndpoint)
        );
        let d = tempfile::tempdir().unwrap();
        let r = resolve(&EndpointInputs {
            home: Some(d.path().into()),
            ..Default::default()
        });
        assert_eq!(r, Err(WatchError::NoEndpoint));
        let e = resolve(&EndpointInputs {
            flag_rpc: Some("unix:///tmp/x.sock".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("unix"), "{e}");
        assert!(dialable("RPC", "ftp://x:1").is_err());
        assert!(dialable("RPC", "http://").is_err());
    }

    #[test]
    fn broken_config_is_a_note_not_a_crash() {
        let d = home_with("[rpc\nladdr = ", "");
        let r = resolve(&EndpointInputs {
            home: Some(d.path().into()),
            flag_rpc: Some("127.0.0.1:26657".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(
            r.notes.iter().any(|n| n.contains("config.toml")),
            "{:?}",
            r.notes
        );
    }
}
