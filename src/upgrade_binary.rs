//! Getting an upgrade's binary onto disk from what the chain says about it: the settings
//! (`StageOptions` from the configuration), [`stage_upcoming`] for an upgrade the watcher
//! reports (used by `prepare` and by `run`'s pre-staging), and [`stage_from_info`] for the plan
//! info the node wrote at its halt (the last resort).

use std::time::Duration;

use switchyard_core::UpgradeName;
use switchyard_core::{this_platform, BinaryOrigin};
use switchyard_store::FetchOptions;
use switchyard_store::Layout;
use switchyard_store::{
    stage_from_plan, stage_from_source, StageError, StageOptions, StageOutcome,
};
use switchyard_store::{PreflightStatus, StagingRecord};
use switchyard_watcher::{resolve_info, InfoFetchLimits, PlanBinariesView, SeenIn, Upcoming};

use crate::chain_registry::{plan_origin, RegistryCtx, Source};
use crate::config::Config;

/// Staging settings from the configuration.
pub(crate) fn stage_options(cfg: &Config, progress: bool) -> StageOptions {
    StageOptions {
        must_have_checksum: cfg.download_must_have_checksum,
        fetch: FetchOptions {
            allow_http: cfg.allow_http,
            max_bytes: cfg.max_download_bytes,
            progress,
            ..FetchOptions::default()
        },
        max_unpacked_bytes: cfg.max_download_bytes,
        preflight_timeout: Duration::from_secs(30),
        ..StageOptions::default()
    }
}

/// Bounds on fetching a plan's info URL: the download transport rule (`SWITCHYARD_ALLOW_HTTP`).
pub(crate) fn info_limits(cfg: &Config) -> InfoFetchLimits {
    InfoFetchLimits {
        allow_http: cfg.allow_http,
        ..InfoFetchLimits::default()
    }
}

/// Why an upgrade could not be staged from its plan info.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageFromInfoError {
    #[error("the plan's info lists no binaries (plain text or no \"binaries\" map)")]
    NoBinaries,
    #[error("the plan's info points at {url}, which could not be used: {why}")]
    InfoUnavailable { url: String, why: String },
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// Stages `name` from a plan `info` string (inline JSON or a URL to it), this platform's entry.
pub(crate) async fn stage_from_info(
    layout: &Layout,
    name: &UpgradeName,
    info: &str,
    opts: &StageOptions,
) -> Result<StageOutcome, StageFromInfoError> {
    let limits = InfoFetchLimits {
        allow_http: opts.fetch.allow_http,
        ..InfoFetchLimits::default()
    };
    match resolve_info(info, limits).await {
        PlanBinariesView::Listed { binaries, .. } => {
            Ok(stage_from_plan(layout, name, &binaries, &this_platform(), opts).await?)
        }
        PlanBinariesView::None => Err(StageFromInfoError::NoBinaries),
        PlanBinariesView::Unavailable { url, why } => {
            Err(StageFromInfoError::InfoUnavailable { url, why })
        }
    }
}

