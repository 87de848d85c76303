//! Generation with the model's own thoughts: batched and KV-cached, one token per row per step. Where the model's
//! top-1 next token is `<|thought|>` (and its thought budget and the cap on thoughts in a row allow), a thought is
//! fed instead of a real token — the policy the episode phase and honest evaluation use — and it stays out of the
//! text unless asked for. Real tokens are chosen with the thought (and padding, reserved) left out: greedily, or
//! sampled at a temperature from a seeded generator, so a run is reproducible. A row stops at end of text, after
//! `max_tokens` real tokens, or when its context is full.

use candle_core::Tensor;

use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::{EOT_ID, PAD_ID, RESERVED_ID, THOUGHT_ID};

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Real tokens to generate per prompt, at most.
    pub max_tokens: usize,
    /// 0: greedy; otherwise softmax(logits / temperature) sampling.
    pub temperature: f64,
    pub seed: u64,
    /// Thoughts per row, at most (0: never think).
    pub thought_budget: usize,
    /// Thoughts in a row before a real token, at most.
    pub max_consecutive: usize,
    /// Tokens that end a row (not included in its output): the tokenizer's `stop_ids` (end of text, and a
    /// pretrained model's own end of sequence).
    pub stop: Vec<u32>,
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    EndOfText,
    MaxTokens,
    Context,
}

/// One prompt's continuation: the generated ids (thoughts included, in place; end of text not included).
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub thoughts: usize,
    pub stop: Stop,
}

struct Row {
    out: Generated,
    real: usize,
    in_a_row: usize,
    done: bool,
}

/// Continue every prompt (engine ids, each non-empty and shorter than the context).
pub fn generate(model: &dyn CausalLm, prompts: &[Vec<u32>], opts: &GenerateOptions) -> anyhow::Result<Vec<Generated>> {
    let context = model.context();
    for (i, p) in prompts.iter().enumerate() {
        anyhow::ensure!(!p.is_empty(), "prompt {} is empty", i + 1);
        anyhow::ensure!(
            p.len() < context,
            "prompt {} has {} tokens; the model's context of {context} leaves no room to generate",
            i + 1,
            p.len()
        );
    }
    let (b, device, vocab) = (prompts.len(), model.device().clone(), model.vocab_size());
    if b == 0 {
        return Ok(Vec::new());
    }
    let mut cache = model.new_cache(b)?;
    let width = prompts.iter().map(Vec::len).max().unwrap_or(1);
    let mut flat = vec![PAD_ID; b * width];
    for (row, p) in prompts.iter().enumerate() {
        flat[row * width..row * width + p.len()].copy_from_slice(p);
    }
    let valid: Vec<usize> = prompts.iter().map(Vec::len).collect();
    let logits = model.forward_chunk(&Tensor::from_vec(flat, (b, width), &device)?, &valid, &mut cache)?.logits;
    let mut last: Vec<Vec<f32>> =
        (0..b).map(|row| logits.get(row)?.get(valid[row] - 1)?.to_vec1::<f32>()).collect::<candle_core::Result<_>>()?;
    let mut rng = Rng::derive(opts.seed, "generate");
    let mut rows: Vec<Row> = (0..b)
        .map(|_| Row {
            out: Generated { tokens: Vec::new(), thoughts: 0, stop: Stop::MaxTokens },
            real: 0,
            in_a_row: 0,
            done: false,
        })
        .collect();
    loop {
        let mut next = vec![PAD_ID; b];
        let mut step = vec![0usize; b];
        for (i, row) in rows.iter_mut().enumerate() {
            if row.done {
                continue;
            }
            if row.real >= opts.max_tokens {
                (row.done, row.out.stop) = (true, Stop::MaxTokens);
                continue;
            }
            if cache.len(i) >= context {
                (row.done, row.out.stop) = (true, Stop::Context);
                continue;
            }
            let logits = &last[i];
            let thinks = row.out.thoughts < opts.thought_budget
                && row.in_a_row < opts.max_consecutive
                && top1_is_thought(logits)
                // A thought needs room for the real token after it.
                && cache.len(i) + 1 < context;
            let token = if thinks { THOUGHT_ID } else { choose(logits, opts.temperature, &mut rng) };
            if opts.stop.contains(&token) {
                (row.done, row.out.stop) = (true, Stop::EndOfText);
                continue;
            }
            if token == THOUGHT_ID {
                row.out.thoughts += 1;
                row.in_a_row += 1;
            } else {
                row.real += 1;
                row.in_a_row = 0;
            }
            row.out.tokens.push(token);
            next[i] = token;
            step[i] = 1;
        }
        if rows.iter().all(|r| r.done) {
            break;
        }
        let out = model.forward_chunk(&Tensor::from_vec(next, (b, 1), &device)?, &step, &mut cache)?.logits;
        let host = out.reshape((b, vocab))?.to_vec2::<f32>()?;
        for (i, logits) in host.into_iter().enumerate() {
            if step[i] == 1 {
                last[i] = logits;
            }
        }
    }
    Ok(rows.into_iter().map(|r| r.out).collect())
}

/// Whether the thought's logit is at least every other's (ties count as top-1, as in the episode phase).
fn top1_is_thought(logits: &[f32]) -> bool {
    let t = logits.get(THOUGHT_ID as usize).copied().unwrap_or(f32::NEG_INFINITY);
    logits.iter().enumerate().all(|(i, &l)| i == THOUGHT_ID as usize || l <= t)
}

/// A real token: the best (temperature 0) or a sample, never a thought, padding or the reserved id.
fn choose(logits: &[f32], temperature: f64, rng: &mut Rng) -> u32 {
    let allowed = |i: usize| !matches!(i as u32, THOUGHT_ID | PAD_ID | RESERVED_ID);
    if temperature <= 0.0 {
        let mut best = (EOT_ID as usize, f32::NEG_INFINITY);
        for (i, &l) in logits.iter().enumerate() {
            if allowed(i) && l > best.1 {
                best = (i, l);
            }
        }
        return best.0 as u32;
    }
    let max = logits.iter().enumerate().filter(|(i, _)| allowed(*i)).map(|(_, &l)| l).fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| if allowed(i) { (f64::from(l - max) / temperature).exp() } else { 0.0 })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i as u32;
        }
        u -= w;
    }
    EOT_ID
}
