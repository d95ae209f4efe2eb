//! A plan's `info`, resolved into per-platform binaries.
//!
//! Parsing is `switchyard_core::plan_info`; this module adds the one piece of I/O: when `info` is
//! a URL, fetch the JSON it points at and read its `binaries`. The fetch is
//! [`switchyard_store::fetch_document`], so it follows the same transport rule as binary
//! downloads (https only, except loopback or `SWITCHYARD_ALLOW_HTTP`, checked on every redirect),
//! with a size cap on the bytes read and a deadline for the whole exchange.
//! Failures are values ([`PlanBinariesView::Unavailable`]), never errors: a junk plan must not
//! stop the watcher, and the `plan` report says in words what was wrong.

use std::time::Duration;

use switchyard_core::{binaries_from_json, parse_info, PlanBinaries, PlanInfo};
use switchyard_store::{fetch_document, DocumentOptions};

/// Bounds on fetching an info URL.
#[derive(Debug, Clone, Copy)]
pub struct InfoFetchLimits {
    /// Deadline for the whole fetch: connecting, redirects and the body.
    pub timeout: Duration,
    /// Largest document accepted, in bytes; a larger one makes the plan's binaries unavailable.
    pub max_bytes: u64,
    /// Allow plain `http://` to non-loopback hosts (`SWITCHYARD_ALLOW_HTTP`).
    pub allow_http: bool,
}

impl Default for InfoFetchLimits {
    fn default() -> Self {
        InfoFetchLimits {
            timeout: Duration::from_secs(15),
            max_bytes: 1024 * 1024,
            allow_http: false,
        }
    }
}

/// What a plan's `info` told us about binaries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanBinariesView {
    /// A `binaries` map (inline, or fetched from `from_url`).
    Listed {
        /// The entries by platform (`linux/amd64`, `any`, ...), and those that were refused.
        binaries: PlanBinaries,
        /// The URL the document was fetched from; `None` when `info` held the map itself.
        from_url: Option<String>,
    },
    /// Plain text, empty, or JSON without `binaries`.
    None,
    /// `info` is a URL we could not fetch or read.
    Unavailable {
        /// The URL `info` named.
        url: String,
        /// Why nothing was read: the fetch failed, the body was not JSON, or it had no
        /// `binaries` object.
        why: String,
    },
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
    let opts = DocumentOptions {
        allow_http: limits.allow_http,
        max_bytes: limits.max_bytes,
        timeout: limits.timeout,
    };
    let bytes = fetch_document(url, &opts)
        .await
        .map_err(|e| format!("cannot fetch it: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("it is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inline_plain_and_unreachable() {
        let l = InfoFetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 1024,
            allow_http: false,
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

    /// Serves `body` to every request on 127.0.0.1; returns the port.
    fn serve(body: &'static str) -> u16 {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        port
    }

    /// The info URL follows the download rule: plain http is fetched from a loopback address,
    /// but not from a host name (`localhost` is not resolved to decide, as for binaries) unless
    /// `SWITCHYARD_ALLOW_HTTP` says so. Before the rule was shared, any http URL was fetched.
    #[tokio::test]
    async fn plain_http_info_urls_follow_the_download_rule() {
        let port = serve(r#"{"binaries":{"any":"https://x/y"}}"#);
        let mut l = InfoFetchLimits {
            timeout: Duration::from_secs(5),
            max_bytes: 1024,
            allow_http: false,
        };
        let v = resolve_info(&format!("http://127.0.0.1:{port}/info.json"), l).await;
        assert!(matches!(v, PlanBinariesView::Listed { .. }), "{v:?}");
        let by_name = format!("http://localhost:{port}/info.json");
        let v = resolve_info(&by_name, l).await;
        assert!(
            matches!(v, PlanBinariesView::Unavailable { ref why, .. } if why.contains("refusing plain http")),
            "{v:?}"
        );
        l.allow_http = true;
        let v = resolve_info(&by_name, l).await;
        assert!(matches!(v, PlanBinariesView::Listed { .. }), "{v:?}");
    }

    #[tokio::test]
    async fn an_oversized_info_document_is_refused() {
        let port =
            serve(r#"{"binaries":{"any":"https://x/y"},"pad":"................................"}"#);
        let l = InfoFetchLimits {
            timeout: Duration::from_secs(5),
            max_bytes: 16,
            allow_http: false,
        };
        let v = resolve_info(&format!("http://127.0.0.1:{port}/info.json"), l).await;
        assert!(
            matches!(v, PlanBinariesView::Unavailable { ref why, .. } if why.contains("larger than")),
            "{v:?}"
        );
    }
}
