//! Text sources: one file or a folder of `.txt` files, packed into fixed-length sequences with a held-out split.

use std::path::{Path, PathBuf};

use super::Sequence;
use crate::engine::data::Tokenizer;
use crate::engine::error::invalid;
use crate::plan::{TextSplit, EOT_ID};

/// The text of `path` as UTF-8, or a clear error: missing, empty, binary (NUL bytes) or not UTF-8 (with the offset).
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| invalid(format!("cannot read data file `{}`: {e}", path.display())))?;
    if bytes.is_empty() {
        return Err(invalid(format!("data file `{}` is empty", path.display())));
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(invalid(format!(
            "data file `{}` looks binary (a NUL byte at offset {at}); expected UTF-8 text",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "data file `{}` is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The `.txt` files of a folder, recursively, in sorted order; or the file itself.
fn text_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.exists() {
        return Err(invalid(format!("data path `{}` does not exist", path.display())));
    }
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| invalid(format!("cannot read folder `{}`: {e}", dir.display())))?;
        for entry in entries {
            let entry_path = entry.map_err(|e| invalid(format!("cannot read folder `{}`: {e}", dir.display())))?.path();
            if entry_path.is_dir() {
                stack.push(entry_path);
            } else if entry_path.extension().is_some_and(|ext| ext == "txt") {
                files.push(entry_path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(invalid(format!("folder `{}` holds no `.txt` files", path.display())));
    }
    Ok(files)
}

/// Whether packed chunk `index` belongs to the held-out part, for a held-out fraction `holdout`.
fn is_held_out(index: usize, holdout: f64) -> bool {
    let h = crate::plan::fnv1a64(&(index as u64).to_le_bytes());
    ((h % 1_000_000) as f64) < holdout * 1_000_000.0
}

/// The `split` part of the text at `path`: documents joined by end-of-text, cut into sequences of `context` tokens;
/// each sequence goes to the held-out part with probability `holdout` (by a fixed hash of its index).
pub fn load(
    tok: &Tokenizer,
    path: &str,
    split: TextSplit,
    holdout: f64,
    context: usize,
) -> anyhow::Result<Vec<Sequence>> {
    let root = Path::new(path);
    let mut stream = Vec::new();
    for file in text_files(root)? {
        stream.extend(tok.encode(&read_text(&file)?)?);
        stream.push(EOT_ID);
    }
    let context = context.max(2);
    let chunks: Vec<&[u32]> = stream.chunks(context).filter(|c| c.len() >= 2).collect();
    if chunks.is_empty() {
        return Err(invalid(format!("text `{path}` is shorter than two tokens")));
    }
    let mut held: Vec<bool> = (0..chunks.len()).map(|i| is_held_out(i, holdout)).collect();
    // A tiny corpus may hash every chunk to one side: keep both sides non-empty when both are asked for.
    if holdout > 0.0 && chunks.len() >= 2 && !held.contains(&true) {
        held[chunks.len() - 1] = true;
    }
    // Training needs data first: a single chunk, or a corpus hashed entirely to the held-out side, trains.
    if holdout < 1.0 && !held.contains(&false) {
        held[0] = false;
    }
    let want_held = split == TextSplit::Test;
    let sequences: Vec<Sequence> = chunks
        .iter()
        .zip(&held)
        .filter(|(_, &h)| h == want_held)
        .map(|(chunk, _)| Sequence::text(chunk.to_vec()))
        .collect();
    if sequences.is_empty() {
        return Err(invalid(format!(
            "text `{path}` is too short for a {} part (held-out fraction {holdout}): it makes {} sequence(s) of \
             {context} tokens",
            if want_held { "held-out" } else { "training" },
            chunks.len()
        )));
    }
    Ok(sequences)
}
