//! Machine-independent cost estimates of a run: parameters, tokens, FLOPs, peak learning-phase memory.
//!
//! Assumptions (documented in docs/language.md): the own GPT has learned positions, biases, two LayerNorms per
//! block plus a final one, and an untied output head; a forward pass costs 2 FLOPs per weight per position plus
//! attention (2·layers·positions·width per position, causal average), a backward pass twice that; memory is f32
//! weights, gradients and two AdamW moments plus activations.

use crate::plan::*;

/// Tokens of the longest example of a built-in task (prompt, answer, end of text), as the engine's data module
/// formats it: `digits=T`, `a*b=` with the product reversed, `a+b+…=` with the sum reversed and padded, `ab cd …?ck=x`.
pub fn task_tokens(task: &TaskKind) -> usize {
    let addition = |terms: usize, digits: usize| {
        let mut max_sum = (terms as u128).saturating_mul(10u128.saturating_pow(digits.min(30) as u32) - 1);
        let mut answer = 1;
        while max_sum >= 10 {
            max_sum /= 10;
            answer += 1;
        }
        terms.saturating_mul(digits).saturating_add(terms).saturating_add(1 + answer)
    };
    match *task {
        TaskKind::Sum3 { digits } => digits + 3,
        TaskKind::Multiply { digits } => 4 * digits + 3,
        TaskKind::Addition { terms, digits } => addition(terms, digits),
        // The longest example has the range's largest number of terms.
        TaskKind::AdditionMixed { terms, digits } => addition(terms.last(), digits),
        // `ab cd …` (3 per letter, less one space), `?`, start, k, `=`, the answer letter, end of text.
        TaskKind::Hops { letters, .. } => 3 * letters + 5,
        // k blocks of `letters` pairs (2 per letter), k − 1 `|`, `?`, start, `=`, the answer letter, end of text.
        TaskKind::Compose { letters, steps } => {
            let k = steps.last().max(1);
            2 * k * letters + k + 4
        }
    }
}

/// Real tokens of one sequence of a data source (the context for text and JSONL, which are packed or truncated).
fn real_tokens(src: &DataSource, context: usize) -> usize {
    let len = match src {
        DataSource::Task { task, .. } => task_tokens(task),
        DataSource::Jsonl { .. } | DataSource::Text { .. } => context,
    };
    len.min(context)
}

/// Thoughts one sequence carries in the learning phase, at most.
fn thoughts_per_sequence(ep: &EpisodeConfig, real: usize) -> usize {
    match ep.insertion {
        Insertion::None => 0,
        Insertion::FastForward { .. } => ep.thought_budget,
        Insertion::Random { per_sequence } => per_sequence,
        Insertion::Interval { every } => real / every.max(1),
        Insertion::AnswerPause { count } | Insertion::Dit { count } => count,
    }
}

/// Parameters of the own GPT (saturating: a hostile width gives `u64::MAX`, never a wrapped small count).
pub fn gpt_parameters(g: &GptConfig) -> u64 {
    let (w, v, c, l) = (g.width as u128, g.vocab_size as u128, g.context as u128, g.layers as u128);
    let ww = w.saturating_mul(w);
    let per_layer = (2 * 2u128)
        .saturating_mul(w) // two LayerNorms
        .saturating_add(ww.saturating_mul(3).saturating_add(w.saturating_mul(3))) // qkv
        .saturating_add(ww.saturating_add(w)) // attention output
        .saturating_add(ww.saturating_mul(4).saturating_add(w.saturating_mul(4))) // MLP up
        .saturating_add(ww.saturating_mul(4).saturating_add(w)); // MLP down
    let total = v
        .saturating_mul(w)
        .saturating_add(c.saturating_mul(w))
        .saturating_add(l.saturating_mul(per_layer))
        .saturating_add(w.saturating_mul(2))
        .saturating_add(w.saturating_mul(v));
    u64::try_from(total).unwrap_or(u64::MAX)
}

/// Per learning step, the passes the engine makes, in sequence-passes over the batch's `batch × accumulate`
/// sequences: the episode phase's no-gradient passes (over augmented sequences) and the learning phase's
/// forward + backward passes, split by whether they carry thoughts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Passes {
    episode: f64,
    learn_augmented: f64,
    learn_plain: f64,
}

