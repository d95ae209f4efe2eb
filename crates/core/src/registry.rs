//! The Cosmos chain registry (cosmos/chain-registry) as a source of upgrade binaries.
//!
//! The registry keeps one folder per chain. Its `chain.json` names the chain (`chain_name`,
//! `chain_id`); the versions, each with its upgrade `name`, `height`, `proposal` and a
//! `binaries` map (`linux/amd64` → `url?checksum=sha256:<hex>`, the same shape as a plan's
//! info), live in `versions.json` beside it since late 2024, and before that in
//! `chain.json`'s `codebase.versions`. Both shapes are read: [`parse_chain`] and
//! [`parse_versions`] read the two files, [`Registry::assemble`] joins them (the versions file
//! must be for the same `chain_name`).
//!
//! The decisions, all pure:
//! - [`Registry::check_chain`]: a registry for another chain than the node's is refused;
//! - [`Registry::binary_for`]: the version named like the upgrade, and its binary for this
//!   platform (else `any`), by the plan-info rules ([`crate::PlanBinaries::for_platform`]);
//! - [`RegistryVersion::height_disagrees`]: a version whose `height` is not the plan's;
//! - [`choose_source`]: when the plan's info and the registry both give a binary, they must
//!   agree (same checksum, or same URL without two different checksums); otherwise nothing is
//!   staged and both are named, for a human to decide.
//!
//! - [`pick_binary`]: all of the above for one upcoming upgrade, from what its plan's info
//!   lists; the registry is consulted only when the plan's info could be read, and only a
//!   registry of the node's own chain.
//!
//! Reading is bounded: a file larger than [`MAX_REGISTRY_BYTES`] is refused before it is parsed
//! (the shell also caps what it reads), and bad JSON or a field of the wrong type is an error
//! naming the file and the field, never a panic.

use std::fmt;

use crate::plan_info::{binaries_from_json, BinarySource, PlanBinaries};

/// Largest registry file read, in bytes. The biggest real `versions.json` files are tens of
/// kilobytes; 4 MiB leaves room for growth and keeps a wrong URL from filling memory.
pub const MAX_REGISTRY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a registry file, or what was asked of it, could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The file is larger than the cap.
    #[error("the registry's {file} is larger than {max} bytes ({len} bytes)")]
    TooLarge {
        /// `chain.json` or `versions.json`.
        file: &'static str,
        /// Its length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// Not JSON, or a field of the wrong type or missing.
    #[error("the registry's {file} cannot be read: {detail}")]
    Malformed {
        /// `chain.json` or `versions.json`.
        file: &'static str,
        /// The parser's message (with line and column) or the field that was wrong.
        detail: String,
    },
    /// The `versions.json` is for another chain than the `chain.json`.
    #[error("the registry's versions.json is for chain {versions:?}, but its chain.json is for {chain:?}")]
    VersionsOfAnotherChain {
        /// `chain_name` of `chain.json`.
        chain: String,
        /// `chain_name` of `versions.json`.
        versions: String,
    },
    /// The registry describes another chain than the node's.
    #[error(
        "the chain registry is for chain {registry:?} ({chain_name}), but this node is on {node:?}"
    )]
    WrongChain {
        /// The registry's `chain_id`.
        registry: String,
        /// The registry's `chain_name`.
        chain_name: String,
        /// The node's chain id.
        node: String,
    },
    /// No version has the upgrade's name.
    #[error(
        "the chain registry has no version named {name:?} (it lists {})",
        list(known)
    )]
    NoSuchVersion {
        /// The upgrade name asked for.
        name: String,
        /// The names it lists, in its order.
        known: Vec<String>,
    },
    /// Two versions have the upgrade's name (case-insensitively) and list different binaries.
    #[error("the chain registry lists {count} different versions named {name:?}")]
    Ambiguous {
        /// The upgrade name asked for.
        name: String,
        /// How many versions have it.
        count: usize,
    },
    /// The version lists no binary for this platform (nor `any`).
    #[error(
        "the chain registry's version {name:?} has no binary for {platform} (it lists {})",
        list(listed)
    )]
    NoBinaryForPlatform {
        /// The version's name.
        name: String,
        /// The platform asked for.
        platform: String,
        /// The platform keys it lists.
        listed: Vec<String>,
    },
    /// The version lists this platform, but the entry is unusable (a bad checksum, not a URL).
    #[error("the chain registry's {platform} entry of version {name:?} was rejected: {reason}")]
    RejectedEntry {
        /// The version's name.
        name: String,
        /// The entry's key.
        platform: String,
        /// Why.
        reason: String,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// One entry of the registry's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryVersion {
    /// The upgrade name (`name`), as the chain's upgrade plan calls it.
    pub name: String,
    /// The upgrade height, when recorded.
    pub height: Option<i64>,
    /// The governance proposal that carried it, when recorded.
    pub proposal: Option<u64>,
    /// The release to run (`recommended_version`), when recorded.
    pub recommended_version: Option<String>,
    /// Its `binaries` map; empty when it lists none.
    pub binaries: PlanBinaries,
}

