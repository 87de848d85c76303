//! The `model` block's tables: the own GPT (`model gpt`) and its variant for pretrained checkpoints
//! (`model pretrained`), with the choice of what a fine-tune trains. Part of [`super::schema`].

use super::table::{func, ge, key, BlockSpec, Default, FnSpec, Ty};

pub static MODEL: BlockSpec = BlockSpec {
    name: "model",
    labels: &["gpt"],
    doc: "`model gpt { … }`: the own small GPT (learned positions, pre-LayerNorm, causal attention, GELU MLP, byte vocabulary of 260).",
    variants: &[&PRETRAINED],
    keys: &[
        key("layers", Ty::Int(ge(1.0)), Default::Int(2), "Transformer blocks."),
        key("width", Ty::Int(ge(1.0)), Default::Int(128), "Embedding width; `heads` must divide it."),
        key("heads", Ty::Int(ge(1.0)), Default::Int(4), "Attention heads; must divide `width`."),
        key("context", Ty::Int(ge(2.0)), Default::Int(64), "Maximum positions (real tokens plus thoughts)."),
    ],
};

pub static PRETRAINED: BlockSpec = BlockSpec {
    name: "model",
    labels: &["pretrained"],
    doc: "`model pretrained { path = \"…\" }`: a pretrained llama-architecture checkpoint, fine-tuned: a GGUF file (F32, F16, BF16, Q4_0, Q4_1 or Q8_0, dequantised to f32) or a Hugging Face folder (`config.json`, `model.safetensors`, `tokenizer.json`). Its shape and tokenizer come from the checkpoint (read when the spec is checked); `<|thought|>` and the engine's other special tokens are appended to its vocabulary.",
    variants: &[],
    keys: &[
        key("path", Ty::Str, Default::Required, "The `.gguf` file or Hugging Face folder, relative to the working directory."),
        key("context", Ty::Int(ge(2.0)), Default::Int(256), "Positions used at once (real tokens plus thoughts), at most the checkpoint's own context."),
        key("train", Ty::Choice(TRAIN_PARTS), Default::Call("all"), "Which parameters are trained; the rest stay as loaded."),
    ],
};

pub static TRAIN_PARTS: &[FnSpec] = &[
    func("all", &[], "Every parameter."),
    func(
        "last",
        &[key("layers", Ty::Int(ge(0.0)), Default::Int(2), "Trained blocks, counted from the top.")],
        "The token embedding (a tied head and the thought token's row with it), the last `layers` blocks and the final norm.",
    ),
];
