//! Reading the chain registry named by `SWITCHYARD_CHAIN_REGISTRY`: a local `chain.json` (or a
//! folder holding one) or an http(s) URL of one.
//!
//! Parsing and every decision are `switchyard_core::registry`; this module only gets the bytes.
//! When the `chain.json` has no `codebase.versions` (the registry's shape since late 2024), the
//! `versions.json` beside it is read too: in the same folder, or at the same URL with its last
//! path segment replaced. A URL is fetched by [`switchyard_store::fetch_document`], so the
//! download rules hold (https only except loopback or `SWITCHYARD_ALLOW_HTTP`, a size cap of
//! [`MAX_REGISTRY_BYTES`], a deadline); a local file is read by
//! [`switchyard_store::read_untrusted_file`] with the same cap (no FIFO, no device).

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_core::{parse_chain, parse_versions, Registry, RegistryError, MAX_REGISTRY_BYTES};
use switchyard_store::{fetch_document, read_untrusted_file, DocumentOptions};

/// Where the registry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySource {
    /// A local `chain.json`, or a folder holding `chain.json`.
    Path(PathBuf),
    /// An `http://` or `https://` URL of a `chain.json`.
    Url(String),
}

impl RegistrySource {
    /// Reads the setting's value: a URL when it starts with `http://` or `https://`, else a
    /// path. `None` for an empty value.
    pub fn parse(value: &str) -> Option<RegistrySource> {
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        let lower = v.to_ascii_lowercase();
        Some(
            if lower.starts_with("https://") || lower.starts_with("http://") {
                RegistrySource::Url(v.to_string())
            } else {
                RegistrySource::Path(PathBuf::from(v))
            },
        )
    }
}

impl std::fmt::Display for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistrySource::Path(p) => write!(f, "{}", p.display()),
            RegistrySource::Url(u) => f.write_str(u),
        }
    }
}

/// Why the registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryLoadError {
    /// A local file is missing, not a regular file, unreadable or over the cap.
    #[error("chain registry {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A URL could not be fetched (transport rule, status, size cap, deadline).
    #[error("chain registry: {0}")]
    Fetch(#[from] switchyard_store::FetchError),
    /// The files were read but cannot be used.
    #[error("chain registry {at}: {source}")]
    Content {
        /// The path or URL of the file that was wrong.
        at: String,
        /// What was wrong.
        #[source]
        source: RegistryError,
    },
}

/// Bounds on reading the registry.
#[derive(Debug, Clone, Copy)]
pub struct RegistryLimits {
    /// Deadline for each URL fetched.
    pub timeout: Duration,
    /// Allow plain `http://` to non-loopback hosts (`SWITCHYARD_ALLOW_HTTP`).
    pub allow_http: bool,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            timeout: Duration::from_secs(15),
            allow_http: false,
        }
    }
}

/// Reads the registry at `source` (see the module docs).
pub async fn load_registry(
    source: &RegistrySource,
    limits: RegistryLimits,
) -> Result<Registry, RegistryLoadError> {
    let (chain_at, versions_at) = locations(source);
    let bytes = read(&chain_at, limits).await?;
    let content = |at: &Location| {
        let at = at.to_string();
        move |source| RegistryLoadError::Content { at, source }
    };
    let chain = parse_chain(&bytes).map_err(content(&chain_at))?;
    let versions = if chain.versions.is_some() {
        None
    } else {
        let bytes = read(&versions_at, limits).await?;
        Some(parse_versions(&bytes).map_err(content(&versions_at))?)
    };
    Registry::assemble(chain, versions).map_err(content(&versions_at))
}