/// A version's `height` that is not the plan's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeightMismatch {
    /// The height the registry records.
    pub registry: i64,
    /// The height of the plan (or proposal, or manual upgrade).
    pub plan: i64,
}

impl fmt::Display for HeightMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the chain registry records height {} for it, the plan says {}",
            self.registry, self.plan
        )
    }
}

impl RegistryVersion {
    /// The registry's height when it records one that is not `plan_height`. The plan is what
    /// the chain acts on; this is only reported.
    pub fn height_disagrees(&self, plan_height: i64) -> Option<HeightMismatch> {
        self.height
            .filter(|&h| h != plan_height)
            .map(|registry| HeightMismatch {
                registry,
                plan: plan_height,
            })
    }
}

/// What `chain.json` says that we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFile {
    /// `chain_name`, the registry's folder name (`osmosis`).
    pub chain_name: String,
    /// `chain_id` (`osmosis-1`).
    pub chain_id: String,
    /// `codebase.versions` of the older shape; `None` when absent (then read `versions.json`).
    pub versions: Option<Vec<RegistryVersion>>,
}

/// What `versions.json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionsFile {
    /// `chain_name`; must be the `chain.json`'s.
    pub chain_name: String,
    /// `versions`, in the file's order.
    pub versions: Vec<RegistryVersion>,
}

/// A chain's registry entry: its identity and its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `chain_name`.
    pub chain_name: String,
    /// `chain_id`.
    pub chain_id: String,
    /// The versions, in the file's order.
    pub versions: Vec<RegistryVersion>,
}

/// A binary the registry gives for an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryBinary<'a> {
    /// The version it comes from.
    pub version: &'a RegistryVersion,
    /// The key of the entry used: this platform's, or `any`.
    pub platform: String,
    /// Where to download it, and its checksum if the URL carries one.
    pub source: &'a BinarySource,
}

mod wire {
    //! The files' shapes as serde reads them; only the fields we use.

