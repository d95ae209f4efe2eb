//! The chain registry (`SWITCHYARD_CHAIN_REGISTRY`) as `run`, `prepare`, `plan`, `add-upgrade`
//! and the status API use it.
//!
//! Reading is `switchyard_watcher::load_registry`, every decision is the core's
//! (`switchyard_core::pick_binary`); this module holds what was read and maps an upcoming
//! upgrade onto the core's terms. In `run` the registry is read at start and again every
//! [`REREAD_EVERY`] (a failed read is retried after [`RETRY_FAILED_AFTER`]); the latest read is
//! shared through a watch channel, so pre-staging wakes up when it changes and the status API
//! shows it. One-shot commands read it once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchyard_core::{
    pick_binary, BinaryOrigin, BinaryPick, BinarySource, HeightMismatch, PlanListing, Registry,
    RegistryInput, SourceConflict,
};
use switchyard_watcher::{
    load_registry, PlanBinariesView, RegistryLimits, RegistrySource, SeenIn, Upcoming,
};
use tokio::sync::watch;

use crate::config::Config;
use crate::shutdown::Shutdown;

/// How often `run` reads the registry again. Registry entries change a few times per upgrade,
/// days ahead; ten minutes is soon enough and light on the server.
pub(crate) const REREAD_EVERY: Duration = Duration::from_secs(600);
/// How soon a failed read is tried again.
pub(crate) const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);

/// One read of the registry.
#[derive(Debug)]
pub(crate) struct RegistryState {
    /// Where it was read from.
    pub source: RegistrySource,
    /// What was read, or why nothing could be (in words, naming the file).
    pub read: Result<Registry, String>,
}

impl RegistryState {
    fn input(&self) -> RegistryInput<'_> {
        match &self.read {
            Ok(r) => RegistryInput::Read(r),
            Err(why) => RegistryInput::Unreadable(why),
        }
    }
}

/// The configured source, `None` when `SWITCHYARD_CHAIN_REGISTRY` is not set.
pub(crate) fn configured(cfg: &Config) -> Option<RegistrySource> {
    cfg.chain_registry
        .as_deref()
        .and_then(RegistrySource::parse)
}

/// Reads the configured registry once; `None` when none is configured.
pub(crate) async fn read_once(cfg: &Config) -> Option<RegistryState> {
    let source = configured(cfg)?;
    let limits = RegistryLimits {
        allow_http: cfg.allow_http,
        ..RegistryLimits::default()
    };
    let read = load_registry(&source, limits)
        .await
        .map_err(|e| switchyard_core::error_chain(&e));
    Some(RegistryState { source, read })
}

fn channel() -> &'static watch::Sender<Option<Arc<RegistryState>>> {
    static CHANNEL: OnceLock<watch::Sender<Option<Arc<RegistryState>>>> = OnceLock::new();
    CHANNEL.get_or_init(|| watch::channel(None).0)
}

/// The latest read in this process (`run`'s refresher), for the status API.
pub(crate) fn latest() -> Option<Arc<RegistryState>> {
    channel().borrow().clone()
}

/// Starts `run`'s re-reading task (nothing when no registry is configured) and returns the
/// channel of its reads.
pub(crate) fn spawn_refresher(
    cfg: &Config,
    shutdown: &Shutdown,
) -> watch::Receiver<Option<Arc<RegistryState>>> {
    let rx = channel().subscribe();
    if configured(cfg).is_none() {
        return rx;
    }
    let cfg = cfg.clone();
    let sd = shutdown.clone();
    shutdown.clone().spawn(async move {
        let mut last_said: Option<String> = None;
        loop {
            let Ok(Some(state)) = sd.unless(read_once(&cfg)).await else {
                return;
            };
            let said = match &state.read {
                Ok(r) => format!(
                    "chain registry {} read: chain {} ({}), {} versions",
                    state.source,
                    r.chain_id,
                    r.chain_name,
                    r.versions.len()
                ),
                Err(e) => format!("the chain registry cannot be used: {e}"),
            };
            // Said once per change, not every ten minutes.
            if last_said.as_deref() != Some(said.as_str()) {
                if state.read.is_ok() {
                    tracing::info!("{said}");
                } else {
                    tracing::error!("{said}");
                }
                last_said = Some(said);
            }
            let wait = if state.read.is_ok() {
                REREAD_EVERY
            } else {
                RETRY_FAILED_AFTER
            };
            channel().send_replace(Some(Arc::new(state)));
            tokio::select! {
                () = sd.triggered() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    rx
}

/// What this platform's entry of `u`'s plan info is, in the core's terms.
fn plan_listing<'a>(u: &'a Upcoming, platform: &str) -> PlanListing<'a> {
    match &u.binaries {
        PlanBinariesView::Listed { binaries, .. } => binaries
            .for_platform(platform)
            .map_or(PlanListing::Nothing, PlanListing::Binary),
        PlanBinariesView::None => PlanListing::Nothing,
        PlanBinariesView::Unavailable { .. } => PlanListing::Unreadable,
    }
}

/// Where the binary of one upcoming upgrade is to come from (owned: it outlives the view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The plan's (or proposal's) info.
    Plan(BinarySource),
    /// The chain registry; `height` is set when its version's height is not the plan's.
    Registry {
        source: BinarySource,
        height: Option<HeightMismatch>,
    },
    /// The plan's info and the registry disagree: nothing is staged.
    Conflict(SourceConflict),
    /// None; why the registry gave none, when one is configured.
    Nothing(Option<String>),
}

impl Source {
    /// Whether there is a binary to stage.
    pub(crate) fn is_some(&self) -> bool {
        matches!(self, Source::Plan(_) | Source::Registry { .. })
    }

    /// The binary to stage, if any.
    pub(crate) fn binary(&self) -> Option<&BinarySource> {
        match self {
            Source::Plan(s) | Source::Registry { source: s, .. } => Some(s),
            _ => None,
        }
    }

    /// The origin to report for it; `seen_in` tells plan info from proposal.
    pub(crate) fn origin(&self, seen_in: SeenIn) -> Option<BinaryOrigin> {
        match self {
            Source::Plan(_) => Some(plan_origin(seen_in)),
            Source::Registry { .. } => Some(BinaryOrigin::Registry),
            _ => None,
        }
    }
}

/// The origin of a binary from the info of an upgrade seen in `seen_in`.
pub(crate) fn plan_origin(seen_in: SeenIn) -> BinaryOrigin {
    match seen_in {
        SeenIn::Plan => BinaryOrigin::PlanInfo,
        SeenIn::Proposal => BinaryOrigin::Proposal,
    }
}

/// The registry as one decision sees it: the latest read and the node's chain id.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RegistryCtx<'a> {
    /// The latest read; `None`: no registry configured.
    pub state: Option<&'a RegistryState>,
    /// The node's chain id, `None` while it is not known.
    pub chain_id: Option<&'a str>,
}

