//! Streaming download of one binary or archive, verified while it streams.
//!
//! - Only `https://` URLs, except plain `http://` to a loopback address (`127.0.0.0/8`, `[::1]`;
//!   a local mirror is legitimate) or when [`FetchOptions::allow_http`] is set. The rule is
//!   applied to every redirect as well. Host names are not resolved to decide this: write
//!   `http://127.0.0.1:…`, not `http://localhost:…`.
//! - The `checksum=` and `archive=` query parameters are removed from the request, as go-getter
//!   (cosmovisor) does, so presigned URLs keep working.
//! - Connect and read (idle) timeouts; a dropped connection, a timeout or a 5xx is retried with
//!   exponential backoff, resuming with an HTTP `Range` request from the bytes already on disk.
//!   A server that ignores `Range` (answers 200) is handled by starting over.
//! - A size cap applied to the announced length (refused before reading) and to the bytes read.
//! - The digest is computed as bytes arrive; on mismatch the file is deleted and the error names
//!   both digests. No content-decoding is negotiated, so the bytes hashed are the bytes served.
//!
//! [`fetch_document`] applies the same transport rule (scheme, redirects) to the small documents
//! switchyard reads into memory — a plan's `info` URL — with a size cap on the bytes read and a
//! deadline for the whole exchange. Every download goes through [`check_url`] and [`client`]: one
//! place for the rule.

mod progress;

use std::io::SeekFrom;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard_core::error_chain;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use switchyard_core::{Checksum, ChecksumAlgo};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use url::Url;

use crate::checksum::{verify, ChecksumMismatch, Hasher};
pub(crate) use progress::Progress;

/// The longest wait between two download attempts.
pub(crate) const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(30);

/// How to download.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Allow plain `http://` to non-loopback hosts (`SWITCHYARD_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Largest download accepted, in bytes (`SWITCHYARD_MAX_DOWNLOAD_BYTES`).
    pub max_bytes: u64,
    /// Longest wait for a TCP (and TLS) connection to the server, per attempt.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Further attempts after the first one fails for a transient reason.
    pub retries: u32,
    /// First wait before a retry; doubled after each failure up to [`MAX_RETRY_BACKOFF`].
    pub retry_backoff: Duration,
    /// Report progress (a bar on a terminal, log lines otherwise).
    pub progress: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            allow_http: false,
            max_bytes: 4 << 30,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retries: 5,
            retry_backoff: Duration::from_secs(1),
            progress: true,
        }
    }
}

/// A finished, verified download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes written to the destination file.
    pub size: u64,
    /// The digest of what was downloaded, in the expected checksum's algorithm (sha256 if none).
    pub digest: Checksum,
    /// How many requests it took (1 when nothing went wrong).
    pub attempts: u32,
}

