//! Websocket messages of the NewBlock subscription.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchyard_watcher::fuzzing::websocket_message(data);
});