/// The engine's passes per step (`learn/episodic.rs`), averaged over the `episode.every` cycle:
/// - episode steps of a `fast_forward` run take the episode phase over every batch sequence (in groups of
///   `samples`): rounds cost one teacher-forced pass, then per round each row from its proposal on, on average
///   half a pass; leave-one-out one sweep, then per new thought half a pass, then half a pass for the kept
///   placement. Steps in between take the model's own fast-forward (one pass) unless `real_loss = plain`.
/// - `real_loss = own | own_and_plain` adds, on episode steps, the own fast-forward and a learning pass on it;
///   `own_and_plain`, `kept_and_plain` (every step) and `plain` (episode steps) a learning pass without thoughts,
///   which for `plain` between episodes is the only one.
/// - `dit` scores the batch without thoughts, then with its pauses (two no-gradient passes); other rules none.
fn passes(p: &RunParams) -> Passes {
    let ep = &p.episode;
    let every = ep.every.max(1) as f64;
    let on = 1.0 / every;
    let off = 1.0 - on;
    match ep.insertion {
        Insertion::FastForward { .. } => {
            let episode_passes = match ep.strategy {
                EpisodeStrategy::Rounds => 1.0 + 0.5 * ep.rounds as f64,
                EpisodeStrategy::LeaveOneOut => 1.5 + 0.5 * ep.thought_budget as f64,
            };
            let (own, plain) = match p.learn.real_loss {
                RealLoss::Kept => (0.0, 0.0),
                RealLoss::Own => (on, 0.0),
                RealLoss::OwnAndPlain => (on, 1.0),
                RealLoss::KeptAndPlain => (0.0, 1.0),
                RealLoss::Plain => (0.0, on),
            };
            let between = if p.learn.real_loss == RealLoss::Plain { 0.0 } else { off };
            Passes {
                episode: on * episode_passes + between + own,
                // `plain` trains between episodes without thoughts only.
                learn_augmented: if p.learn.real_loss == RealLoss::Plain { on } else { 1.0 } + own,
                learn_plain: plain + if p.learn.real_loss == RealLoss::Plain { off } else { 0.0 },
            }
        }
        Insertion::Dit { .. } => Passes { episode: 2.0, learn_augmented: 1.0, learn_plain: 0.0 },
        Insertion::None => Passes { episode: 0.0, learn_augmented: 0.0, learn_plain: 1.0 },
        Insertion::Random { .. } | Insertion::Interval { .. } | Insertion::AnswerPause { .. } => {
            Passes { episode: 0.0, learn_augmented: 1.0, learn_plain: 0.0 }
        }
    }
}

/// What the estimates need of a model, whatever its kind.
struct Dims {
    layers: usize,
    width: usize,
    heads: usize,
    context: usize,
    vocab: usize,
    /// Every parameter.
    params: u64,
    /// Parameters that are trained (gradients and optimiser state).
    trained: u64,
    /// Parameters not multiplied per position: embedding tables, and the head (counted apart, once).
    embedding: u64,
}

fn dims(p: &RunParams) -> Dims {
    let gated = p.episode.thoughts == ThoughtKind::Continuous && p.episode.mix == ThoughtMix::Gated;
    let (width, layers) = (p.model.width(), p.model.layers());
    let mix = if gated { (width * width) as u64 } else { 0 }; // the gated mix's projection
    match &p.model {
        ModelConfig::Gpt(g) => {
            let params = gpt_parameters(g) + mix;
            // wte, wpe and the untied lm_head (its product is the `head` term of the forward's count).
            let embedding = 2 * g.vocab_size as u64 * g.width as u64 + g.context as u64 * g.width as u64;
            Dims {
                layers,
                width,
                heads: g.heads,
                context: g.context,
                vocab: g.vocab_size,
                params,
                trained: params,
                embedding,
            }
        }
        ModelConfig::Pretrained(m) => {
            let s = &m.shape;
            let params = s.parameters() + mix;
            // Trained with `last(N)`: the tables (embedding, an untied head), N blocks, the final norm.
            let trained = match m.train {
                TrainPart::All => params,
                TrainPart::Last { layers: n } => {
                    s.table_parameters() + n as u64 * s.block_parameters() + width as u64 + mix
                }
            };
            let head = if s.tied { 0 } else { m.vocab_size as u64 * width as u64 };
            let embedding = m.vocab_size as u64 * width as u64 + head;
            Dims { layers, width, heads: s.heads, context: m.context, vocab: m.vocab_size, params, trained, embedding }
        }
    }
}

/// Estimates for one run. With a warm-up its steps are counted at its rule's cost and the rest at the episode's;
/// the per-step figures are the run's means, the peak memory the larger of the two.
pub fn estimate(p: &RunParams) -> Estimates {
    let w = &p.episode.warmup;
    if w.steps == 0 {
        return estimate_phase(p);
    }
    let mut warm = p.clone();
    warm.episode.insertion = w.rule.clone();
    warm.episode.warmup = Warmup::default();
    let (a, b) = (estimate_phase(&warm), estimate_phase(p));
    let total = p.learn.steps.max(1) as f64;
    let share = w.steps.min(p.learn.steps) as f64 / total;
    let mean = |x: f64, y: f64| share * x + (1.0 - share) * y;
    Estimates {
        parameters: b.parameters,
        tokens_per_step: b.tokens_per_step,
        total_tokens: b.total_tokens,
        forward_flops_per_step: mean(a.forward_flops_per_step, b.forward_flops_per_step),
        backward_flops_per_step: mean(a.backward_flops_per_step, b.backward_flops_per_step),
        episode_flops_per_step: mean(a.episode_flops_per_step, b.episode_flops_per_step),
        run_flops: mean(a.run_flops, b.run_flops),
        peak_memory_bytes: a.peak_memory_bytes.max(b.peak_memory_bytes),
        train_positions_per_step: mean(a.train_positions_per_step, b.train_positions_per_step),
    }
}

