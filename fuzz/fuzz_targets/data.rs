//! Data file bytes → the JSONL and text loaders (written to a per-process temp folder, as the loaders read paths).
//! Errors are expected; a panic or abort is a finding.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use thinktok::engine::data::{jsonl, text};
use thinktok::plan::TextSplit;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("thinktok-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz temp folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let jsonl_path = dir().join("in.jsonl");
    let text_path = dir().join("in.txt");
    std::fs::write(&jsonl_path, data).expect("write in.jsonl");
    std::fs::write(&text_path, data).expect("write in.txt");
    let jsonl_path = jsonl_path.to_str().expect("temp path is UTF-8");
    let text_path = text_path.to_str().expect("temp path is UTF-8");
    if let Ok(sequences) = jsonl::load(&thinktok::engine::data::Tokenizer::Bytes, jsonl_path, 64) {
        for s in &sequences {
            assert!(s.tokens.len() <= 64, "a JSONL sequence longer than the context");
        }
    }
    for split in [TextSplit::Train, TextSplit::Test] {
        if let Ok(sequences) = text::load(&thinktok::engine::data::Tokenizer::Bytes, text_path, split, 0.1, 64) {
            assert!(!sequences.is_empty());
        }
    }
});
