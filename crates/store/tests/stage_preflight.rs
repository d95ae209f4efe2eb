//! stage_from_source() end to end around the preflight, the platform choice, an operator's binary, and
//! recovery after a crash at any step.

mod common;

use common::*;
use switchyard_core::UpgradeName;
use switchyard_core::{parse_info, BinarySource, PlanInfo};
use switchyard_store::Layout;
use switchyard_store::{
    stage_from_plan, stage_from_source, staging_work_dir, StageError, StageOutcome,
};
use switchyard_store::{PreflightRecord, PreflightStatus};

fn serve(server: &Server, path: &str, body: &[u8]) -> BinarySource {
    server.route(path, Route::file(body.to_vec()));
    BinarySource::from_url(&server.url(&format!("{path}?checksum=sha256:{}", sha256_hex(body))))
        .unwrap()
}

fn preflight_err(e: StageError) -> (Box<switchyard_store::StagingRecord>, String) {
    match e {
        StageError::Preflight { record, message } => (record, message),
        other => panic!("expected a preflight failure, got {other:?}"),
    }
}

/// A real dynamically linked program whose needed `libc.so.6` is renamed to a library that does
/// not exist, so the dynamic loader itself refuses to start it (as with a missing libwasmvm).
fn elf_with_missing_library() -> Vec<u8> {
    let mut bytes = std::fs::read("/bin/true").expect("/bin/true");
    let needle = b"libc.so.6\0";
    let mut hits = 0;
    for i in 0..bytes.len() - needle.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i..i + needle.len()].copy_from_slice(b"libQ.so.6\0");
            hits += 1;
        }
    }
    assert!(hits > 0, "/bin/true is not linked against libc.so.6");
    bytes
}

/// A minimal ELF header for a CPU this host is not.
fn elf_for_another_arch() -> Vec<u8> {
    let machine: u16 = if std::env::consts::ARCH == "aarch64" {
        62
    } else {
        183
    };
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    h
}

