//! A plan's `info`, resolved into per-platform binaries.
//!
//! Parsing is `switchyard_core::plan_info`; this module adds the one piece of I/O: when `info` is
//! a URL, fetch the JSON it points at (with a timeout and a size cap) and read its `binaries`.
//! Failures are values ([`PlanBinariesView::Unavailable`]), never errors: a junk plan must not
//! stop the watcher, and the `plan` report says in words what was wrong.

use std::time::Duration;

use switchyard_core::{binaries_from_json, parse_info, PlanBinaries, PlanInfo};

use crate::rpc::{read_capped, CappedError};

/// Bounds on fetching an info URL.
#[derive(Debug, Clone, Copy)]
pub struct InfoFetchLimits {
    pub timeout: Duration,
    pub max_bytes: u64,
}

impl Default for InfoFetchLimits {
    fn default() -> Self {
        InfoFetchLimits {
            timeout: Duration::from_secs(15),
            max_bytes: 1024 * 1024,
        }
    }
}

/// What a plan's `info` told us about binaries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanBinariesView {
    /// A `binaries` map (inline, or fetched from `from_url`).
    Listed {
        binaries: PlanBinaries,
        from_url: Option<String>,
    },
    /// Plain text, empty, or JSON without `binaries`.
    None,
    /// `info` is a URL we could not fetch or read.
    Unavailable { url: String, why: String },
}

impl PlanBinariesView {
    /// The listed binaries, if any.
    pub fn binaries(&self) -> Option<&PlanBinaries> {
        match self {
            PlanBinariesView::Listed { binaries, .. } => Some(binaries),
            _ => None,
        }
    }
}

/// Resolves `info`, fetching it when it is a URL.
pub async fn resolve_info(info: &str, limits: InfoFetchLimits) -> PlanBinariesView {
    match parse_info(info) {
        PlanInfo::Binaries(b) => PlanBinariesView::Listed {
            binaries: b,
            from_url: None,
        },
        PlanInfo::NoBinaries => PlanBinariesView::None,
        PlanInfo::Url(url) => match fetch_json(&url, limits).await {
            Ok(v) => match binaries_from_json(&v) {
                Some(b) => PlanBinariesView::Listed {
                    binaries: b,
                    from_url: Some(url),
                },
                None => PlanBinariesView::Unavailable {
                    url,
                    why: "the document has no \"binaries\" object".into(),
                },
            },
            Err(why) => PlanBinariesView::Unavailable { url, why },
        },
    }
}

async fn fetch_json(url: &str, limits: InfoFetchLimits) -> Result<serde_json::Value, String> {
    let client = reqwest::Client::builder()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let work = async {
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch it: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching it gave HTTP {}", resp.status()));
        }
        let bytes = read_capped(resp, limits.max_bytes)
            .await
            .map_err(|e| match e {
                CappedError::TooLarge => format!("it is larger than {} bytes", limits.max_bytes),
                CappedError::Http(e) => format!("reading it failed: {e}"),
            })?;
        serde_json::from_slice(&bytes).map_err(|e| format!("it is not JSON: {e}"))
    };
    tokio::time::timeout(limits.timeout, work)
        .await
        .map_err(|_| {
            format!(
                "it did not arrive within {:.0}s",
                limits.timeout.as_secs_f64()
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inline_plain_and_unreachable() {
        let l = InfoFetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 1024,
        };
        assert!(matches!(
            resolve_info(r#"{"binaries":{"any":"https://x/y"}}"#, l).await,
            PlanBinariesView::Listed { from_url: None, .. }
        ));
        assert_eq!(
            resolve_info("see the forum", l).await,
            PlanBinariesView::None
        );
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let v = resolve_info(&format!("http://127.0.0.1:{port}/info.json"), l).await;
        assert!(
            matches!(v, PlanBinariesView::Unavailable { ref why, .. } if why.contains("cannot fetch")),
            "{v:?}"
        );
    }
}