    #[derive(serde::Deserialize)]
    pub(super) struct Chain {
        pub(super) chain_name: String,
        pub(super) chain_id: String,
        #[serde(default)]
        pub(super) codebase: Option<Codebase>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Codebase {
        #[serde(default)]
        pub(super) versions: Option<Vec<Version>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Versions {
        pub(super) chain_name: String,
        pub(super) versions: Vec<Version>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Version {
        pub(super) name: String,
        #[serde(default)]
        pub(super) height: Option<i64>,
        #[serde(default)]
        pub(super) proposal: Option<u64>,
        #[serde(default)]
        pub(super) recommended_version: Option<String>,
        #[serde(default)]
        pub(super) binaries: Option<serde_json::Map<String, serde_json::Value>>,
    }
}

fn read<'de, T: serde::Deserialize<'de>>(
    file: &'static str,
    bytes: &'de [u8],
) -> Result<T, RegistryError> {
    let len = bytes.len() as u64;
    if len > MAX_REGISTRY_BYTES {
        return Err(RegistryError::TooLarge {
            file,
            len,
            max: MAX_REGISTRY_BYTES,
        });
    }
    // A derived struct would read a top-level array field by field; say what it is instead.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(RegistryError::Malformed {
            file,
            detail: "expected a JSON object, found an array".into(),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Malformed {
        file,
        detail: e.to_string(),
    })
}

fn version(v: wire::Version) -> RegistryVersion {
    let binaries = v
        .binaries
        .map(|m| {
            let doc = serde_json::json!({ "binaries": serde_json::Value::Object(m) });
            binaries_from_json(&doc).unwrap_or_default()
        })
        .unwrap_or_default();
    RegistryVersion {
        name: v.name,
        height: v.height,
        proposal: v.proposal,
        recommended_version: v.recommended_version,
        binaries,
    }
}

/// Reads a `chain.json` (see the module docs for the shapes).
pub fn parse_chain(bytes: &[u8]) -> Result<ChainFile, RegistryError> {
    let c: wire::Chain = read("chain.json", bytes)?;
    Ok(ChainFile {
        chain_name: c.chain_name,
        chain_id: c.chain_id,
        versions: c
            .codebase
            .and_then(|b| b.versions)
            .map(|vs| vs.into_iter().map(version).collect()),
    })
}

/// Reads a `versions.json`.
pub fn parse_versions(bytes: &[u8]) -> Result<VersionsFile, RegistryError> {
    let v: wire::Versions = read("versions.json", bytes)?;
    Ok(VersionsFile {
        chain_name: v.chain_name,
        versions: v.versions.into_iter().map(version).collect(),
    })
}

impl Registry {
    /// Joins a `chain.json` with its `versions.json` (ignored when the `chain.json` has its own
    /// `codebase.versions`). Without either, the chain has no versions.
    pub fn assemble(
        chain: ChainFile,
        versions: Option<VersionsFile>,
    ) -> Result<Registry, RegistryError> {
        let list = match (chain.versions, versions) {
            (Some(own), _) => own,
            (None, Some(v)) if v.chain_name != chain.chain_name => {
                return Err(RegistryError::VersionsOfAnotherChain {
                    chain: chain.chain_name,
                    versions: v.chain_name,
                })
            }
            (None, Some(v)) => v.versions,
            (None, None) => Vec::new(),
        };
        Ok(Registry {
            chain_name: chain.chain_name,
            chain_id: chain.chain_id,
            versions: list,
        })
    }

    /// Refuses a registry for another chain than `node_chain_id`.
    pub fn check_chain(&self, node_chain_id: &str) -> Result<(), RegistryError> {
        if self.chain_id == node_chain_id {
            Ok(())
        } else {
            Err(RegistryError::WrongChain {
                registry: self.chain_id.clone(),
                chain_name: self.chain_name.clone(),
                node: node_chain_id.to_string(),
            })
        }
    }

    /// The version named `name`: exactly, else the one whose name differs only in case (upgrade
    /// folders are lowercased unless `DAEMON_DISABLE_RECASE`). Repeated entries that list the
    /// same binaries count as one.
    pub fn version(&self, name: &str) -> Result<&RegistryVersion, RegistryError> {
        let exact: Vec<_> = self.versions.iter().filter(|v| v.name == name).collect();
        if let Some(r) = pick(name, exact) {
            return r;
        }
        let folded: Vec<_> = self
            .versions
            .iter()
            .filter(|v| v.name.eq_ignore_ascii_case(name))
            .collect();
        pick(name, folded).unwrap_or_else(|| {
            Err(RegistryError::NoSuchVersion {
                name: name.to_string(),
                known: self.versions.iter().map(|v| v.name.clone()).collect(),
            })
        })
    }

