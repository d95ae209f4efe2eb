//! What `--halt-height` does on the binary `current` points at: from its Cosmos SDK version when
//! the binary can tell it, else from what an earlier run of the same bytes showed (the store's
//! record, by sha256), else unknown — and then the core probes it.
//!
//! Looked up only when a manual upgrade needs the binary halted, and cached per binary file
//! (path, size, modification time, inode) so a loop turn costs nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_core::{ChecksumAlgo, HaltBehaviour, SdkVersion};
use switchyard_store::{Layout, LearnedHalt};

/// Where a behaviour is known from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactSource {
    Sdk(SdkVersion),
    Learned(LearnedHalt),
    Unknown,
}

/// The facts about one binary file.
#[derive(Debug, Clone)]
pub(crate) struct BinaryFacts {
    pub path: PathBuf,
    identity: (u64, i64, u64),
    pub sha256: Option<String>,
    pub behaviour: Option<HaltBehaviour>,
    pub source: FactSource,
}

fn identity(path: &Path) -> Option<(u64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.mtime(), m.ino()))
}

impl BinaryFacts {
    /// Whether these facts are still about the file at `path`.
    pub(crate) fn is_for(&self, path: &Path) -> bool {
        self.path == path && identity(path) == Some(self.identity)
    }

    /// Looks the binary up: SDK version first, then the learned record.
    pub(crate) async fn resolve(layout: &Layout, path: &Path) -> BinaryFacts {
        let ident = identity(path).unwrap_or_default();
        let sha256 = {
            let p = path.to_path_buf();
            tokio::task::spawn_blocking(move || {
                switchyard_store::hash_file(&p, ChecksumAlgo::Sha256).map(|(c, _)| c.hex)
            })
            .await
            .ok()
            .and_then(Result::ok)
        };
        let (behaviour, source) =
            match switchyard_exec::sdk_version(path, Duration::from_secs(20)).await {
                Ok(v) => (Some(v.halt_behaviour()), FactSource::Sdk(v)),
                Err(e) => {
                    tracing::warn!("cannot tell the node's Cosmos SDK version: {e}");
                    match sha256
                        .as_deref()
                        .map(|s| switchyard_store::load_learned_halt(layout, s))
                    {
                        Some(Ok(Some(l))) => (Some(l.behaviour), FactSource::Learned(l)),
                        Some(Err(e)) => {
                            tracing::warn!("{e}");
                            (None, FactSource::Unknown)
                        }
                        _ => (None, FactSource::Unknown),
                    }
                }
            };
        BinaryFacts {
            path: path.to_path_buf(),
            identity: ident,
            sha256,
            behaviour,
            source,
        }
    }

    /// Remembers what a run of this binary showed, in the store and here.
    pub(crate) fn learn(&mut self, layout: &Layout, behaviour: HaltBehaviour, evidence: String) {
        tracing::info!(
            binary = %self.path.display(),
            "learned what --halt-height does on this binary: it {behaviour} ({evidence}); remembered for the next start"
        );
        let learned = LearnedHalt {
            behaviour,
            learned_at: switchyard_store::now_rfc3339(),
            binary: self.path.clone(),
            evidence,
        };
        match &self.sha256 {
            Some(sha) => {
                if let Err(e) = switchyard_store::record_learned_halt(layout, sha, learned.clone())
                {
                    tracing::warn!("cannot remember it: {e}");
                }
            }
            None => tracing::warn!("cannot remember it: the binary's sha256 is not known"),
        }
        self.behaviour = Some(behaviour);
        self.source = FactSource::Learned(learned);
    }

    /// Words for the log: where the behaviour comes from.
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            FactSource::Sdk(v) => format!("SDK {v}"),
            FactSource::Learned(l) => format!("learned {}", l.learned_at),
            FactSource::Unknown => "SDK version unknown".into(),
        }
    }
}