/// Why a download or document fetch failed. Every `url` is the URL as the caller gave it, any
/// `checksum=` and `archive=` parameters still in it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL does not parse, or its scheme is neither `https` nor `http`.
    #[error("{url:?} is not a usable download URL: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// The parser's error, or which scheme was refused.
        reason: String,
    },
    /// The URL is plain `http://` to a host that is not a loopback address, and plain http is
    /// not allowed.
    #[error("refusing plain http for {url}: only loopback hosts (127.0.0.0/8, ::1) may be fetched without TLS (set SWITCHYARD_ALLOW_HTTP=true to allow it)")]
    InsecureScheme {
        /// The URL as given.
        url: String,
    },
    /// The server answered a status that is not retried (e.g. 403, 404), or, for a document, any
    /// non-success status.
    #[error("{url}: server answered {status}")]
    Status {
        /// The URL as given.
        url: String,
        /// The HTTP status of the answer.
        status: StatusCode,
    },
    /// The server announced, or sent, more bytes than the size cap allows.
    #[error("{url}: download is larger than the {limit}-byte cap{}", announced.map(|a| format!(" (server announced {a} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The URL as given.
        url: String,
        /// The cap, in bytes.
        limit: u64,
        /// The total length the server announced (`Content-Length`, or a resume's
        /// `Content-Range` total); `None` when it announced none.
        announced: Option<u64>,
    },
    /// Every attempt failed for a transient reason (connection error, timeout, 5xx, 408, 429,
    /// a body cut short); a document gets one attempt within its deadline.
    #[error("{url}: gave up after {attempts} attempt(s): {detail}")]
    Failed {
        /// The URL as given.
        url: String,
        /// Requests made, the first one included.
        attempts: u32,
        /// What went wrong on the last attempt.
        detail: String,
    },
    /// A redirect broke the scheme rule or went past 10 hops, or the HTTP client or request
    /// could not be built; not retried.
    #[error("{url}: {detail}")]
    Refused {
        /// The URL as given.
        url: String,
        /// The reason, with its error chain.
        detail: String,
    },
    /// The download's digest did not match the expected checksum; the file has been removed.
    #[error("{url}: {source}")]
    Checksum {
        /// The URL as given.
        url: String,
        /// The expected and the computed digests.
        #[source]
        source: ChecksumMismatch,
    },
    /// Creating, writing or syncing the destination file failed.
    #[error("{path}: {source}")]
    Io {
        /// The destination file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Checks the scheme rule (module docs) and parses `url`.
pub fn check_url(url: &str, allow_http: bool) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::BadUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    scheme_allowed(&parsed, allow_http).map_err(|_| match parsed.scheme() {
        "http" => FetchError::InsecureScheme {
            url: url.to_string(),
        },
        other => FetchError::BadUrl {
            url: url.to_string(),
            reason: format!("scheme {other:?} is not supported (use https)"),
        },
    })?;
    Ok(parsed)
}

fn scheme_allowed(url: &Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "redirected to plain http {url}; only loopback hosts may be fetched without TLS"
        )),
        other => Err(format!("scheme {other:?} is not supported")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

/// The URL actually requested: `checksum=` and `archive=` parameters removed, the rest verbatim.
pub(crate) fn request_url(mut url: Url) -> Url {
    if let Some(q) = url.query() {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| {
                let key = p.split('=').next().unwrap_or("");
                !key.is_empty() && key != "checksum" && key != "archive"
            })
            .collect();
        let kept = kept.join("&");
        url.set_query((!kept.is_empty()).then_some(kept.as_str()));
    }
    url
}

/// Downloads `url` into `dest` (created or truncated), hashing with `expected`'s algorithm (sha256
/// when `None`) and checking it at the end. On any error `dest` is removed.
pub async fn download(
    url: &str,
    dest: &Path,
    expected: Option<&Checksum>,
    opts: &FetchOptions,
) -> Result<Downloaded, FetchError> {
    let result = download_inner(url, dest, expected, opts).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

async fn download_inner(
    url: &str,
    dest: &Path,
    expected: Option<&Checksum>,
    opts: &FetchOptions,
) -> Result<Downloaded, FetchError> {
    let target = request_url(check_url(url, opts.allow_http)?);
    let client = client(opts.connect_timeout, opts.read_timeout, opts.allow_http).map_err(|e| {
        FetchError::Refused {
            url: url.to_string(),
            detail: format!("cannot build an HTTP client: {}", error_chain(&e)),
        }
    })?;
    let io = |source| FetchError::Io {
        path: dest.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::create(dest).await.map_err(io)?;
    let mut st = State {
        url: url.to_string(),
        file: BufWriter::with_capacity(1 << 20, file),
        path: dest.to_path_buf(),
        hasher: Hasher::new(expected.map(|c| c.algo).unwrap_or(ChecksumAlgo::Sha256)),
        got: 0,
        total: None,
        progress: Progress::new(opts.progress, &display_name(&target)),
    };
    let mut backoff = switchyard_core::Backoff::new(opts.retry_backoff, MAX_RETRY_BACKOFF);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match attempt(&client, &target, &mut st, opts).await {
            Ok(()) => break,
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Transient(detail)) => {
                if attempts > opts.retries {
                    return Err(FetchError::Failed {
                        url: url.to_string(),
                        attempts,
                        detail,
                    });
                }
                let wait = backoff.next_delay();
                st.progress.note(&format!(
                    "{detail}; retrying in {wait:?} (resuming at byte {})",
                    st.got
                ));
                tokio::time::sleep(wait).await;
            }
        }
    }
    st.progress.finish();
    st.file.flush().await.map_err(io)?;
    st.file.get_ref().sync_all().await.map_err(io)?;
    let digest = st.hasher.finish();
    if let Some(exp) = expected {
        verify(exp, &digest).map_err(|source| FetchError::Checksum {
            url: url.to_string(),
            source,
        })?;
    }
    Ok(Downloaded {
        size: st.got,
        digest,
        attempts,
    })
}

