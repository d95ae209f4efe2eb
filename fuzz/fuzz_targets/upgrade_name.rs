//! Upgrade names from governance: never a path escape, never an invisible character.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::UpgradeName;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for recase in [false, true] {
        match UpgradeName::parse(&text, recase) {
            Ok(n) => {
                let s = n.as_str();
                assert!(!s.is_empty() && s != "." && s != "..");
                assert!(!s.contains('/') && !s.contains('\0') && !s.contains('\\'));
                assert!(!s.chars().any(char::is_control));
                assert!(s.len() <= switchyard_core::MAX_NAME_LEN);
                // A stored name validates again, unchanged.
                assert_eq!(UpgradeName::parse(s, true).unwrap(), n);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
