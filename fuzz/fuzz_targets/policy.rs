//! Policy documents and canonical JSON: any bytes, as text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use troop_core::properties;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    properties::policy_document(&text);
    properties::canonical_form(&text);
});