#[tokio::test]
async fn a_missing_interpreter_fails_the_preflight_but_the_binary_stays() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", b"#!/nonexistent/ld\n");
    let (record, message) = preflight_err(
        stage_from_source(&layout, &name, &source, &opts())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(message.contains("/nonexistent/ld"), "{message}");
    assert_eq!(record.preflight.status, PreflightStatus::Failed);
    assert!(layout.upgrade_binary(&name).is_file());
    assert_eq!(
        switchyard_store::load_staging_record(&layout, &name).unwrap(),
        Some(*record.clone())
    );

    // The next call re-runs the preflight without downloading again, and still says why.
    let (_, again) = preflight_err(
        stage_from_source(&layout, &name, &source, &opts())
            .await
            .unwrap_err(),
    );
    assert!(again.contains("/nonexistent/ld"), "{again}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_missing_shared_library_is_reported_in_the_loaders_words() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", &elf_with_missing_library());
    let (record, message) = preflight_err(
        stage_from_source(&layout, &name, &source, &opts())
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("error while loading shared libraries"),
        "{message}"
    );
    assert!(message.contains("libQ.so.6"), "{message}");
    assert_eq!(record.preflight.status, PreflightStatus::Failed);
    let shown = StageError::Preflight {
        message: message.clone(),
        record,
    }
    .to_string();
    assert!(
        shown.contains("does not start on this host") && shown.contains("libQ.so.6"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_binary_for_another_cpu_is_reported_as_such() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", &elf_for_another_arch());
    let (_, message) = preflight_err(
        stage_from_source(&layout, &name, &source, &opts())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("Exec format error"), "{message}");
    assert!(message.contains("this host is"), "{message}");
}

#[tokio::test]
async fn only_this_platforms_entry_is_fetched() {
    let (_dir, layout, name, server) = setup();
    let good = script("v2-amd64");
    let sum = sha256_hex(&good);
    server.route("/amd64", Route::file(good.clone()));
    server.route("/arm64", Route::file(script("v2-arm64")));
    let info = format!(
        r#"{{"binaries":{{"linux/amd64":"{}","linux/arm64":"{}","any":"{}"}}}}"#,
        server.url(&format!("/amd64?checksum=sha256:{sum}")),
        server.url(&format!("/arm64?checksum=sha256:{sum}")),
        server.url(&format!("/arm64?checksum=sha256:{sum}")),
    );
    let PlanInfo::Binaries(b) = parse_info(&info) else {
        panic!()
    };
    let rec = stage_from_plan(&layout, &name, &b, "linux/amd64", &opts())
        .await
        .unwrap();
    assert_eq!(
        rec.record().unwrap().platform.as_deref(),
        Some("linux/amd64")
    );
    assert_eq!(
        server
            .seen()
            .iter()
            .map(|s| s.target.as_str())
            .collect::<Vec<_>>(),
        ["/amd64"]
    );
}

#[tokio::test]
async fn a_plan_for_other_platforms_only_fetches_nothing() {
    let (_dir, layout, name, server) = setup();
    let body = script("v2");
    let info = format!(
        r#"{{"binaries":{{"linux/arm64":"{}","darwin/amd64":"{}"}}}}"#,
        server.url(&format!("/a?checksum=sha256:{}", sha256_hex(&body))),
        server.url(&format!("/b?checksum=sha256:{}", sha256_hex(&body))),
    );
    let PlanInfo::Binaries(b) = parse_info(&info) else {
        panic!()
    };
    let err = stage_from_plan(&layout, &name, &b, "linux/amd64", &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StageError::NoBinaryForPlatform { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("linux/amd64") && msg.contains("linux/arm64") && msg.contains("darwin/amd64"),
        "{msg}"
    );
    assert!(server.seen().is_empty());
    assert!(!layout.upgrade_dir(&name).exists());

    // "any" is the fallback.
    server.route("/any", Route::file(body.clone()));
    let info = format!(
        r#"{{"binaries":{{"linux/arm64":"x","any":"{}"}}}}"#,
        server.url(&format!("/any?checksum=sha256:{}", sha256_hex(&body)))
    );
    let PlanInfo::Binaries(b) = parse_info(&info) else {
        panic!()
    };
    let out = stage_from_plan(&layout, &name, &b, "linux/amd64", &opts())
        .await
        .unwrap();
    assert_eq!(out.record().unwrap().platform.as_deref(), Some("any"));
}

#[tokio::test]
async fn an_operators_binary_is_never_overwritten() {
    let (_dir, layout, name, server) = setup();
    let bin = layout.upgrade_binary(&name);
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, b"operator's build").unwrap();
    let source = serve(&server, "/simd", &script("v2"));
    let out = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    assert_eq!(
        out,
        StageOutcome::OperatorPlaced {
            binary: bin.clone()
        }
    );
    assert_eq!(std::fs::read(&bin).unwrap(), b"operator's build");
    assert!(server.seen().is_empty());
    assert_eq!(
        switchyard_store::load_staging_record(&layout, &name).unwrap(),
        None
    );
}

#[tokio::test]
async fn a_staged_binary_replaced_by_hand_becomes_the_operators() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", &script("v2"));
    stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    std::fs::write(
        layout.upgrade_binary(&name),
        b"#!/bin/sh\necho hand-built\n",
    )
    .unwrap();
    let out = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    assert!(
        matches!(out, StageOutcome::OperatorPlaced { .. }),
        "{out:?}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_different_source_for_a_staged_name_is_a_conflict_not_a_replacement() {
    let (_dir, layout, name, server) = setup();
    let first = serve(&server, "/first", &script("v2-first"));
    stage_from_source(&layout, &name, &first, &opts())
        .await
        .unwrap();
    let second = serve(&server, "/second", &script("v2-second"));
    let err = stage_from_source(&layout, &name, &second, &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, StageError::Conflict { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/first") && err.to_string().contains("/second"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(layout.upgrade_binary(&name)).unwrap(),
        script("v2-first")
    );
}

#[tokio::test]
async fn leftovers_of_a_crashed_attempt_do_not_block_the_next_one() {
    let (dir, layout, name, server) = setup();
    // A crash mid-download: a staging folder with a partial file and an unheld lock.
    let staging = staging_work_dir(&layout);
    std::fs::create_dir_all(staging.join("v2.999999.1/tree/bin")).unwrap();
    std::fs::write(staging.join("v2.999999.1/download"), b"partial").unwrap();
    std::fs::write(staging.join("v2.999999.1.lock"), b"").unwrap();
    // A crash mid-merge: upgrades/v2 with some entries but no binary, and a record written
    // before the move.
    let updir = layout.upgrade_dir(&name);
    std::fs::create_dir_all(updir.join("bin")).unwrap();
    std::fs::write(
        updir.join("upgrade-info.json"),
        br#"{"name":"v2","height":100}"#,
    )
    .unwrap();
    let body = script("v2");
    let source = serve(&server, "/simd", &body);
    let mut stale = switchyard_store::StagingRecord {
        name: "v2".into(),
        platform: None,
        url: "http://127.0.0.1:1/old".into(),
        expected_checksum: None,
        digest: "sha256:00".into(),
        size: 1,
        archive: None,
        binary_path: layout.upgrade_binary(&name),
        binary_sha256: "00".into(),
        binary_size: 1,
        staged_at: chrono::Utc::now(),
        preflight: PreflightRecord::pending(),
        binary_stamp: None,
        origin: None,
    };
    switchyard_store::save_staging_record(&layout, &name, &stale).unwrap();

    let out = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    let StageOutcome::Staged(rec) = out else {
        panic!("{out:?}")
    };
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    assert_eq!(
        std::fs::read(updir.join("upgrade-info.json")).unwrap(),
        br#"{"name":"v2","height":100}"#,
        "existing files are kept"
    );
    assert!(staging_is_clean(dir.path()));
    stale.url = rec.url.clone();
    assert_ne!(rec, stale);
}

#[tokio::test]
async fn a_crash_before_the_preflight_is_finished_on_the_next_call() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", &script("v2.0.1"));
    let rec = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap()
        .record()
        .cloned()
        .unwrap();
    // As if the process died between the install and the preflight.
    let mut pending = rec.clone();
    pending.preflight = PreflightRecord::pending();
    switchyard_store::save_staging_record(&layout, &name, &pending).unwrap();
    let out = stage_from_source(&layout, &name, &source, &opts())
        .await
        .unwrap();
    let StageOutcome::AlreadyStaged(again) = out else {
        panic!("{out:?}")
    };
    assert_eq!(again.preflight.status, PreflightStatus::Ok);
    assert_eq!(again.preflight.output, "v2.0.1");
    assert_eq!(
        switchyard_store::load_staging_record(&layout, &name).unwrap(),
        Some(again)
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn concurrent_stage_calls_for_one_name_download_once() {
    let (_dir, layout, name, server) = setup();
    let source = serve(&server, "/simd", &script("v2"));
    let o = opts();
    let (a, b) = tokio::join!(
        stage_from_source(&layout, &name, &source, &o),
        stage_from_source(&layout, &name, &source, &o)
    );
    let outs = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, StageOutcome::Staged(_)))
            .count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, StageOutcome::AlreadyStaged(_)))
            .count(),
        1
    );
    assert_eq!(server.seen().len(), 1);
}

