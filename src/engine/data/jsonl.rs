//! JSONL sources: one object per line, `{"text": …}` or `{"prompt": …, "answer": …}`, each with an optional
//! `group` (a string or a number: evaluation reports per group).

use std::path::Path;

use super::Sequence;
use crate::engine::data::Tokenizer;
use crate::engine::error::invalid;
use crate::plan::EOT_ID;

/// The sequences of the JSONL file at `path`. Text lines longer than `context` tokens are truncated; a prompt and
/// answer that do not fit are refused (cutting them would drop the answer). Every problem names the line.
pub fn load(tok: &Tokenizer, path: &str, context: usize) -> anyhow::Result<Vec<Sequence>> {
    let text = super::text::read_text(Path::new(path))?;
    let mut sequences = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| invalid(format!("`{path}` line {n}: {message}"));
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| at(format!("bad JSON: {e}")))?;
        let field = |name: &str| -> anyhow::Result<Option<String>> {
            match value.get(name) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(at(format!("field `{name}` must be a string"))),
            }
        };
        if !value.is_object() {
            return Err(at("expected a JSON object".to_string()));
        }
        let sequence = match (field("text")?, field("prompt")?, field("answer")?) {
            (Some(text), None, None) => {
                let mut tokens = tok.encode(&text)?;
                tokens.push(EOT_ID);
                tokens.truncate(context);
                if tokens.len() < 2 {
                    return Err(at("`text` is empty: a sequence needs at least two tokens".into()));
                }
                Sequence::text(tokens)
            }
            (None, Some(prompt), Some(answer)) => {
                if prompt.is_empty() || answer.is_empty() {
                    return Err(at("`prompt` and `answer` must both be non-empty".into()));
                }
                let sequence = Sequence::answer_with(tok, &prompt, &answer)?;
                if sequence.tokens.len() > context {
                    return Err(at(format!(
                        "prompt and answer make {} tokens, more than the model's context of {context}",
                        sequence.tokens.len()
                    )));
                }
                sequence
            }
            (None, Some(_), None) => return Err(at("missing field `answer` (next to `prompt`)".into())),
            (None, None, Some(_)) => return Err(at("missing field `prompt` (next to `answer`)".into())),
            (None, None, None) => return Err(at("missing field: expected `text`, or `prompt` and `answer`".into())),
            _ => return Err(at("give either `text` or `prompt` and `answer`, not both".into())),
        };
        let group = match value.get("group") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(g)) => Some(g.clone()),
            Some(serde_json::Value::Number(g)) => Some(g.to_string()),
            Some(_) => return Err(at("field `group` must be a string or a number".into())),
        };
        sequences.push(sequence.in_group(group));
    }
    if sequences.is_empty() {
        return Err(invalid(format!("`{path}` holds no JSONL records")));
    }
    Ok(sequences)
}
