//! stage_from_source() against a real HTTP server on 127.0.0.1: checksums, resume, size cap, URL rules.
//!
//! Proves invariant 3 of docs/invariants.md.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use switchyard_core::BinarySource;
use switchyard_core::UpgradeName;
use switchyard_store::FetchError;
use switchyard_store::PreflightStatus;
use switchyard_store::{stage_from_source, StageError, StageOutcome};

fn src(url: String) -> BinarySource {
    BinarySource::from_url(&url).unwrap()
}

#[tokio::test]
async fn good_sha256_binary_is_installed_preflighted_and_recorded() {
    let (dir, layout, name, server) = setup();
    let body = script("v2.0.0");
    server.route("/simd", Route::file(body.clone()));
    let source = src(server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body))));

    let out = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    let StageOutcome::Staged(rec) = out else {
        panic!("{out:?}")
    };
    let bin = layout.upgrade_binary(&name);
    assert_eq!(std::fs::read(&bin).unwrap(), body);
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(rec.binary_path, bin);
    assert_eq!(rec.digest, format!("sha256:{}", sha256_hex(&body)));
    assert_eq!(rec.binary_sha256, sha256_hex(&body));
    assert_eq!(rec.size, body.len() as u64);
    assert_eq!(rec.preflight.status, PreflightStatus::Ok);
    assert_eq!(rec.preflight.output, "v2.0.0");
    assert!(rec.preflight.ran_at.is_some());
    assert_eq!(
        switchyard_store::load_staging_record(&layout, &name).unwrap(),
        Some(rec.clone())
    );
    assert!(staging_is_clean(dir.path()));
    // The checksum parameter is not sent to the server.
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/simd");

    // Second call: nothing downloaded, same record.
    let again = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    assert_eq!(again, StageOutcome::AlreadyStaged(rec));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn sha512_and_md5_checksums_are_checked_too() {
    let (_dir, layout, _, server) = setup();
    let body = script("v3");
    server.route("/simd", Route::file(body.clone()));
    let md5 = "a".repeat(32);
    for (i, sum) in [
        format!("sha512:{}", sha512_hex(&body)),
        format!("md5:{md5}"),
    ]
    .iter()
    .enumerate()
    {
        let name = UpgradeName::parse(&format!("u{i}"), false).unwrap();
        let r = stage_from_source(
            &layout,
            &name,
            &src(server.url(&format!("/simd?checksum={sum}"))),
            &opts(),
        )
        .await;
        if i == 0 {
            let rec = r.unwrap().record().cloned().unwrap();
            assert!(rec.digest.starts_with("sha512:"), "{}", rec.digest);
        } else {
            let err = r.unwrap_err().to_string();
            assert!(err.contains(&md5) && err.contains("expected md5:"), "{err}");
        }
    }
}

#[tokio::test]
async fn bad_checksum_deletes_the_download_and_names_both_digests() {
    let (dir, layout, name, server) = setup();
    let body = script("evil");
    server.route("/simd", Route::file(body.clone()));
    let wrong = sha256_hex(b"something else");
    let url = server.url(&format!("/simd?checksum=sha256:{wrong}"));
    let err = stage_from_source(&layout, &name, &src(url.clone()), &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StageError::Fetch(FetchError::Checksum { .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&wrong), "{msg}");
    assert!(msg.contains(&sha256_hex(&body)), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(!layout.upgrade_dir(&name).exists());
    assert!(staging_is_clean(dir.path()));
    assert_eq!(
        switchyard_store::load_staging_record(&layout, &name).unwrap(),
        None
    );
}

#[tokio::test]
async fn missing_checksum_is_refused_before_any_request_when_required() {
    let (_dir, layout, name, server) = setup();
    server.route("/simd", Route::file(script("v2")));
    let err = stage_from_source(&layout, &name, &src(server.url("/simd")), &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, StageError::MissingChecksum { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM"));
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn missing_checksum_when_allowed_installs_but_never_runs_it() {
    let (dir, layout, name, server) = setup();
    let marker = dir.path().join("ran");
    let body = format!("#!/bin/sh\ntouch {}\necho v2\n", marker.display()).into_bytes();
    server.route("/simd", Route::file(body.clone()));
    let mut o = opts();
    o.must_have_checksum = false;
    let out = stage_from_source(&layout, &name, &src(server.url("/simd")), &o)
        .await
        .unwrap();
    let rec = out.record().unwrap();
    assert_eq!(rec.preflight.status, PreflightStatus::Skipped);
    assert_eq!(rec.expected_checksum, None);
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    assert!(!marker.exists(), "an unverified binary was executed");
}

#[tokio::test]
async fn dropped_connection_is_resumed_with_a_range_request() {
    let (_dir, layout, name, server) = setup();
    let mut body = script("v2.0.0");
    body.extend(std::iter::repeat_n(b'#', 300_000)); // a comment: still a runnable script
    body.push(b'\n');
    server.route(
        "/simd",
        Route {
            drop_after: Some(120_000),
            drop_times: 2,
            ..Route::file(body.clone())
        },
    );
    let source = src(server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body))));
    let rec = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap()
        .record()
        .cloned()
        .unwrap();
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    assert_eq!(
        rec.preflight.status,
        PreflightStatus::Ok,
        "{:?}",
        rec.preflight
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=120000-"));
    assert_eq!(seen[2].range.as_deref(), Some("bytes=240000-"));
}

#[tokio::test]
async fn a_stalled_connection_times_out_and_resumes() {
    let (_dir, layout, name, server) = setup();
    let mut body = script("v2.0.0");
    body.extend(std::iter::repeat_n(b'#', 100_000));
    body.push(b'\n');
    server.route(
        "/simd",
        Route {
            drop_after: Some(30_000),
            drop_times: 1,
            stall_ms: 3_000,
            ..Route::file(body.clone())
        },
    );
    let mut o = opts();
    o.fetch.read_timeout = std::time::Duration::from_millis(300);
    let source = src(server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body))));
    let started = std::time::Instant::now();
    stage_from_source(&layout, &name, &source, &o)
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].range.as_deref(), Some("bytes=30000-"));
}

