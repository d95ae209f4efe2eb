//! Getting an upgrade's binary onto disk from what the chain says about it: the settings
//! (`StageOptions` from the configuration) and the one call used by `prepare`, by `run`'s
//! pre-staging and, as a last resort, at the halt itself.

use std::time::Duration;

use switchyard_core::binaries::this_platform;
use switchyard_core::UpgradeName;
use switchyard_store::fetch::FetchOptions;
use switchyard_store::install::{stage_plan, StageError, StageOptions, StageOutcome};
use switchyard_store::Layout;
use switchyard_watcher::info::{resolve_info, InfoFetchLimits};
use switchyard_watcher::PlanBinariesView;

use crate::config::Config;

/// Staging settings from the configuration.
pub fn stage_options(cfg: &Config, progress: bool) -> StageOptions {
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

/// Why an upgrade could not be staged from its plan info.
#[derive(Debug, thiserror::Error)]
pub enum StageFromInfoError {
    #[error("the plan's info lists no binaries (plain text or no \"binaries\" map)")]
    NoBinaries,
    #[error("the plan's info points at {url}, which could not be used: {why}")]
    InfoUnavailable { url: String, why: String },
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// Stages `name` from a plan `info` string (inline JSON or a URL to it), this platform's entry.
pub async fn stage_from_info(
    layout: &Layout,
    name: &UpgradeName,
    info: &str,
    opts: &StageOptions,
) -> Result<StageOutcome, StageFromInfoError> {
    match resolve_info(info, InfoFetchLimits::default()).await {
        PlanBinariesView::Listed { binaries, .. } => {
            Ok(stage_plan(layout, name, &binaries, &this_platform(), opts).await?)
        }
        PlanBinariesView::None => Err(StageFromInfoError::NoBinaries),
        PlanBinariesView::Unavailable { url, why } => {
            Err(StageFromInfoError::InfoUnavailable { url, why })
        }
    }
}
