//! `upgrade-info.json` as the node (or anyone who can write data/) leaves it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::UpgradeInfo;

fuzz_target!(|data: &[u8]| {
    for recase in [false, true] {
        if let Ok(info) = UpgradeInfo::parse(data, recase) {
            // What we write back must read back the same.
            let again = UpgradeInfo::parse(info.to_json().as_bytes(), true).unwrap();
            assert_eq!(again, info);
        }
    }
});