#[tokio::test]
async fn a_server_without_range_support_is_restarted_from_zero() {
    let (_dir, layout, name, server) = setup();
    let mut body = script("v2.0.0");
    body.extend(std::iter::repeat_n(b'#', 200_000));
    body.push(b'\n');
    server.route(
        "/simd",
        Route {
            drop_after: Some(50_000),
            drop_times: 1,
            ranges: false,
            ..Route::file(body.clone())
        },
    );
    let source = src(server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body))));
    stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn gives_up_after_the_retries_naming_the_url() {
    let (dir, layout, name, server) = setup();
    let body = vec![b'x'; 10_000];
    server.route(
        "/simd",
        Route {
            drop_after: Some(10),
            drop_times: 100,
            ranges: false,
            ..Route::file(body.clone())
        },
    );
    let url = server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body)));
    let err = stage_from_source(&layout, &name, &src(url.clone()), &opts())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("4 attempt") && msg.contains(&url), "{msg}");
    assert_eq!(server.seen().len(), 4);
    assert!(staging_is_clean(dir.path()));
    assert!(!layout.upgrade_dir(&name).exists());
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let (_dir, layout, name, server) = setup();
    let body = script("v2");
    server.route(
        "/flaky",
        Route {
            fail_status: Some(503),
            fail_times: 2,
            ..Route::file(body.clone())
        },
    );
    let sum = sha256_hex(&body);
    stage_from_source(
        &layout,
        &name,
        &src(server.url(&format!("/flaky?checksum={sum}"))),
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(server.seen().len(), 3);

    let v3 = UpgradeName::parse("v3", false).unwrap();
    let err = stage_from_source(
        &layout,
        &v3,
        &src(server.url(&format!("/missing?checksum={sum}"))),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("404") && err.to_string().contains("/missing"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn oversize_downloads_are_refused_announced_or_not() {
    let (dir, layout, name, server) = setup();
    let body = vec![b'x'; 100_000];
    let sum = sha256_hex(&body);
    server.route("/announced", Route::file(body.clone()));
    server.route(
        "/unannounced",
        Route {
            no_length: true,
            ..Route::file(body.clone())
        },
    );
    let mut o = opts();
    o.fetch.max_bytes = 50_000;
    let err = stage_from_source(
        &layout,
        &name,
        &src(server.url(&format!("/announced?checksum={sum}"))),
        &o,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            StageError::Fetch(FetchError::TooLarge {
                announced: Some(100_000),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("50000"), "{err}");
    let err = stage_from_source(
        &layout,
        &name,
        &src(server.url(&format!("/unannounced?checksum={sum}"))),
        &o,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            StageError::Fetch(FetchError::TooLarge {
                announced: None,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(staging_is_clean(dir.path()));
    assert!(!layout.upgrade_dir(&name).exists());
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback_and_on_redirects() {
    let (_dir, layout, name, server) = setup();
    let sum = sha256_hex(b"x");
    let err = stage_from_source(
        &layout,
        &name,
        &src(format!("http://example.org/simd?checksum={sum}")),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StageError::Fetch(FetchError::InsecureScheme { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("SWITCHYARD_ALLOW_HTTP"), "{err}");

    server.route(
        "/redirect",
        Route {
            redirect: Some("ftp://127.0.0.1:9/simd".into()),
            ..Route::default()
        },
    );
    let err = stage_from_source(
        &layout,
        &name,
        &src(server.url(&format!("/redirect?checksum={sum}"))),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StageError::Fetch(FetchError::Refused { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("ftp"), "{err}");
    assert_eq!(server.seen().len(), 1, "a refused redirect is not retried");
}

#[tokio::test]
async fn a_redirect_to_loopback_is_followed() {
    let (_dir, layout, name, server) = setup();
    let body = script("v2");
    server.route("/real", Route::file(body.clone()));
    server.route(
        "/redirect",
        Route {
            redirect: Some(server.url("/real")),
            ..Route::default()
        },
    );
    let source = src(server.url(&format!("/redirect?checksum={}", sha256_hex(&body))));
    stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
}