/// Bounds on [`fetch_document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentOptions {
    /// Allow plain `http://` to non-loopback hosts (`SWITCHYARD_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Largest document accepted; the body is abandoned as soon as it passes this.
    pub max_bytes: u64,
    /// Deadline for connecting, the redirects and the whole body.
    pub timeout: Duration,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        DocumentOptions {
            allow_http: false,
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(15),
        }
    }
}

/// GETs a small document into memory under the download transport rule (module docs).
pub async fn fetch_document(url: &str, opts: &DocumentOptions) -> Result<Vec<u8>, FetchError> {
    let target = check_url(url, opts.allow_http)?;
    let refused = |detail: String| FetchError::Refused {
        url: url.to_string(),
        detail,
    };
    let client = client(opts.timeout, opts.timeout, opts.allow_http)
        .map_err(|e| refused(format!("cannot build an HTTP client: {}", error_chain(&e))))?;
    let work = async {
        let resp = client.get(target).send().await.map_err(|e| {
            if e.is_redirect() || e.is_builder() {
                refused(error_chain(&e))
            } else {
                FetchError::Failed {
                    url: url.to_string(),
                    attempts: 1,
                    detail: error_chain(&e),
                }
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let too_large = |announced| FetchError::TooLarge {
            url: url.to_string(),
            limit: opts.max_bytes,
            announced,
        };
        let announced = resp.content_length();
        if announced.is_some_and(|n| n > opts.max_bytes) {
            return Err(too_large(announced));
        }
        let mut out = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| FetchError::Failed {
                url: url.to_string(),
                attempts: 1,
                detail: format!(
                    "connection lost after {} bytes: {}",
                    out.len(),
                    error_chain(&e)
                ),
            })?;
            if out.len() as u64 + chunk.len() as u64 > opts.max_bytes {
                return Err(too_large(announced));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    };
    tokio::time::timeout(opts.timeout, work)
        .await
        .map_err(|_| FetchError::Failed {
            url: url.to_string(),
            attempts: 1,
            detail: format!(
                "no complete answer within {:.0}s",
                opts.timeout.as_secs_f64()
            ),
        })?
}

/// The one HTTP client builder for downloads: the redirect policy re-applies the scheme rule to
/// every hop.
fn client(
    connect_timeout: Duration,
    read_timeout: Duration,
    allow_http: bool,
) -> reqwest::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("more than 10 redirects");
        }
        match scheme_allowed(attempt.url(), allow_http) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    });
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .redirect(policy)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Last path segment of a URL, for progress lines.
fn display_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .unwrap_or(url.as_str())
        .to_string()
}

struct State {
    url: String,
    path: PathBuf,
    file: BufWriter<tokio::fs::File>,
    hasher: Hasher,
    got: u64,
    total: Option<u64>,
    progress: Progress,
}

