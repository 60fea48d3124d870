//! Reviewer summaries and unified diffs between two arbitrary documents.
#![no_main]
use libfuzzer_sys::fuzz_target;
use troop_core::properties;

fuzz_target!(|data: &[u8]| {
    let (a, b) = properties::split(data);
    properties::diff_pair(&a, &b);
});