/// Adds the execute bits to upgrade `name`'s binary when it has none (a binary placed with
/// cosmovisor's `add-upgrade` is written with mode 0600; cosmovisor adds them at the switch), and
/// says so. Nothing to do when no binary is there.
pub(crate) fn add_execute_bits(
    layout: &Layout,
    name: &UpgradeName,
) -> Result<(), switchyard_store::LayoutError> {
    let bin = layout.upgrade_binary(name);
    match Layout::add_execute_bits(&bin) {
        Ok(true) => {
            tracing::info!(
                upgrade = %name,
                "{} had no execute bit (cosmovisor's add-upgrade writes binaries with mode 0600); added it (a+x), as cosmovisor does at the switch",
                bin.display()
            );
            Ok(())
        }
        Ok(false) | Err(switchyard_store::LayoutError::MissingBinary(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What happened to one upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Staged,
    AlreadyStaged,
    OperatorPlaced,
    /// Not attempted (a proposal in voting without `--include-voting`).
    Skipped,
    Failed,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Staged => "staged",
            Outcome::AlreadyStaged => "already_staged",
            Outcome::OperatorPlaced => "operator_placed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

fn describe(rec: &StagingRecord) -> String {
    let pf = match rec.preflight.status {
        PreflightStatus::Ok => format!(
            "preflight ok ({})",
            rec.preflight.output.lines().next().unwrap_or("").trim()
        ),
        PreflightStatus::Skipped => "preflight skipped (no checksum)".into(),
        PreflightStatus::Pending => "preflight not run".into(),
        PreflightStatus::Failed => format!(
            "preflight FAILED: {}",
            rec.preflight.message.as_deref().unwrap_or("")
        ),
    };
    format!(
        "{} from {} ({}, {} bytes); {pf}",
        rec.binary_path.display(),
        rec.url,
        rec.digest,
        rec.size
    )
}

/// Stages one upcoming upgrade, saying in words what happened: from this platform's entry of
/// its plan's info, or from the chain registry when the info gives none (`reg`, see
/// [`crate::chain_registry`]). A proposal still in voting is skipped unless `include_voting`.
pub(crate) async fn stage_upcoming(
    layout: &Layout,
    u: &Upcoming,
    include_voting: bool,
    disable_recase: bool,
    platform: &str,
    opts: &StageOptions,
    reg: RegistryCtx<'_>,
) -> (Outcome, String, Option<StagingRecord>) {
    if u.source == SeenIn::Proposal && !include_voting {
        return (
            Outcome::Skipped,
            "still in voting (use --include-voting to stage it now)".into(),
            None,
        );
    }
    let name = match UpgradeName::parse(&u.name, disable_recase) {
        Ok(n) => n,
        Err(e) => return (Outcome::Failed, e.to_string(), None),
    };
    let registry_note = match reg.source_for(u, platform) {
        Source::Registry { source, height } => {
            if let Some(m) = height {
                tracing::warn!(upgrade = %u.name, "{m}; the plan's height is the one that counts");
            }
            let opts = StageOptions {
                origin: Some(BinaryOrigin::Registry),
                ..opts.clone()
            };
            let (outcome, message, record) = outcome_of(
                layout,
                &name,
                stage_from_source(layout, &name, &source, &opts).await,
            );
            return (
                outcome,
                format!("from the chain registry: {message}"),
                record,
            );
        }
        Source::Conflict(c) => {
            if layout.has_upgrade_binary(&name) {
                return (
                    Outcome::OperatorPlaced,
                    format!(
                        "{} is in place ({c})",
                        layout.upgrade_binary(&name).display()
                    ),
                    None,
                );
            }
            tracing::error!(upgrade = %u.name, "not staging: {c}");
            return (Outcome::Failed, c.to_string(), None);
        }
        Source::Plan(_) => None,
        Source::Nothing(why) => why,
    };
    let with_note = |message: String| match &registry_note {
        Some(why) => format!("{message}; {why}"),
        None => message,
    };
    let binaries = match &u.binaries {
        PlanBinariesView::Listed { binaries, .. } => binaries,
        other => {
            // Nothing to download; fine if the operator placed it already.
            if layout.has_upgrade_binary(&name) {
                if let Err(e) = add_execute_bits(layout, &name) {
                    return (Outcome::Failed, e.to_string(), None);
                }
                return (
                    Outcome::OperatorPlaced,
                    format!(
                        "{} is in place (the plan lists no binaries)",
                        layout.upgrade_binary(&name).display()
                    ),
                    None,
                );
            }
            let why = match other {
                PlanBinariesView::Unavailable { url, why } => {
                    format!("the plan's info URL {url} could not be read: {why}")
                }
                _ => "the plan's info lists no binaries".into(),
            };
            return (
                Outcome::Failed,
                with_note(format!(
                    "{why}; place the binary with `switchyard add-upgrade {name} <path>`"
                )),
                None,
            );
        }
    };
    let opts = StageOptions {
        origin: Some(plan_origin(u.source)),
        ..opts.clone()
    };
    let (outcome, message, record) = outcome_of(
        layout,
        &name,
        stage_from_plan(layout, &name, binaries, platform, &opts).await,
    );
    let message = if outcome == Outcome::Failed {
        with_note(message)
    } else {
        message
    };
    (outcome, message, record)
}

/// A staging result in words; a binary the operator placed gets its execute bits here.
pub(crate) fn outcome_of(
    layout: &Layout,
    name: &UpgradeName,
    r: Result<StageOutcome, StageError>,
) -> (Outcome, String, Option<StagingRecord>) {
    match r {
        Ok(StageOutcome::Staged(r)) => (Outcome::Staged, describe(&r), Some(r)),
        Ok(StageOutcome::AlreadyStaged(r)) => (Outcome::AlreadyStaged, describe(&r), Some(r)),
        Ok(StageOutcome::OperatorPlaced { binary }) => match add_execute_bits(layout, name) {
            Ok(()) => (
                Outcome::OperatorPlaced,
                format!(
                    "{} was placed by the operator; left alone",
                    binary.display()
                ),
                None,
            ),
            Err(e) => (Outcome::Failed, e.to_string(), None),
        },
        Err(StageError::Preflight { record, message }) => (
            Outcome::Failed,
            format!(
                "{}; it does not start on this host: {message}",
                record.binary_path.display()
            ),
            Some(*record),
        ),
        Err(e) => (Outcome::Failed, e.to_string(), None),
    }
}
