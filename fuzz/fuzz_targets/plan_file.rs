//! Plan file text (RON and JSON) → `plan_file::parse_plan`, which parses and validates every run by compiling its
//! parameters back to spec text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = thinktok::plan_file::parse_plan("fuzz.ron", &text, false);
    let _ = thinktok::plan_file::parse_plan("fuzz.json", &text, true);
});