/// One file to read.
#[derive(Debug, Clone)]
enum Location {
    Path(PathBuf),
    Url(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

/// The `chain.json` and the `versions.json` beside it.
fn locations(source: &RegistrySource) -> (Location, Location) {
    match source {
        RegistrySource::Path(p) => {
            let chain = if p.is_dir() {
                p.join("chain.json")
            } else {
                p.clone()
            };
            let versions = chain
                .parent()
                .unwrap_or(Path::new("."))
                .join("versions.json");
            (Location::Path(chain), Location::Path(versions))
        }
        RegistrySource::Url(u) => (Location::Url(u.clone()), Location::Url(sibling(u))),
    }
}

/// `url` with its last path segment replaced by `versions.json` (query and fragment dropped).
fn sibling(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    let host_start = base.find("://").map_or(0, |i| i + 3);
    match base[host_start..].rfind('/') {
        Some(i) => format!("{}versions.json", &base[..host_start + i + 1]),
        None => format!("{base}/versions.json"),
    }
}

async fn read(at: &Location, limits: RegistryLimits) -> Result<Vec<u8>, RegistryLoadError> {
    match at {
        Location::Path(p) => {
            let path = p.clone();
            let got =
                tokio::task::spawn_blocking(move || read_untrusted_file(&path, MAX_REGISTRY_BYTES))
                    .await
                    .map_err(|e| RegistryLoadError::File {
                        path: p.clone(),
                        detail: format!("background task failed: {e}"),
                    })?;
            match got {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(RegistryLoadError::File {
                    path: p.clone(),
                    detail: "no such file".into(),
                }),
                Err(e) => Err(RegistryLoadError::File {
                    path: p.clone(),
                    detail: e.to_string(),
                }),
            }
        }
        Location::Url(u) => {
            let opts = DocumentOptions {
                allow_http: limits.allow_http,
                max_bytes: MAX_REGISTRY_BYTES,
                timeout: limits.timeout,
            };
            Ok(fetch_document(u, &opts).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_a_url_or_a_path() {
        assert_eq!(RegistrySource::parse("  "), None);
        assert_eq!(
            RegistrySource::parse("HTTPS://h/osmosis/chain.json"),
            Some(RegistrySource::Url("HTTPS://h/osmosis/chain.json".into()))
        );
        assert_eq!(
            RegistrySource::parse("/srv/registry/osmosis/chain.json"),
            Some(RegistrySource::Path(
                "/srv/registry/osmosis/chain.json".into()
            ))
        );
    }

    #[test]
    fn versions_json_sits_beside_chain_json() {
        assert_eq!(
            sibling("https://raw.githubusercontent.com/cosmos/chain-registry/master/juno/chain.json?x=1"),
            "https://raw.githubusercontent.com/cosmos/chain-registry/master/juno/versions.json"
        );
        assert_eq!(
            sibling("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/versions.json"
        );
        assert_eq!(
            sibling("http://127.0.0.1:9"),
            "http://127.0.0.1:9/versions.json"
        );
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
    }

    #[tokio::test]
    async fn a_folder_with_chain_and_versions_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixtures().join("registry");
        std::fs::copy(f.join("neutron_chain.json"), dir.path().join("chain.json")).unwrap();
        std::fs::copy(
            f.join("neutron_versions.json"),
            dir.path().join("versions.json"),
        )
        .unwrap();
        let src = RegistrySource::Path(dir.path().to_path_buf());
        let r = load_registry(&src, RegistryLimits::default())
            .await
            .unwrap();
        assert_eq!(r.chain_id, "neutron-1");
        assert!(r.version("v6.0.0").is_ok());
        // Without versions.json beside it, the error names the file that is missing.
        std::fs::remove_file(dir.path().join("versions.json")).unwrap();
        let e = load_registry(&src, RegistryLimits::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("versions.json: no such file"), "{e}");
    }

    #[tokio::test]
    async fn the_older_shape_needs_no_versions_file() {
        let src = RegistrySource::Path(fixtures().join("registry/juno_old-chain.json"));
        let r = load_registry(&src, RegistryLimits::default())
            .await
            .unwrap();
        assert!(r.version("v24").is_ok());
    }
}
