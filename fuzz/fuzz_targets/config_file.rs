//! switchyard's config file (`cosmovisor/config.toml`) and its duration values. config.rs lives
//! in the binary crate, so it is compiled in here from its source.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/config.rs"]
mod config;

// config.rs names one type of the report's schema (`SWITCHYARD_STALL_ACTION`'s values); the
// schema is self-contained, so it is compiled in here too, where config.rs looks for it.
#[allow(dead_code)]
#[path = "../../src/report/schema.rs"]
mod schema;
mod report {
    pub(crate) use super::schema::*;
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = config::parse_duration(&text) {
        let _ = d.as_secs_f64();
    }
    let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let file = dir.path().join("config.toml");
    std::fs::write(&file, data).unwrap();
    let env = std::collections::BTreeMap::new();
    let _ = config::Config::from_sources(&env, Some(&file)).map(|c| c.entries.len());
});