impl State {
    fn io(&self, source: std::io::Error) -> Attempt {
        Attempt::Fatal(FetchError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Throws away what was downloaded so far (the server would not resume).
    async fn restart(&mut self) -> Result<(), Attempt> {
        self.file.flush().await.map_err(|e| self.io(e))?;
        self.file
            .get_mut()
            .set_len(0)
            .await
            .map_err(|e| self.io(e))?;
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|e| self.io(e))?;
        self.hasher = Hasher::new(self.hasher.algo());
        self.got = 0;
        Ok(())
    }

    fn too_large(&self, limit: u64, announced: Option<u64>) -> Attempt {
        Attempt::Fatal(FetchError::TooLarge {
            url: self.url.clone(),
            limit,
            announced,
        })
    }
}

enum Attempt {
    /// Worth retrying (network trouble, timeout, 5xx).
    Transient(String),
    Fatal(FetchError),
}

async fn attempt(
    client: &reqwest::Client,
    target: &Url,
    st: &mut State,
    opts: &FetchOptions,
) -> Result<(), Attempt> {
    let mut req = client.get(target.clone());
    if st.got > 0 {
        req = req.header(RANGE, format!("bytes={}-", st.got));
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_redirect() || e.is_builder() => {
            return Err(Attempt::Fatal(FetchError::Refused {
                url: st.url.clone(),
                detail: error_chain(&e),
            }))
        }
        Err(e) => return Err(Attempt::Transient(error_chain(&e))),
    };
    let status = resp.status();
    match status {
        StatusCode::PARTIAL_CONTENT if st.got > 0 => {
            let range = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match range {
                Some((start, total)) if start == st.got => {
                    if total.is_some() {
                        st.total = total;
                    }
                }
                _ => {
                    st.restart().await?;
                    return Err(Attempt::Transient(format!(
                        "server answered a resume with an unexpected Content-Range {:?}",
                        resp.headers().get(CONTENT_RANGE)
                    )));
                }
            }
        }
        StatusCode::OK => {
            if st.got > 0 {
                st.progress
                    .note("server does not support resuming; starting over");
                st.restart().await?;
            }
            st.total = resp.content_length();
        }
        StatusCode::RANGE_NOT_SATISFIABLE if st.got > 0 => {
            st.restart().await?;
            return Err(Attempt::Transient("server refused to resume (416)".into()));
        }
        s if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::REQUEST_TIMEOUT =>
        {
            return Err(Attempt::Transient(format!("server answered {s}")));
        }
        s => {
            return Err(Attempt::Fatal(FetchError::Status {
                url: st.url.clone(),
                status: s,
            }))
        }
    }
    if let Some(t) = st.total {
        if t > opts.max_bytes {
            return Err(st.too_large(opts.max_bytes, Some(t)));
        }
    }
    st.progress.set_total(st.total);
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return Err(Attempt::Transient(format!(
                    "connection lost after {} bytes: {}",
                    st.got,
                    error_chain(&e)
                )))
            }
        };
        if st.got + chunk.len() as u64 > opts.max_bytes {
            return Err(st.too_large(opts.max_bytes, st.total));
        }
        st.file.write_all(&chunk).await.map_err(|e| st.io(e))?;
        st.hasher.update(&chunk);
        st.got += chunk.len() as u64;
        st.progress.set_position(st.got);
    }
    match st.total {
        Some(t) if st.got < t => Err(Attempt::Transient(format!(
            "connection closed after {} of {t} bytes",
            st.got
        ))),
        _ => Ok(()),
    }
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert!(check_url("https://github.com/x/simd", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/simd", false).is_ok());
        assert!(check_url("http://127.9.9.9/simd", false).is_ok());
        assert!(check_url("http://[::1]:80/simd", false).is_ok());
        for bad in [
            "http://example.org/simd",
            "http://10.0.0.1/simd",
            "http://localhost/simd",
        ] {
            let err = check_url(bad, false).unwrap_err();
            assert!(
                matches!(err, FetchError::InsecureScheme { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
            assert!(check_url(bad, true).is_ok());
        }
        assert!(matches!(
            check_url("ftp://h/x", true),
            Err(FetchError::BadUrl { .. })
        ));
        assert!(matches!(
            check_url("not a url", true),
            Err(FetchError::BadUrl { .. })
        ));
    }

    #[test]
    fn checksum_and_archive_parameters_are_not_sent() {
        let u = |s: &str| request_url(Url::parse(s).unwrap()).to_string();
        assert_eq!(u("https://h/x?checksum=sha256:ab"), "https://h/x");
        assert_eq!(
            u("https://h/x?X-Amz-Signature=a%2Fb&checksum=md5:00&archive=zip&b=1"),
            "https://h/x?X-Amz-Signature=a%2Fb&b=1"
        );
        assert_eq!(u("https://h/x"), "https://h/x");
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }
}
