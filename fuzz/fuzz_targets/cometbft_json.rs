//! CometBFT JSON-RPC answers (`/status`, `/abci_info`, `abci_query`, `/block`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchyard_watcher::fuzzing::cometbft_answer(data);
});