impl RegistryCtx<'_> {
    /// Where `u`'s binary for `platform` comes from (`switchyard_core::pick_binary`).
    pub(crate) fn source_for(&self, u: &Upcoming, platform: &str) -> Source {
        self.source_named(&u.name, u.height, plan_listing(u, platform), platform)
    }

    /// [`Self::source_for`] for an upgrade known by name and height only (a manual upgrade, or
    /// `add-upgrade --from-registry`): the registry or nothing.
    pub(crate) fn registry_only(&self, name: &str, height: Option<i64>, platform: &str) -> Source {
        self.source_named(name, height.unwrap_or(0), PlanListing::Nothing, platform)
            .without_height_check(height.is_none())
    }

    /// Why the registry is refused whatever an upgrade's plan says: it was read, but for
    /// another chain than the node's. `None` when it matches, or nothing can be told yet.
    pub(crate) fn wrong_chain(&self) -> Option<String> {
        let read = self.state?.read.as_ref().ok()?;
        read.check_chain(self.chain_id?)
            .err()
            .map(|e| e.to_string())
    }

    fn source_named(
        &self,
        name: &str,
        height: i64,
        listing: PlanListing<'_>,
        platform: &str,
    ) -> Source {
        let input = self
            .state
            .map_or(RegistryInput::NotSet, RegistryState::input);
        match pick_binary(listing, input, self.chain_id, name, platform) {
            BinaryPick::Plan(s) => Source::Plan(s.clone()),
            BinaryPick::Registry(rb) => Source::Registry {
                source: rb.source.clone(),
                height: rb.version.height_disagrees(height),
            },
            BinaryPick::Conflict(c) => Source::Conflict(c),
            BinaryPick::NoSource(why) => Source::Nothing(why),
        }
    }
}

/// The registry's binary for upgrade `name` on this platform, after checking the registry is for
/// the chain of `home`'s `config/genesis.json`: what `add-upgrade --from-registry` and the
/// download at a halt (no chain view at hand) use. With the binary, how the registry's height
/// disagrees with `height`, if it does; `Err` says why there is none.
pub(crate) fn binary_for_home(
    state: &RegistryState,
    home: &std::path::Path,
    name: &str,
    height: Option<i64>,
) -> Result<(BinarySource, Option<HeightMismatch>), String> {
    let chain_id = switchyard_watcher::NodeIdentity::read(home)
        .map_err(|e| e.to_string())?
        .chain_id
        .ok_or_else(|| {
            format!(
                "{} is missing: the chain registry's chain cannot be checked against this node's",
                home.join("config/genesis.json").display()
            )
        })?;
    let reg = RegistryCtx {
        state: Some(state),
        chain_id: Some(&chain_id),
    };
    match reg.registry_only(name, height, &switchyard_core::this_platform()) {
        Source::Registry { source, height } => Ok((source, height)),
        Source::Nothing(Some(why)) => Err(why),
        _ => Err(format!("the chain registry gives no binary for {name}")),
    }
}

impl Source {
    fn without_height_check(self, drop: bool) -> Source {
        match self {
            Source::Registry { source, .. } if drop => Source::Registry {
                source,
                height: None,
            },
            other => other,
        }
    }
}