    /// The binary for `platform` (else `any`) of the version named `name`.
    pub fn binary_for(
        &self,
        name: &str,
        platform: &str,
    ) -> Result<RegistryBinary<'_>, RegistryError> {
        let v = self.version(name)?;
        for key in [platform, "any"] {
            if let Some(source) = v.binaries.entries.get(key) {
                return Ok(RegistryBinary {
                    version: v,
                    platform: key.to_string(),
                    source,
                });
            }
        }
        if let Some(r) = v.binaries.rejection_for(platform) {
            return Err(RegistryError::RejectedEntry {
                name: v.name.clone(),
                platform: r.platform.clone(),
                reason: r.reason.clone(),
            });
        }
        Err(RegistryError::NoBinaryForPlatform {
            name: v.name.clone(),
            platform: platform.to_string(),
            listed: v.binaries.entries.keys().cloned().collect(),
        })
    }
}

/// `url` without its `checksum` query parameter, for comparing where two sources download from.
fn without_checksum(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("checksum="))
        .collect();
    let mut out = base.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The one version among `hits` (all named `name`), unless they list different binaries;
/// `None` when there are none.
fn pick<'a>(
    name: &str,
    hits: Vec<&'a RegistryVersion>,
) -> Option<Result<&'a RegistryVersion, RegistryError>> {
    let first = *hits.first()?;
    if hits.iter().any(|v| v.binaries != first.binaries) {
        return Some(Err(RegistryError::Ambiguous {
            name: name.to_string(),
            count: hits.len(),
        }));
    }
    Some(Ok(first))
}

/// The plan's info and the registry give different binaries for this platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plan's info lists {plan_url} ({}) but the chain registry lists {registry_url} ({}); nothing is staged until a human decides (place the binary with `switchyard add-upgrade`)", .plan_checksum.as_deref().unwrap_or("no checksum"), .registry_checksum.as_deref().unwrap_or("no checksum"))]
pub struct SourceConflict {
    /// The plan's URL.
    pub plan_url: String,
    /// The plan's checksum (`sha256:<hex>`), if its URL carries one.
    pub plan_checksum: Option<String>,
    /// The registry's URL.
    pub registry_url: String,
    /// The registry's checksum, if its URL carries one.
    pub registry_checksum: Option<String>,
}

/// Which of the two gave the binary [`choose_source`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// The plan's info (the registry had none, or agreed).
    Plan,
    /// The registry (the plan's info had none for this platform, or agreed and only the
    /// registry's URL carries a checksum).
    Registry,
}

/// Picks the source to stage from when the plan's info (`plan`) and the registry (`registry`)
/// may each give one for this platform. Both given: they agree when their checksums are equal,
/// or when their URLs (without the `checksum` parameter) are equal and they do not carry two different checksums; then the one
/// carrying a checksum is used, the plan's when both do. Anything else is a [`SourceConflict`].
/// `Ok(None)`: neither gives one.
pub fn choose_source(
    plan: Option<&BinarySource>,
    registry: Option<&BinarySource>,
) -> Result<Option<Chosen>, SourceConflict> {
    let (p, r) = match (plan, registry) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Ok(Some(Chosen::Plan)),
        (None, Some(_)) => return Ok(Some(Chosen::Registry)),
        (Some(p), Some(r)) => (p, r),
    };
    let agree = match (&p.checksum, &r.checksum) {
        (Some(a), Some(b)) => a == b,
        _ => without_checksum(&p.url) == without_checksum(&r.url),
    };
    if !agree {
        return Err(SourceConflict {
            plan_url: p.url.clone(),
            plan_checksum: p.checksum.as_ref().map(ToString::to_string),
            registry_url: r.url.clone(),
            registry_checksum: r.checksum.as_ref().map(ToString::to_string),
        });
    }
    Ok(Some(if p.checksum.is_none() && r.checksum.is_some() {
        Chosen::Registry
    } else {
        Chosen::Plan
    }))
}

/// Where an upgrade's binary comes from (or came from), as `plan` and `/status` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOrigin {
    /// The scheduled plan's `info`.
    PlanInfo,
    /// The `info` of a governance proposal's plan.
    Proposal,
    /// The chain registry (`SWITCHYARD_CHAIN_REGISTRY`).
    Registry,
    /// `switchyard add-upgrade NAME --url`.
    ManualUrl,
    /// Put in `upgrades/<name>/bin/` by the operator (`add-upgrade NAME <path>`, or by hand).
    PlacedByHand,
}

impl BinaryOrigin {
    /// The name used in reports (`plan_info`, `registry`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOrigin::PlanInfo => "plan_info",
            BinaryOrigin::Proposal => "proposal",
            BinaryOrigin::Registry => "registry",
            BinaryOrigin::ManualUrl => "manual_url",
            BinaryOrigin::PlacedByHand => "placed_by_hand",
        }
    }
}

