//! Checkpoint bytes → the pretrained readers: as a GGUF file (header inspection, then the full load with its
//! dequantisation and tokenizer) and as a Hugging Face folder's `model.safetensors` beside a valid config.
//! Errors are expected; a panic or abort is a finding.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;
use candle_nn::VarMap;
use libfuzzer_sys::fuzz_target;
use thinktok::plan::{PretrainedConfig, TrainPart, SPECIAL_TOKENS};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("thinktok-fuzz-pretrained-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("hf")).expect("create the fuzz temp folder");
        let config = r#"{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 300, "max_position_embeddings": 32}"#;
        std::fs::write(dir.join("hf/config.json"), config).expect("config");
        std::fs::write(dir.join("hf/tokenizer.json"), "{}").expect("tokenizer");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let gguf = dir().join("in.gguf");
    std::fs::write(&gguf, data).expect("write in.gguf");
    std::fs::write(dir().join("hf/model.safetensors"), data).expect("write model.safetensors");
    for path in [gguf, dir().join("hf")] {
        if let Ok(inspected) = thinktok::pretrained::inspect(&path) {
            let shape = inspected.shape;
            if shape.parameters() > 1 << 24 {
                continue; // a header may declare a large model; the memory guard refuses such runs before loading
            }
            let cfg = PretrainedConfig {
                path: path.display().to_string(),
                format: inspected.format,
                context: 16.min(shape.max_context.max(2)),
                train: TrainPart::All,
                vocab_size: shape.vocab + SPECIAL_TOKENS,
                shape,
            };
            let _ = thinktok::engine::pretrained::load(&cfg, &VarMap::new(), &Device::Cpu);
        }
    }
});
