//! The byte-level tokenizer: 256 byte tokens followed by the special tokens of [`crate::plan`].
//!
//! Encoding never produces a special id: text that literally contains `<|thought|>` or `<|eot|>` becomes its bytes,
//! so only the engine itself can place a thought or an end-of-text token.

use crate::plan::{BYTE_VOCAB, EOT_ID, PAD_ID, RESERVED_ID, THOUGHT_ID, VOCAB_SIZE};

/// How a run's text becomes token ids: bytes for the own GPT, the checkpoint's own tokenizer for a pretrained model.
#[derive(Debug, Clone, Default)]
pub enum Tokenizer {
    #[default]
    Bytes,
    Subword(super::subword::Subword),
}

impl Tokenizer {
    /// The engine ids of `text` (never a special id of the engine's).
    pub fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        match self {
            Tokenizer::Bytes => Ok(encode(text)),
            Tokenizer::Subword(s) => s.encode(text),
        }
    }

    /// Ids that end a generation (end of text; a pretrained model's own end-of-sequence token too).
    pub fn stop_ids(&self) -> Vec<u32> {
        match self {
            Tokenizer::Bytes => vec![EOT_ID],
            Tokenizer::Subword(s) => s.stop_ids().to_vec(),
        }
    }

    /// The text of `ids` for display (specials by name).
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Tokenizer::Bytes => decode(ids),
            Tokenizer::Subword(s) => s.decode(ids),
        }
    }
}

/// Number of token ids (bytes plus specials).
pub const fn vocab_size() -> usize {
    VOCAB_SIZE
}

/// The byte tokens of `text` (no special ids, ever).
pub fn encode(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// Whether `id` is one of the 256 byte tokens.
pub fn is_byte(id: u32) -> bool {
    (id as usize) < BYTE_VOCAB
}

/// The display name of a special id, `None` for byte ids and ids outside the vocabulary.
pub fn special_name(id: u32) -> Option<&'static str> {
    match id {
        EOT_ID => Some("<|eot|>"),
        THOUGHT_ID => Some("<|thought|>"),
        PAD_ID => Some("<|pad|>"),
        RESERVED_ID => Some("<|reserved|>"),
        _ => None,
    }
}

/// Text of `ids` for display: bytes decoded as UTF-8 (invalid sequences replaced), specials by name, unknown ids as
/// `<|?N|>`.
pub fn decode(ids: &[u32]) -> String {
    let mut out = String::new();
    let mut bytes = Vec::new();
    for &id in ids {
        if is_byte(id) {
            // `is_byte` guarantees the id fits in a byte.
            bytes.push(id as u8);
            continue;
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
        bytes.clear();
        match special_name(id) {
            Some(name) => out.push_str(name),
            None => out.push_str(&format!("<|?{id}|>")),
        }
    }
    out.push_str(&String::from_utf8_lossy(&bytes));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_thought_text_is_bytes_not_the_thought_id() {
        let ids = encode("a<|thought|>b");
        assert_eq!(ids.len(), "a<|thought|>b".len());
        assert!(ids.iter().all(|&id| is_byte(id)));
        assert!(!ids.contains(&THOUGHT_ID));
        assert_eq!(decode(&ids), "a<|thought|>b");
    }

    #[test]
    fn round_trips_utf8_and_names_specials() {
        let mut ids = encode("héllo ✓");
        assert_eq!(decode(&ids), "héllo ✓");
        ids.push(THOUGHT_ID);
        ids.push(EOT_ID);
        assert_eq!(decode(&ids), "héllo ✓<|thought|><|eot|>");
        assert_eq!(decode(&[999]), "<|?999|>");
        assert_eq!(vocab_size(), 260);
    }
}
