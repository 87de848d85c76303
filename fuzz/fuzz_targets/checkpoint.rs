//! A checkpoint folder → what `thinktok eval --ckpt` does with it (src/cli/eval.rs): read `meta.json`, validate its
//! run as a spec's run, and (only for a valid run of a small model) build the model and load `model.safetensors`.
//!
//! Input format: 4 bytes little-endian `n` (clamped to the rest), then `n` bytes of `meta.json`, then the rest as
//! `model.safetensors`. Both are written into a per-process temp folder.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;
use libfuzzer_sys::fuzz_target;
use thinktok::engine::learn::{build_run_model, checkpoint};

/// Models whose estimated peak memory is above this are not built (the fuzzer's RSS limit is 2 GiB).
const MAX_PEAK: u64 = 256 << 20;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("thinktok-fuzz-{}", std::process::id())).join("ckpt");
        std::fs::create_dir_all(&dir).expect("create the fuzz temp folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let n = (u32::from_le_bytes(head.try_into().unwrap()) as usize).min(rest.len());
    let (meta, model) = rest.split_at(n);
    let dir = dir();
    std::fs::write(dir.join(checkpoint::META_FILE), meta).expect("write meta.json");
    std::fs::write(dir.join(checkpoint::MODEL_FILE), model).expect("write model.safetensors");

    let Ok((found, meta)) = checkpoint::read_meta(dir) else { return };
    let Ok(estimates) = thinktok::plan_file::validate_run("fuzz/meta.json", "its run", &meta.run) else { return };
    if estimates.peak_memory_bytes >= MAX_PEAK {
        return;
    }
    let built = build_run_model(&meta.run.params, &Device::Cpu).expect("a validated run's model builds");
    let _ = checkpoint::load_weights(&found, &built.varmap, &Device::Cpu);
});
