//! Spec text → `compile_str`; a compiled plan is also printed, written as RON and (for small plans) read back.
//!
//! The spec is named as a file in `specs/`, so `import "default.think"` and the like resolve to the real specs
//! (imports only read files; nothing here writes any).
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/fuzz.think");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(plan) = thinktok::compile_str(NAME, &text) else { return };
    let _ = thinktok::print_plan(&plan, Default::default());
    let ron = thinktok::plan_to_ron(&plan).expect("a compiled plan serialises as RON");
    // A compiled plan written by `thinktok plan --format ron` must load back (each run is recompiled, so only
    // small plans, to keep the target fast).
    if plan.runs.len() <= 4 {
        if let Err(e) = thinktok::plan_file::parse_plan("fuzz.ron", &ron, false) {
            panic!("a compiled plan's RON does not load back: {e:#}\n--- RON ---\n{ron}");
        }
    }
});
