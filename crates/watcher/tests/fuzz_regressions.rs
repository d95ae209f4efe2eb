//! Replays every input kept in fuzz/regressions/<target>/ (inputs that once crashed a fuzz
//! target) and every seed in fuzz/seeds/<target>/ through the same public entry points the fuzz
//! targets call: none may panic. Runs in the normal `cargo test`, without cargo-fuzz.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["regressions", "seeds"] {
        let Ok(rd) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, min: usize, f: impl Fn(&[u8])) {
    let all = inputs(target);
    assert!(all.len() >= min, "{target}: only {} inputs", all.len());
    for (path, bytes) in all {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(r.is_ok(), "{} panics again", path.display());
    }
}

#[test]
fn upgrade_info() {
    replay("upgrade_info", 3, |d| {
        for recase in [false, true] {
            let _ = switchyard_core::UpgradeInfo::parse(d, recase);
        }
    });
}

#[test]
fn plan_info_and_checksums() {
    let f = |d: &[u8]| {
        let text = String::from_utf8_lossy(d);
        if let switchyard_core::PlanInfo::Binaries(b) = switchyard_core::parse_info(&text) {
            for src in b.entries.values() {
                let _ = switchyard_store::fuzzing::kind_from_url(&src.url);
                let _ = switchyard_store::check_url(&src.url, false);
            }
        }
        let _ = switchyard_core::Checksum::parse(&text);
        let _ = switchyard_core::BinarySource::from_url(&text);
        let _ = switchyard_core::BinarySource::from_url(&format!("https://h/x?checksum={text}"));
    };
    replay("plan_info", 3, f);
    replay("checksum", 3, f);
}

#[test]
fn upgrade_names() {
    replay("upgrade_name", 3, |d| {
        let _ = switchyard_core::UpgradeName::parse(&String::from_utf8_lossy(d), false);
    });
}

#[test]
fn cometbft_answers_and_websocket_messages() {
    replay(
        "cometbft_json",
        10,
        switchyard_watcher::fuzzing::cometbft_answer,
    );
    replay(
        "websocket_message",
        3,
        switchyard_watcher::fuzzing::websocket_message,
    );
}

#[test]
fn protobuf_answers() {
    use switchyard_watcher::fuzzing::{protobuf_answer, ProtoAnswer};
    replay("protobuf_answers", 3, |d| {
        if let Some((&w, rest)) = d.split_first() {
            let which = match w % 3 {
                0 => ProtoAnswer::CurrentPlan,
                1 => ProtoAnswer::ProposalsV1,
                _ => ProtoAnswer::ProposalsV1beta1,
            };
            protobuf_answer(which, rest);
        }
    });
}

#[test]
fn archives() {
    replay("archive", 3, |d| {
        let Some((&w, body)) = d.split_first() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("download");
        std::fs::write(&file, body).unwrap();
        let kind = ["tar.gz", "tar", "zip"][usize::from(w % 3)];
        let _ = switchyard_store::fuzzing::unpack(
            &file,
            kind,
            &dir.path().join("in/tree"),
            1 << 20,
            64,
            "simd",
        );
    });
}
