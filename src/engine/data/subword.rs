//! The tokenizer of a pretrained model: Hugging Face `tokenizers` (from a `tokenizer.json`, or built from a GGUF's
//! embedded vocabulary and merges), with the model's token ids mapped to the engine's.
//!
//! The engine's special ids are fixed (end of text 256, `<|thought|>` 257, padding 258, reserved 259: see
//! [`crate::plan`]). A pretrained vocabulary of V tokens gains [`SPECIAL_TOKENS`] rows (V, V + 1, V + 2) and is
//! permuted once, at load, so that its own end-of-text token is engine id 256 and the new rows are 257, 258 and 259;
//! the model tokens that stood there move to the freed ids. [`VocabOrder`] is that permutation: the loader orders the
//! embedding (and head) rows by it, the tokenizer maps ids through it, so no other part of the engine knows.
//! No text can produce `<|thought|>`: it is not in the tokenizer at all.

use std::sync::Arc;

use crate::engine::error::invalid;
use crate::plan::{EOT_ID, PAD_ID, RESERVED_ID, SPECIAL_TOKENS, THOUGHT_ID};

/// The order of a pretrained vocabulary's rows as the engine sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabOrder {
    /// `source[engine id]` = the model row it takes (rows ≥ V are the new special rows).
    source: Vec<u32>,
    /// The inverse: `engine[model row]` = its engine id.
    engine: Vec<u32>,
    model_vocab: usize,
}

impl VocabOrder {
    /// The order for a vocabulary of `model_vocab` tokens whose end-of-text token is `eot`.
    pub fn new(model_vocab: usize, eot: u32) -> anyhow::Result<Self> {
        if model_vocab <= RESERVED_ID as usize || eot as usize >= model_vocab {
            return Err(invalid(format!(
                "a pretrained vocabulary of {model_vocab} tokens with end-of-text id {eot}: thinktok needs more than \
                 {RESERVED_ID} tokens and an end-of-text token inside the vocabulary"
            )));
        }
        let n = model_vocab + SPECIAL_TOKENS;
        let mut source: Vec<u32> = (0..n as u32).collect();
        let v = model_vocab as u32;
        // Each target engine id takes its row; whatever stood there moves to where that row was.
        for (target, row) in [(EOT_ID, eot), (THOUGHT_ID, v), (PAD_ID, v + 1), (RESERVED_ID, v + 2)] {
            let at = source.iter().position(|&r| r == row).unwrap_or(target as usize);
            source.swap(target as usize, at);
        }
        let mut engine = vec![0u32; n];
        for (id, &row) in source.iter().enumerate() {
            engine[row as usize] = id as u32;
        }
        Ok(Self { source, engine, model_vocab })
    }

    /// Engine ids in order, each with the model row it takes (`None` for the new special rows).
    pub fn rows(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.source.iter().map(move |&r| ((r as usize) < self.model_vocab).then_some(r as usize))
    }

    /// `source[engine id]`: the row each engine id takes, where rows V, V + 1, V + 2 are the new `<|thought|>`,
    /// padding and reserved rows appended after the model's own.
    pub fn source_rows(&self) -> &[u32] {
        &self.source
    }

    /// The engine id of model token `id`.
    pub fn to_engine(&self, id: u32) -> u32 {
        self.engine.get(id as usize).copied().unwrap_or(PAD_ID)
    }

    /// The model token of engine id `id`, `None` for the engine's own specials (thought, padding, reserved).
    pub fn to_model(&self, id: u32) -> Option<u32> {
        self.source.get(id as usize).copied().filter(|&r| (r as usize) < self.model_vocab)
    }

    pub fn len(&self) -> usize {
        self.source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }
}

/// A pretrained model's tokenizer, speaking engine ids.
#[derive(Clone)]
pub struct Subword {
    inner: Arc<tokenizers::Tokenizer>,
    order: VocabOrder,
    /// Engine ids that end a generation: end of text, and the checkpoint's own end-of-sequence token (an
    /// instruct model's `<|im_end|>`).
    stops: Vec<u32>,
}

impl std::fmt::Debug for Subword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subword").field("vocab", &self.order.len()).finish()
    }
}

impl Subword {
    /// From a parsed `tokenizer.json` (text) and the model's vocabulary size; the end-of-text token is the
    /// tokenizer's `<|endoftext|>` (or `</s>`, `<|end_of_text|>`) if it has one, else `eos` (the checkpoint's
    /// end-of-sequence id, also a stop token for generation).
    pub fn from_json(json: &str, model_vocab: usize, eos: Option<u32>) -> anyhow::Result<Self> {
        let inner: tokenizers::Tokenizer =
            json.parse().map_err(|e| invalid(format!("the tokenizer cannot be read: {e}")))?;
        let named = ["<|endoftext|>", "<|end_of_text|>", "</s>"].iter().find_map(|t| inner.token_to_id(t));
        let eot = named.or(eos).ok_or_else(|| {
            invalid("the tokenizer has no end-of-text token (`<|endoftext|>`, `</s>`) and the checkpoint names none")
        })?;
        let size = inner.get_vocab_size(true);
        if size > model_vocab {
            return Err(invalid(format!("the tokenizer has {size} tokens but the model embeds only {model_vocab}")));
        }
        let order = VocabOrder::new(model_vocab, eot)?;
        let mut stops = vec![EOT_ID];
        stops.extend(eos.filter(|&e| (e as usize) < model_vocab && e != eot).map(|e| order.to_engine(e)));
        Ok(Self { inner: Arc::new(inner), order, stops })
    }

    /// Engine ids that end a generation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stops
    }

    pub fn order(&self) -> &VocabOrder {
        &self.order
    }

    /// Engine ids of `text`: the model's tokens (its own special tokens where the text spells them, as the model's
    /// tokenizer does), never `<|thought|>`.
    pub fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| invalid(format!("tokenizing failed: {e}")))?;
        Ok(enc.get_ids().iter().map(|&id| self.order.to_engine(id)).collect())
    }

    /// The text of engine ids: the engine's own specials by name, the rest decoded by the tokenizer.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        let mut run = Vec::new();
        let flush = |run: &mut Vec<u32>, out: &mut String| {
            if !run.is_empty() {
                out.push_str(&self.inner.decode(run, false).unwrap_or_default());
                run.clear();
            }
        };
        for &id in ids {
            match self.order.to_model(id) {
                Some(m) => run.push(m),
                None => {
                    flush(&mut run, &mut out);
                    out.push_str(super::tokenizer::special_name(id).unwrap_or("<|?|>"));
                }
            }
        }
        flush(&mut run, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_a_permutation_with_the_specials_in_place() {
        for eot in [0u32, 2, 256, 257, 259, 300, 999] {
            let order = VocabOrder::new(1000, eot).unwrap();
            assert_eq!(order.len(), 1000 + SPECIAL_TOKENS);
            assert_eq!(order.to_engine(eot), EOT_ID, "eot {eot}");
            let mut seen: Vec<u32> = (0..1000).map(|m| order.to_engine(m)).collect();
            seen.extend([THOUGHT_ID, PAD_ID, RESERVED_ID]);
            seen.sort_unstable();
            assert_eq!(seen, (0..1003).collect::<Vec<u32>>(), "eot {eot}");
            for m in 0..1000 {
                assert_eq!(order.to_model(order.to_engine(m)), Some(m));
            }
            for s in [THOUGHT_ID, PAD_ID, RESERVED_ID] {
                assert_eq!(order.to_model(s), None);
            }
        }
        assert!(VocabOrder::new(200, 0).is_err());
        assert!(VocabOrder::new(1000, 1000).is_err());
    }
}