/// Estimates for a run placed the same way on every step.
fn estimate_phase(p: &RunParams) -> Estimates {
    let g = dims(p);
    let params = g.params;
    let real = real_tokens(&p.data.train, g.context) as u64;
    let positions = (real + thoughts_per_sequence(&p.episode, real as usize) as u64).min(g.context as u64);
    let seqs = (p.learn.batch * p.learn.accumulate) as u64;
    let tokens_per_step = seqs * real;
    let non_embedding = params.saturating_sub(g.embedding);
    let head = (g.vocab * g.width) as f64;
    // per position: weights (non-embedding + head), plus causal attention over on average half the positions
    let fwd_per_position = 2.0 * (non_embedding as f64 + head) + 2.0 * (g.layers * g.width) as f64 * positions as f64;
    let mut passes = passes(p);
    if p.episode.thoughts == ThoughtKind::Continuous {
        // Continuous thoughts: a warm start (one teacher-forced no-gradient pass) per learning batch with thoughts,
        // and `unroll` learning passes over it.
        passes.episode += passes.learn_augmented;
        passes.learn_augmented *= p.learn.unroll.max(1) as f64;
    }
    // A pass over a sequence computes its inputs: every position but the last.
    let (aug_inputs, plain_inputs) = (positions.saturating_sub(1) as f64, real.saturating_sub(1) as f64);
    let learn_positions = seqs as f64 * (passes.learn_augmented * aug_inputs + passes.learn_plain * plain_inputs);
    let episode_positions = seqs as f64 * passes.episode * aug_inputs;
    let forward = fwd_per_position * learn_positions;
    let backward = 2.0 * forward;
    let episode = fwd_per_position * episode_positions;
    let steps = p.learn.steps as f64;
    let run_flops = steps * (forward + backward + episode);
    let peak = peak_memory(p, &g, positions, seqs);
    Estimates {
        parameters: params,
        tokens_per_step,
        total_tokens: tokens_per_step * p.learn.steps as u64,
        forward_flops_per_step: forward,
        backward_flops_per_step: backward,
        episode_flops_per_step: episode,
        run_flops,
        peak_memory_bytes: peak,
        train_positions_per_step: episode_positions + 3.0 * learn_positions,
    }
}

/// Peak memory in bytes, in floating point so that no size wraps (`as u64` saturates): f32 weights, gradients and
/// two AdamW moments; the larger of the learning phase's activations (~16·width floats per position per layer,
/// attention scores heads·positions² per sequence per layer, logits vocab per position) and the KV caches of the
/// episode phase and evaluation (keys and values per layer over the context, and each position's hidden state with
/// continuous thoughts, for the larger of `samples` and `batch` rows); and the examples held in memory.
fn peak_memory(p: &RunParams, g: &Dims, positions: u64, seqs: u64) -> u64 {
    let f = |x: usize| x as f64;
    let (width, layers, heads) = (f(g.width), f(g.layers), f(g.heads));
    let (positions, seqs) = (positions as f64, seqs as f64);
    // f32 weights; gradients and two AdamW moments of the trained ones
    let weights = 4.0 * g.params as f64 + 12.0 * g.trained as f64;
    let acts = seqs * positions * (16.0 * width * layers + f(g.vocab)) * 4.0;
    let scores = seqs * heads * positions * positions * layers * 4.0;
    let cache = if p.episode.insertion == Insertion::None {
        0.0
    } else {
        let rows = f(p.episode.samples.max(p.learn.batch));
        let hidden = if p.episode.thoughts == ThoughtKind::Continuous { 1.0 } else { 0.0 };
        rows * f(g.context) * width * (2.0 * layers + hidden) * 4.0
    };
    let examples = |src: &DataSource| match src {
        // u32 tokens per example plus its bookkeeping (prompt and answer strings, a group name)
        DataSource::Task { task, count, .. } => f(*count) * (f(task_tokens(task)) * 6.0 + 96.0),
        DataSource::Jsonl { .. } | DataSource::Text { .. } => 0.0,
    };
    let data = examples(&p.data.train) + examples(&p.data.test);
    (weights + (acts + scores).max(cache) + data) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_parameter_count_matches_hand_count() {
        let g = GptConfig { layers: 1, width: 4, heads: 2, context: 8, vocab_size: 10 };
        // emb 40 + pos 32 + layer (16 + 60 + 20 + 80 + 68 = 244) + final LN 8 + head 40
        assert_eq!(gpt_parameters(&g), 40 + 32 + 244 + 8 + 40);
    }
}
