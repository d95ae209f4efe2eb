//! Checksums as plans write them: `type:hex`, bare hex, and inside a URL's `checksum=`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::{BinarySource, Checksum};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Checksum::parse(&text) {
        assert_eq!(c.hex.len(), c.algo.hex_len());
        // The canonical form parses to itself.
        assert_eq!(Checksum::parse(&c.to_string()).unwrap(), c);
    }
    let _ = BinarySource::from_url(&text);
    let _ = BinarySource::from_url(&format!("https://h/x?checksum={text}"));
});
