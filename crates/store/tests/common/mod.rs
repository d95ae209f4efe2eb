//! Test helpers: a tiny HTTP/1.1 file server on 127.0.0.1 that can drop connections mid-file and
//! honours (or ignores) `Range`, plus builders for tar.gz and zip archives with hostile entries.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256, Sha512};
use switchyard_store::StageOptions;

/// How one path is served.
#[derive(Clone, Default)]
pub(crate) struct Route {
    pub body: Vec<u8>,
    /// For the first `drop_times` requests, close the connection after this many body bytes
    /// (the full Content-Length is still announced).
    pub drop_after: Option<usize>,
    pub drop_times: usize,
    /// With `drop_after`: go silent this long before closing (a stalled connection).
    pub stall_ms: u64,
    /// Answer `Range` requests with 206 (else a full 200, like servers without range support).
    pub ranges: bool,
    /// Send no Content-Length (close-delimited body), so the size is unknown up front.
    pub no_length: bool,
    /// Answer the first `fail_times` requests with this status.
    pub fail_status: Option<u16>,
    pub fail_times: usize,
    /// Answer with a redirect to this location.
    pub redirect: Option<String>,
}

impl Route {
    pub(crate) fn file(body: Vec<u8>) -> Route {
        Route {
            body,
            ranges: true,
            ..Route::default()
        }
    }
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub target: String,
    pub range: Option<String>,
}

pub(crate) struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    served: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    pub(crate) fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let served: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, s, c) = (routes.clone(), seen.clone(), served.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, s, c) = (r.clone(), s.clone(), c.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &r, &s, &c);
                });
            }
        });
        Server {
            port,
            routes,
            seen,
            served,
        }
    }

    pub(crate) fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn handle(
    conn: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    seen: &Mutex<Vec<Seen>>,
    served: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    seen.lock().unwrap().push(Seen {
        target: target.clone(),
        range: range.clone(),
    });
    let path = target.split('?').next().unwrap_or("").to_string();
    let n = {
        let mut s = served.lock().unwrap();
        let n = s.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let mut out = conn;
    let Some(route) = routes.lock().unwrap().get(&path).cloned() else {
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    if let Some(loc) = &route.redirect {
        let head = format!("HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return out.write_all(head.as_bytes());
    }
    if let Some(status) = route.fail_status {
        if n <= route.fail_times {
            let head =
                format!("HTTP/1.1 {status} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return out.write_all(head.as_bytes());
        }
    }
    let total = route.body.len();
    let start = match (&range, route.ranges) {
        (Some(r), true) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&s| s < total),
        _ => None,
    };
    let body = &route.body[start.unwrap_or(0)..];
    let mut head = match start {
        Some(s) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}\r\n",
            total - 1
        ),
        None => "HTTP/1.1 200 OK\r\n".to_string(),
    };
    if !route.no_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    let cut = match route.drop_after {
        Some(k) if n <= route.drop_times => k.min(body.len()),
        _ => body.len(),
    };
    out.write_all(&body[..cut])?;
    out.flush()?;
    if cut < body.len() && route.stall_ms > 0 {
        std::thread::sleep(Duration::from_millis(route.stall_ms));
    }
    // Dropping `out` closes the connection: mid-body when `cut` < len.
    Ok(())
}

/// A fresh node home (layout for `simd`), the upgrade name `v2`, and a file server.
pub(crate) fn setup() -> (
    tempfile::TempDir,
    switchyard_store::Layout,
    switchyard_core::UpgradeName,
    Server,
) {
    let dir = tempfile::tempdir().unwrap();
    let layout = switchyard_store::Layout::new(dir.path(), "simd");
    (
        dir,
        layout,
        switchyard_core::UpgradeName::parse("v2", false).unwrap(),
        Server::start(),
    )
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub(crate) fn sha512_hex(b: &[u8]) -> String {
    hex::encode(Sha512::digest(b))
}

/// A "node binary": a shell script that answers `version`.
pub(crate) fn script(version: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"{version}\"\n").into_bytes()
}

/// Options for tests: fast retries, no progress bar, loopback http allowed by the default rule.
pub(crate) fn opts() -> StageOptions {
    let mut o = StageOptions::default();
    o.fetch.retry_backoff = Duration::from_millis(10);
    o.fetch.retries = 3;
    o.fetch.progress = false;
    o.fetch.read_timeout = Duration::from_secs(10);
    o.preflight_timeout = Duration::from_secs(20);
    o
}

/// What a tar entry should be.
pub(crate) enum T<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    CharDevice(&'a str),
}

/// Builds a .tar.gz byte for byte, names and link targets written raw (no validation), so
/// hostile entries (`../x`, `/etc/x`) can be made.
pub(crate) fn tar_gz(entries: &[T<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, ty, mode, link): (&str, &[u8], tar::EntryType, u32, Option<&str>) = match e
        {
            T::File(n, d, m) => (n, d, tar::EntryType::Regular, *m, None),
            T::Dir(n) => (n, b"", tar::EntryType::Directory, 0o755, None),
            T::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, 0o777, Some(t)),
            T::HardLink(n, t) => (n, b"", tar::EntryType::Link, 0o644, Some(t)),
            T::CharDevice(n) => (n, b"", tar::EntryType::Char, 0o644, None),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.set_link_name_literal(t).unwrap();
        }
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// What a zip entry should be.
pub(crate) enum Z<'a> {
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

pub(crate) fn zip(entries: &[Z<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        match e {
            Z::File(n, d, mode) => {
                let o = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(*mode)
                    .large_file(d.len() > u32::MAX as usize / 2);
                w.start_file(*n, o).unwrap();
                w.write_all(d).unwrap();
            }
            Z::Symlink(n, t) => {
                w.add_symlink(*n, *t, zip::write::SimpleFileOptions::default())
                    .unwrap();
            }
        }
    }
    w.finish().unwrap().into_inner()
}

/// Nothing left behind in the staging area.
pub(crate) fn staging_is_clean(home: &Path) -> bool {
    let dir = home.join("cosmovisor/switchyard/staging");
    match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .all(|e| e.file_name().to_string_lossy().ends_with(".upgrade-lock")),
        Err(_) => true,
    }
}
