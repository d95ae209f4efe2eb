//! A plan's `info` field and its `binaries` map (inline JSON, a URL, or text).
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::{binaries_from_json, parse_info, this_platform, PlanInfo};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_info(&text) {
        PlanInfo::Binaries(b) => {
            let _ = b.for_platform(&this_platform());
            let _ = b.rejection_for("linux/amd64");
            for src in b.entries.values() {
                let _ = switchyard_store::fuzzing::kind_from_url(&src.url);
                let _ = switchyard_store::check_url(&src.url, false);
            }
        }
        PlanInfo::Url(u) => {
            let _ = switchyard_store::check_url(&u, false);
        }
        PlanInfo::NoBinaries => {}
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = binaries_from_json(&v);
    }
});