/// Kills a real staging process (this test binary re-run as a child) with SIGKILL in the middle
/// of its download, then stages again: the crash leaves no upgrade folder, and its leftovers do
/// not block the retry.
#[tokio::test]
async fn killed_mid_download_leaves_nothing_that_blocks_a_retry() {
    const CHILD: &str = "SWITCHYARD_TEST_STAGE_CHILD";
    if let Ok(spec) = std::env::var(CHILD) {
        // Child: stage and never come back (the parent kills us mid-download).
        let (home, url) = spec.split_once('|').unwrap();
        let layout = Layout::new(home, "simd");
        let name = UpgradeName::parse("v2", false).unwrap();
        let mut o = opts();
        o.fetch.read_timeout = std::time::Duration::from_secs(60);
        let _ = stage_from_source(&layout, &name, &BinarySource::from_url(url).unwrap(), &o).await;
        return;
    }
    let (dir, layout, name, server) = setup();
    let mut body = script("v2.0.0");
    body.extend(std::iter::repeat_n(b'#', 400_000));
    body.push(b'\n');
    server.route(
        "/simd",
        Route {
            drop_after: Some(100_000),
            drop_times: 1,
            stall_ms: 60_000,
            ..Route::file(body.clone())
        },
    );
    let url = server.url(&format!("/simd?checksum=sha256:{}", sha256_hex(&body)));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_mid_download_leaves_nothing_that_blocks_a_retry",
            "--nocapture",
        ])
        .env(CHILD, format!("{}|{url}", dir.path().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is mid-download: its request was served and its attempt folder exists.
    let staging = staging_work_dir(&layout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let partial = loop {
        let found = std::fs::read_dir(&staging).ok().and_then(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path().join("download"))
                .find(|p| p.exists())
        });
        if let (Some(p), false) = (found, server.seen().is_empty()) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started downloading"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(300)); // let the first bytes arrive
    child.kill().unwrap(); // SIGKILL: no destructor, no clean-up runs
    child.wait().unwrap();
    assert!(
        partial.exists(),
        "the crash should leave its partial download behind"
    );
    assert!(!layout.upgrade_dir(&name).exists());

    let out = stage_from_source(
        &layout,
        &name,
        &BinarySource::from_url(&url).unwrap(),
        &opts(),
    )
    .await
    .unwrap();
    assert!(matches!(out, StageOutcome::Staged(_)), "{out:?}");
    assert_eq!(std::fs::read(layout.upgrade_binary(&name)).unwrap(), body);
    assert!(!partial.exists());
    assert!(staging_is_clean(dir.path()));
}