/// What an upgrade's plan info gives for this platform, as [`pick_binary`] takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanListing<'a> {
    /// A usable entry for this platform (or `any`).
    Binary(&'a BinarySource),
    /// Nothing for this platform: no binaries, none for it, or a rejected entry.
    Nothing,
    /// The info is a URL that could not be read: what it lists is unknown, so the registry is
    /// not used either (it could not be compared).
    Unreadable,
}

/// The registry as [`pick_binary`] takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryInput<'a> {
    /// `SWITCHYARD_CHAIN_REGISTRY` is not set.
    NotSet,
    /// It could not be read; why.
    Unreadable(&'a str),
    /// It was read.
    Read(&'a Registry),
}

/// Which binary to stage for one upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryPick<'a> {
    /// The plan's info's (the registry had none, agreed, or is not set).
    Plan(&'a BinarySource),
    /// The registry's (the plan's info has none for this platform, or agreed and only the
    /// registry's URL carries a checksum).
    Registry(RegistryBinary<'a>),
    /// Both give one and they disagree: nothing is staged.
    Conflict(SourceConflict),
    /// Neither gives one; why the registry did not, when it was asked.
    NoSource(Option<String>),
}

/// Decides [`BinaryPick`] for the upgrade `name` (see the module docs). `node_chain`: the
/// node's chain id, `None` while it is not known (the registry is then not used).
pub fn pick_binary<'a>(
    plan: PlanListing<'a>,
    registry: RegistryInput<'a>,
    node_chain: Option<&str>,
    name: &str,
    platform: &str,
) -> BinaryPick<'a> {
    let plan_src = match plan {
        PlanListing::Binary(s) => Some(s),
        PlanListing::Nothing => None,
        PlanListing::Unreadable => {
            return BinaryPick::NoSource(match registry {
                RegistryInput::NotSet => None,
                _ => Some("the plan's info could not be read, so the chain registry is not used (it could not be compared)".into()),
            })
        }
    };
    let from_registry: Result<RegistryBinary<'a>, String> = match registry {
        RegistryInput::NotSet => Err(String::new()),
        RegistryInput::Unreadable(why) => Err(why.to_string()),
        RegistryInput::Read(r) => match node_chain {
            None => Err(
                "the node's chain id is not known yet, so the chain registry is not used".into(),
            ),
            Some(id) => r
                .check_chain(id)
                .and_then(|()| r.binary_for(name, platform))
                .map_err(|e| e.to_string()),
        },
    };
    match (plan_src, from_registry) {
        (Some(p), Ok(rb)) => match choose_source(Some(p), Some(rb.source)) {
            Ok(Some(Chosen::Registry)) => BinaryPick::Registry(rb),
            Ok(_) => BinaryPick::Plan(p),
            Err(c) => BinaryPick::Conflict(c),
        },
        (Some(p), Err(_)) => BinaryPick::Plan(p),
        (None, Ok(rb)) => BinaryPick::Registry(rb),
        (None, Err(why)) => BinaryPick::NoSource((!why.is_empty()).then_some(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let p = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn registry(chain: &str, versions: Option<&str>) -> Registry {
        let c = parse_chain(&fixture(chain)).unwrap();
        let v = versions.map(|v| parse_versions(&fixture(v)).unwrap());
        Registry::assemble(c, v).unwrap()
    }

    fn current(dir: &str, chain: &str) -> Registry {
        registry(
            &format!("{dir}/{chain}_chain.json"),
            Some(&format!("{dir}/{chain}_versions.json")),
        )
    }

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn osmosis_gives_typed_and_bare_checksums_per_platform() {
        let r = current("real/chain-registry", "osmosis");
        assert_eq!(
            (r.chain_name.as_str(), r.chain_id.as_str()),
            ("osmosis", "osmosis-1")
        );
        r.check_chain("osmosis-1").unwrap();
        // v12: `checksum=sha256:<hex>`.
        let b = r.binary_for("v12", "linux/arm64").unwrap();
        assert_eq!(b.platform, "linux/arm64");
        assert_eq!(b.source.checksum.as_ref().unwrap().algo.as_str(), "sha256");
        assert_eq!(b.version.height, Some(6246000));
        // v31: bare hex, typed by its length.
        let b = r.binary_for("v31", "linux/amd64").unwrap();
        let sum = b.source.checksum.as_ref().unwrap();
        assert!(sum.to_string().starts_with("sha256:d435408b845"), "{sum}");
        assert_eq!(b.version.proposal, Some(990));
        // v7 lists linux/amd64 only.
        let e = r.binary_for("v7", "linux/arm64").unwrap_err();
        assert!(
            matches!(e, RegistryError::NoBinaryForPlatform { ref listed, .. } if listed == &["linux/amd64"]),
            "{e}"
        );
        // v22 has URLs without checksums: given, but without one.
        assert!(r
            .binary_for("v22", "linux/amd64")
            .unwrap()
            .source
            .checksum
            .is_none());
        // A name with a `+` in it is a name like any other.
        assert!(r.version("v28.0.1+").is_ok());
    }

    #[test]
    fn juno_in_both_shapes_and_a_version_without_height() {
        let now = current("real/chain-registry", "juno");
        let old = registry("registry/juno_old-chain.json", None);
        assert_eq!(now.chain_id, "juno-1");
        assert_eq!(old.chain_id, "juno-1");
        for r in [&now, &old] {
            let b = r.binary_for("v24", "linux/amd64").unwrap();
            assert!(b.source.url.ends_with("/v24.0.0/junod"), "{}", b.source.url);
            assert_eq!(b.version.height, Some(19022500));
        }
        // The last version has no height: nothing to disagree with.
        let v27 = now.version("v27").unwrap();
        assert_eq!(v27.height, None);
        assert_eq!(v27.height_disagrees(1), None);
        // The older file has its own versions; a versions.json given with it is ignored.
        let c = parse_chain(&fixture("registry/juno_old-chain.json")).unwrap();
        let v = parse_versions(&fixture("registry/stargaze_versions.json")).unwrap();
        assert_eq!(Registry::assemble(c, Some(v)).unwrap(), old);
    }

    #[test]
    fn stargaze_lists_versions_without_binaries() {
        let r = current("registry", "stargaze");
        let e = r.binary_for("v14", "linux/amd64").unwrap_err();
        assert!(
            matches!(e, RegistryError::NoBinaryForPlatform { ref listed, .. } if listed.is_empty()),
            "{e}"
        );
        assert!(e.to_string().contains("lists none"), "{e}");
        assert_eq!(r.version("v14").unwrap().height, Some(14252867));
    }

    #[test]
    fn neutron_and_archway_odd_entries() {
        let n = current("registry", "neutron");
        assert!(n.binary_for("v1.0.1", "linux/amd64").is_err());
        assert!(n.binary_for("v6.0.0", "linux/amd64").is_ok());
        assert!(n.binary_for("v6.0.0", "darwin/arm64").is_err());
        // Archway records v7.0.0 and v9.0.0 at the same height: each is found by its name.
        let a = current("registry", "archway");
        let v7 = a.binary_for("v7.0.0", "darwin/arm64").unwrap();
        let v9 = a.binary_for("v9.0.0", "darwin/arm64").unwrap();
        assert_eq!(v7.version.height, v9.version.height);
        assert_ne!(v7.source.url, v9.source.url);
        // And the case of the name does not matter when nothing matches exactly.
        assert_eq!(a.version("V9.0.0").unwrap().name, "v9.0.0");
        let e = a.version("v5.0.0").unwrap_err();
        assert!(e.to_string().contains("v1.0.0, v2.0.0"), "{e}");
    }

    #[test]
    fn another_chain_is_refused_by_id_and_by_versions_file() {
        let r = current("registry", "neutron");
        let e = r.check_chain("osmosis-1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the chain registry is for chain \"neutron-1\" (neutron), but this node is on \"osmosis-1\""
        );
        let c = parse_chain(&fixture("registry/neutron_chain.json")).unwrap();
        let v = parse_versions(&fixture("registry/archway_versions.json")).unwrap();
        assert!(matches!(
            Registry::assemble(c, Some(v)),
            Err(RegistryError::VersionsOfAnotherChain { .. })
        ));
    }

    #[test]
    fn heights_that_disagree_are_reported() {
        let r = current("registry", "neutron");
        let v = r.version("v6.0.0").unwrap();
        assert_eq!(v.height_disagrees(22041500), None);
        let m = v.height_disagrees(22041600).unwrap();
        assert_eq!(
            m.to_string(),
            "the chain registry records height 22041500 for it, the plan says 22041600"
        );
    }

    #[test]
    fn malformed_and_huge_files_are_clear_errors() {
        for (bytes, want) in [
            (&b"<html>"[..], "chain.json cannot be read: expected value"),
            (b"{}", "missing field `chain_name`"),
            (br#"{"chain_name":"x"}"#, "missing field `chain_id`"),
            (br#"{"chain_name":"x","chain_id":7}"#, "invalid type: integer `7`"),
            (
                br#"{"chain_name":"x","chain_id":"x-1","codebase":{"versions":[{"name":"v2","height":"100"}]}}"#,
                "invalid type: string \"100\", expected i64",
            ),
            (b" [1,2]", "expected a JSON object, found an array"),
        ] {
            let e = parse_chain(bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let e = parse_versions(br#"{"chain_name":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("versions.json") && e.contains("missing field `versions`"),
            "{e}"
        );
        let mut huge = br#"{"chain_name":"x","chain_id":"x-1","pad":""#.to_vec();
        huge.resize(MAX_REGISTRY_BYTES as usize + 1, b' ');
        assert!(matches!(
            parse_chain(&huge),
            Err(RegistryError::TooLarge { len, .. }) if len == MAX_REGISTRY_BYTES + 1
        ));
    }

    #[test]
    fn a_bad_checksum_in_the_registry_is_a_rejected_entry() {
        let c = parse_chain(
            br#"{"chain_name":"x","chain_id":"x-1","codebase":{"versions":[
                {"name":"v2","binaries":{"linux/amd64":"https://h/b?checksum=sha256:abc","any":5}}]}}"#,
        )
        .unwrap();
        let r = Registry::assemble(c, None).unwrap();
        let e = r.binary_for("v2", "linux/amd64").unwrap_err();
        assert!(matches!(e, RegistryError::RejectedEntry { .. }), "{e}");
        assert!(e.to_string().contains("3 hex digits"), "{e}");
    }

    #[test]
    fn duplicate_names_with_other_binaries_are_ambiguous() {
        let c = parse_chain(
            br#"{"chain_name":"x","chain_id":"x-1","codebase":{"versions":[
                {"name":"v2","binaries":{"any":"https://h/a"}},
                {"name":"v2","binaries":{"any":"https://h/b"}},
                {"name":"v3","binaries":{"any":"https://h/c"}},
                {"name":"v3","binaries":{"any":"https://h/c"}}]}}"#,
        )
        .unwrap();
        let r = Registry::assemble(c, None).unwrap();
        assert!(matches!(
            r.version("v2"),
            Err(RegistryError::Ambiguous { count: 2, .. })
        ));
        assert_eq!(r.binary_for("v3", "linux/amd64").unwrap().platform, "any");
    }

    fn src(url: &str, sum: Option<char>) -> BinarySource {
        match sum {
            Some(c) => BinarySource::from_url(&format!(
                "{url}?checksum=sha256:{}",
                c.to_string().repeat(4) + SHA
            ))
            .unwrap(),
            None => BinarySource::from_url(url).unwrap(),
        }
    }

    #[test]
    fn picking_for_one_upgrade() {
        let r = current("registry", "neutron");
        let reg = RegistryInput::Read(&r);
        let on = Some("neutron-1");
        let p = "linux/amd64";
        // The plan's info has nothing: the registry's version of that name.
        let BinaryPick::Registry(b) = pick_binary(PlanListing::Nothing, reg, on, "v6.0.0", p)
        else {
            panic!()
        };
        assert_eq!(b.version.name, "v6.0.0");
        // Same URL in both: the plan's.
        let same = b.source.clone();
        assert_eq!(
            pick_binary(PlanListing::Binary(&same), reg, on, "v6.0.0", p),
            BinaryPick::Plan(&same)
        );
        // Another URL, no checksums: a conflict.
        let other = src("https://elsewhere/neutrond", None);
        assert!(matches!(
            pick_binary(PlanListing::Binary(&other), reg, on, "v6.0.0", p),
            BinaryPick::Conflict(_)
        ));
        // The registry of another chain, or an unknown chain id, is not used.
        let why = |pick| match pick {
            BinaryPick::NoSource(Some(w)) => w,
            other => panic!("{other:?}"),
        };
        let w = why(pick_binary(
            PlanListing::Nothing,
            reg,
            Some("osmosis-1"),
            "v6.0.0",
            p,
        ));
        assert!(w.contains("this node is on \"osmosis-1\""), "{w}");
        let w = why(pick_binary(PlanListing::Nothing, reg, None, "v6.0.0", p));
        assert!(w.contains("not known yet"), "{w}");
        // ... but a plan's own binary still is.
        assert_eq!(
            pick_binary(PlanListing::Binary(&other), reg, Some("x"), "v6.0.0", p),
            BinaryPick::Plan(&other)
        );
        // No version of that name; a plan info that could not be read; no registry at all.
        let w = why(pick_binary(PlanListing::Nothing, reg, on, "v9", p));
        assert!(w.contains("no version named \"v9\""), "{w}");
        let w = why(pick_binary(PlanListing::Unreadable, reg, on, "v6.0.0", p));
        assert!(w.contains("could not be compared"), "{w}");
        let none = RegistryInput::NotSet;
        assert_eq!(
            pick_binary(PlanListing::Nothing, none, on, "v6.0.0", p),
            BinaryPick::NoSource(None)
        );
        let bad = RegistryInput::Unreadable("chain.json: no such file");
        let w = why(pick_binary(PlanListing::Nothing, bad, on, "v6.0.0", p));
        assert_eq!(w, "chain.json: no such file");
    }

    #[test]
    fn urls_are_compared_without_their_checksum() {
        assert_eq!(without_checksum("https://h/b"), "https://h/b");
        assert_eq!(
            without_checksum("https://h/b?checksum=md5:x"),
            "https://h/b"
        );
        assert_eq!(
            without_checksum("https://h/b?a=1&checksum=x&c=2#f"),
            "https://h/b?a=1&c=2#f"
        );
    }

    #[test]
    fn choosing_between_the_plan_and_the_registry() {
        let (a, b) = (Some('a'), Some('b'));
        assert_eq!(choose_source(None, None), Ok(None));
        let p = src("https://p/x", a);
        assert_eq!(choose_source(Some(&p), None), Ok(Some(Chosen::Plan)));
        assert_eq!(choose_source(None, Some(&p)), Ok(Some(Chosen::Registry)));
        // Same checksum from another URL: fine.
        let r = src("https://r/x", a);
        assert_eq!(choose_source(Some(&p), Some(&r)), Ok(Some(Chosen::Plan)));
        // Same URL, only the registry carries a checksum: fine, and that one is used.
        let bare = src("https://p/x", None);
        assert_eq!(
            choose_source(Some(&bare), Some(&p)),
            Ok(Some(Chosen::Registry))
        );
        assert_eq!(choose_source(Some(&p), Some(&bare)), Ok(Some(Chosen::Plan)));
        // Another checksum, even at the same URL: refused, naming both.
        let other = src("https://p/x", b);
        let e = choose_source(Some(&p), Some(&other)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("sha256:aaaa{SHA}"))
                && text.contains(&format!("sha256:bbbb{SHA}")),
            "{text}"
        );
        // Other URLs and at most one checksum: nothing says they are the same bytes.
        let e = choose_source(
            Some(&src("https://p/x", None)),
            Some(&src("https://r/x", a)),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("(no checksum) but the chain registry lists https://r/x"),
            "{e}"
        );
    }
}
