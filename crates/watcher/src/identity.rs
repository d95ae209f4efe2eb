//! Which node an answer must come from: the node id in the home's `config/node_key.json` and the
//! chain id in its `config/genesis.json`.
//!
//! The height that decides a swap must be the supervised node's own. An RPC address that points
//! at another node — a typo, a sentry's port, a public endpoint ahead of ours — would make a
//! swap happen at the wrong moment, so every `/status` (and gRPC `GetNodeInfo`) answer is held
//! against this identity and an answer from any other node is refused
//! ([`crate::WatchError::ForeignNode`]).
//!
//! A CometBFT node id is the lowercase hex of the first 20 bytes of the SHA-256 of the node's
//! Ed25519 public key; `node_key.json` holds the 64-byte private key (seed, then public key) in
//! base64. `genesis.json` can be hundreds of megabytes: it is streamed, only `chain_id` is kept.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

/// What the supervised node is, as far as its home tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeIdentity {
    /// From `config/node_key.json`, when the home has one.
    pub node_id: Option<String>,
    /// From `config/genesis.json`, when the home has one.
    pub chain_id: Option<String>,
}

/// Why the home's identity files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// `config/node_key.json` or `config/genesis.json` exists but could not be read or made no
    /// sense (bad JSON, not an Ed25519 key, not a regular file).
    #[error("{path}: {why}")]
    Unreadable {
        /// The file that was being read.
        path: PathBuf,
        /// What was wrong with it.
        why: String,
    },
}

impl NodeIdentity {
    /// Reads the identity of the node whose home is `home`. Missing files leave their part
    /// unknown (nothing to check against); files that exist but make no sense are errors.
    pub fn read(home: &Path) -> Result<NodeIdentity, IdentityError> {
        Ok(NodeIdentity {
            node_id: node_id_of(&home.join("config/node_key.json"))?,
            chain_id: chain_id_of(&home.join("config/genesis.json"))?,
        })
    }

    /// Whether there is anything to check.
    pub fn is_known(&self) -> bool {
        self.node_id.is_some() || self.chain_id.is_some()
    }

    /// Why an answer naming `node_id` on `chain_id` is not from this node, if it is not. Empty
    /// values in the answer (a node that does not say) are not held against it.
    pub fn mismatch(&self, node_id: &str, chain_id: &str) -> Option<String> {
        if let Some(want) = &self.chain_id {
            if !chain_id.is_empty() && chain_id != want {
                return Some(format!(
                    "it is on chain {chain_id:?}, this node's genesis is {want:?}"
                ));
            }
        }
        if let Some(want) = &self.node_id {
            if !node_id.is_empty() && !node_id.eq_ignore_ascii_case(want) {
                return Some(format!(
                    "it is node {node_id}, this node's config/node_key.json is node {want}"
                ));
            }
        }
        None
    }
}

fn unreadable(path: &Path, why: impl ToString) -> IdentityError {
    IdentityError::Unreadable {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// The node id from a `node_key.json`, `None` when there is no such file.
pub(crate) fn node_id_of(path: &Path) -> Result<Option<String>, IdentityError> {
    #[derive(serde::Deserialize)]
    struct NodeKey {
        priv_key: Key,
    }
    #[derive(serde::Deserialize)]
    struct Key {
        #[serde(rename = "type")]
        kind: String,
        value: String,
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, e)),
    };
    let key: NodeKey = serde_json::from_slice(&bytes).map_err(|e| unreadable(path, e))?;
    if key.priv_key.kind != "tendermint/PrivKeyEd25519" {
        return Err(unreadable(
            path,
            format!(
                "key type {:?} is not tendermint/PrivKeyEd25519",
                key.priv_key.kind
            ),
        ));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key.priv_key.value.trim())
        .map_err(|e| unreadable(path, format!("priv_key.value is not base64: {e}")))?;
    if raw.len() != 64 {
        return Err(unreadable(
            path,
            format!("an Ed25519 key is 64 bytes, this one is {}", raw.len()),
        ));
    }
    let digest = Sha256::digest(&raw[32..]);
    Ok(Some(hex::encode(&digest[..20])))
}

/// The chain id from a `genesis.json`, `None` when there is no such file. Only `chain_id` is
/// kept; the rest of the file is read past, however large.
pub(crate) fn chain_id_of(path: &Path) -> Result<Option<String>, IdentityError> {
    #[derive(serde::Deserialize)]
    struct Genesis {
        chain_id: String,
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, e)),
    };
    if !file.metadata().map_err(|e| unreadable(path, e))?.is_file() {
        return Err(unreadable(path, "not a regular file"));
    }
    let g: Genesis =
        serde_json::from_reader(BufReader::new(file)).map_err(|e| unreadable(path, e))?;
    Ok(Some(g.chain_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by `chaind init` (SDK v0.53.8); `chaind comet show-node-id` printed the id.
    const NODE_KEY: &str = r#"{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"VQniACO0/VEMoPpENufYYPY81mOqC3RY6WgEAIIMWW/nPT/Kpr4S1pdV/MKYqBg1hBxDMwjWZCWIQFXRh3R2ww=="}}"#;
    const NODE_ID: &str = "718127b308053eddf189e90ffbb90f5f93811ea1";

    #[test]
    fn reads_the_node_id_and_chain_id_of_a_real_home() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/node_key.json"), NODE_KEY).unwrap();
        std::fs::write(
            dir.path().join("config/genesis.json"),
            r#"{"app_state":{"big":[1,2,3,{"x":"y"}]},"chain_id":"idtest-1","initial_height":"1"}"#,
        )
        .unwrap();
        let id = NodeIdentity::read(dir.path()).unwrap();
        assert_eq!(id.node_id.as_deref(), Some(NODE_ID));
        assert_eq!(id.chain_id.as_deref(), Some("idtest-1"));
        assert_eq!(id.mismatch(NODE_ID, "idtest-1"), None);
        assert_eq!(id.mismatch("", ""), None);
        let other = id.mismatch("0000000000000000000000000000000000000000", "idtest-1");
        assert!(other.unwrap().contains(NODE_ID));
        let chain = id.mismatch(NODE_ID, "cosmoshub-4").unwrap();
        assert!(chain.contains("cosmoshub-4") && chain.contains("idtest-1"));
    }

    #[test]
    fn missing_files_leave_it_unknown_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            NodeIdentity::read(dir.path()).unwrap(),
            NodeIdentity::default()
        );
        assert!(!NodeIdentity::default().is_known());
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        for (body, needle) in [
            ("{", "EOF"),
            (
                r#"{"priv_key":{"type":"tendermint/PrivKeySecp256k1","value":"AA=="}}"#,
                "is not tendermint/PrivKeyEd25519",
            ),
            (
                r#"{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"AA=="}}"#,
                "64 bytes",
            ),
        ] {
            std::fs::write(dir.path().join("config/node_key.json"), body).unwrap();
            let e = NodeIdentity::read(dir.path()).unwrap_err().to_string();
            assert!(e.contains("node_key.json") && e.contains(needle), "{e}");
        }
    }
}
