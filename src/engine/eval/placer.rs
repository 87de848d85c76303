//! Honest evaluation with thoughts (DESIGN.md, "Honest evaluation").
//!
//! At test time the future is unknown, so thoughts are placed only by
//! - the model's own policy ([`Placer::Own`]): the fast-forward walk, top-1 or `p(thought) > threshold` with a
//!   threshold fixed in the plan (chosen on training data, never on the evaluation data), left to right, each
//!   decision seeing only the prefix; or
//! - a baseline's fixed rule ([`Placer::Rule`]): `none`, `random` (a fixed evaluation seed), `interval`,
//!   `answer_pause`; and `dit`, which ranks the true tokens by the confidence of a no-thought pass and so looks at
//!   the very tokens it places thoughts before: at evaluation it is labelled as peeking.
//!
//! [`Placer::Fit`] (`eval.placement = fit_threshold(…)`) is the own policy with its threshold chosen at each
//! evaluation on the first training sequences: the candidate (no thoughts, top-1, or `p(thought) > τ` for τ in
//! [`FIT_CANDIDATES`]) with the lowest real-token NLL there; ties go to fewer thoughts. The evaluation data never
//! take part in the choice.
//!
//! [`Placer::Oracle`] runs the episode phase on the test data itself: it scores thoughts by the continuation, i.e.
//! it peeks at the future. It exists as a labelled diagnostic only.
//!
//! With the placement fixed, one teacher-forced forward over the augmented sequences gives every figure: the
//! real-token NLL (thought targets are never counted), and accuracy by greedy decoding with thoughts allowed and
//! hidden: greedy decoding of the answer is right exactly when, at every answer token's decision point, the best
//! non-thought token is the true one (where the policy wants a thought, it inserted one and looks again).

use candle_core::{Tensor, D};

use super::figures::{EvalReport, GroupedSums, ThoughtFigures, EVAL_BATCH};
use super::thought_map::{MapCollector, ThoughtMap};
use crate::engine::data::{Dataset, Sequence};
use crate::engine::episode::baselines::{self, BaselineInput};
use crate::engine::episode::fast_forward::{fast_forward, score};
use crate::engine::episode::walk::Policy;
use crate::engine::episode::{default_chunk, run_episode, EpisodeInput, Placement};
use crate::engine::model::CausalLm;
use crate::engine::rng::Rng;
use crate::plan::{EpisodeConfig, EvalPlacement, Insertion, RunParams, FIT_CANDIDATES, PAD_ID, THOUGHT_ID};

/// Who places thoughts at evaluation.
#[derive(Debug, Clone)]
pub enum Placer {
    /// The model's own fast-forward policy.
    Own(Policy),
    /// A baseline's fixed rule, with the seed of its random choices.
    Rule(Insertion, u64),
    /// Diagnostic: the episode phase run on the evaluation data (peeks at the continuation).
    Oracle(EpisodeConfig, u64),
    /// The own policy with a threshold still to be fitted on `sequences` training sequences ([`fit`]).
    Fit { ep: EpisodeConfig, sequences: usize },
    /// A placer chosen by [`fit`] on training data.
    Fitted { chosen: Box<Placer>, sequences: usize, train_nll: f64 },
}

impl Placer {
    /// The placer a run's plan asks for. A run trained with a baseline rule is evaluated by that rule under `own`
    /// and `rule` alike (its own policy is the rule); `threshold(t)` takes `t` from the plan.
    pub fn for_run(params: &RunParams) -> Self {
        let ep = &params.episode;
        let seed = params.seed;
        match (&params.eval.placement, &ep.insertion) {
            (EvalPlacement::Oracle, _) => Placer::Oracle(ep.clone(), seed),
            (_, rule) if !matches!(rule, Insertion::FastForward { .. }) => Placer::Rule(rule.clone(), seed),
            (EvalPlacement::Threshold(t), _) => Placer::Own(own_policy(ep, Some(*t))),
            (EvalPlacement::FitThreshold { sequences }, _) => Placer::Fit { ep: ep.clone(), sequences: *sequences },
            _ => Placer::Own(own_policy(ep, None)),
        }
    }

    /// A human description for tables and `eval --json`.
    pub fn describe(&self) -> String {
        match self {
            Placer::Own(p) => match p.threshold {
                Some(t) => format!("own (fast-forward, p(thought) > {t})"),
                None => "own (fast-forward top-1)".to_string(),
            },
            Placer::Rule(rule @ Insertion::Dit { .. }, _) => {
                format!("rule {} (peeks: ranks the true tokens by confidence)", rule_name(rule))
            }
            Placer::Rule(rule, _) => format!("rule {}", rule_name(rule)),
            Placer::Oracle(..) => "oracle (DIAGNOSTIC: peeks at the continuation)".to_string(),
            Placer::Fit { sequences, .. } => format!("own, threshold to be fitted on {sequences} training sequences"),
            Placer::Fitted { chosen, sequences, train_nll } => {
                let what = match chosen.as_ref() {
                    Placer::Rule(Insertion::None, _) => "no thoughts".to_string(),
                    other => other.describe(),
                };
                format!("{what}; fitted on {sequences} training sequences (NLL {train_nll:.4})")
            }
        }
    }
}

/// Resolve a [`Placer::Fit`] on `train` (other placers are returned as they are): every candidate places and
/// scores the first `sequences` training sequences; the lowest real-token NLL wins, ties to the earlier (fewer
/// thoughts) candidate.
pub fn fit(model: &dyn CausalLm, placer: Placer, train: Option<&Dataset>) -> anyhow::Result<Placer> {
    let Placer::Fit { ep, sequences } = placer else { return Ok(placer) };
    let train = train.ok_or_else(|| anyhow::anyhow!("`fit_threshold` needs the training data to fit on"))?;
    let mut candidates = vec![Placer::Rule(Insertion::None, 0)];
    candidates.extend(FIT_CANDIDATES.iter().map(|&t| Placer::Own(own_policy(&ep, Some(t)))));
    candidates.push(Placer::Own(Policy { threshold: None, ..own_policy(&ep, None) }));
    let mut best: Option<(Placer, f64)> = None;
    for cand in candidates {
        let nll = evaluate_with(model, train, &cand, Some(sequences))?.real_nll;
        if best.as_ref().is_none_or(|(_, b)| nll < *b) {
            best = Some((cand, nll));
        }
    }
    let (chosen, train_nll) = best.ok_or_else(|| anyhow::anyhow!("no candidate placement"))?;
    Ok(Placer::Fitted { chosen: Box::new(chosen), sequences, train_nll })
}

/// The model's own fast-forward policy under `ep`: top-1, or `p(thought) > threshold` (the given one, else the
/// insertion's), within `max_consecutive` and `thought_budget`.
pub fn own_policy(ep: &EpisodeConfig, threshold: Option<f64>) -> Policy {
    let (threshold_ff, max_consecutive) = match &ep.insertion {
        Insertion::FastForward { threshold, max_consecutive, .. } => (*threshold, *max_consecutive),
        _ => (None, 1),
    };
    Policy {
        threshold: threshold.or(threshold_ff),
        max_consecutive,
        budget: ep.thought_budget,
        blocked: vec![],
        slots: ep.slots,
        first_slots: vec![],
        end_slots: vec![],
    }
}

/// A baseline rule as spec text.
pub fn rule_name(rule: &Insertion) -> String {
    match rule {
        Insertion::None => "none()".into(),
        Insertion::Random { per_sequence } => format!("random(per_sequence = {per_sequence})"),
        Insertion::Interval { every } => format!("interval(every = {every})"),
        Insertion::AnswerPause { count } => format!("answer_pause(count = {count})"),
        Insertion::Dit { count } => format!("dit(count = {count})"),
        Insertion::FastForward { .. } => "fast_forward()".into(),
    }
}

/// Prompt lengths when every sequence has one (answer tasks), for `answer_pause`.
pub fn prompt_lens(seqs: &[&Sequence]) -> Option<Vec<usize>> {
    seqs.iter().map(|s| s.answer).collect()
}

/// Place thoughts in `seqs` with `placer`. Each sequence's placement depends only on its own tokens (and, for
/// `Own` and `Rule`, only on the prefix before each slot).
pub fn place(
    model: &dyn CausalLm,
    seqs: &[&Sequence],
    placer: &Placer,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Placement>> {
    let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
    match placer {
        Placer::Fitted { chosen, .. } => place(model, seqs, chosen, rng),
        Placer::Fit { .. } => anyhow::bail!("a `fit_threshold` placement must be fitted on training data first"),
        Placer::Own(policy) => {
            let policy = policy.for_rows(seqs.iter().map(|s| s.answer));
            Ok(fast_forward(model, &tokens, None, &policy, default_chunk(model.device()))?
                .0
                .into_iter()
                .map(|s| s.placement)
                .collect())
        }
        Placer::Rule(Insertion::None, _) => Ok(tokens.iter().map(|x| Placement::empty(x.len())).collect()),
        Placer::Rule(rule, _) => {
            let prompts = prompt_lens(seqs);
            let plain = if matches!(rule, Insertion::Dit { .. }) {
                let empty: Vec<Placement> = tokens.iter().map(|x| Placement::empty(x.len())).collect();
                Some(score(model, &tokens, &empty, default_chunk(model.device()))?.0)
            } else {
                None
            };
            tokens
                .iter()
                .enumerate()
                .map(|(b, x)| {
                    let input = BaselineInput {
                        prompt_len: prompts.as_ref().map(|p| p[b]),
                        ll: plain.as_ref().map(|s| s[b].ll.as_slice()),
                    };
                    baselines::place(rule, x.len(), input, rng)
                })
                .collect()
        }
        Placer::Oracle(cfg, _) => {
            let prompts = prompt_lens(seqs);
            let input = EpisodeInput { tokens: &tokens, prompt_lens: prompts.as_deref(), start: None };
            Ok(run_episode(model, input, cfg, default_chunk(model.device()), rng)?
                .sequences
                .into_iter()
                .map(|s| s.placement)
                .collect())
        }
    }
}

/// Evaluate a trained run's model on `data` the way its plan says; `train` is where a `fit_threshold` placement
/// is fitted (only there).
pub fn evaluate_run(
    model: &dyn CausalLm,
    data: &Dataset,
    params: &RunParams,
    max_sequences: Option<usize>,
    train: Option<&Dataset>,
) -> anyhow::Result<EvalReport> {
    let placer = fit(model, Placer::for_run(params), train)?;
    evaluate_with(model, data, &placer, max_sequences)
}

/// [`evaluate_run`], and from the same placements where thoughts go ([`ThoughtMap`], `per_group` examples of each
/// data group): one placement pass for both.
pub fn evaluate_run_mapped(
    model: &dyn CausalLm,
    data: &Dataset,
    params: &RunParams,
    max_sequences: Option<usize>,
    train: Option<&Dataset>,
    per_group: usize,
    tokenizer: &crate::engine::data::Tokenizer,
) -> anyhow::Result<(EvalReport, ThoughtMap)> {
    let placer = fit(model, Placer::for_run(params), train)?;
    let mut map = MapCollector::new(per_group, tokenizer);
    let report = evaluate_collecting(model, data, &placer, max_sequences, Some(&mut map))?;
    Ok((report, map.finish(&placer)))
}

/// Evaluate `model` on the first `max_sequences` sequences of `data` with thoughts placed by `placer`.
pub fn evaluate_with(
    model: &dyn CausalLm,
    data: &Dataset,
    placer: &Placer,
    max_sequences: Option<usize>,
) -> anyhow::Result<EvalReport> {
    evaluate_collecting(model, data, placer, max_sequences, None)
}

/// [`evaluate_with`], handing every placed sequence to `map` too.
fn evaluate_collecting(
    model: &dyn CausalLm,
    data: &Dataset,
    placer: &Placer,
    max_sequences: Option<usize>,
    mut map: Option<&mut MapCollector>,
) -> anyhow::Result<EvalReport> {
    let n = max_sequences.map_or(data.sequences.len(), |m| m.min(data.sequences.len()));
    // The same evaluation placement at every evaluation of a run.
    let mut rng = Rng::derive(placement_seed(placer), "eval-placement");
    let mut sums = GroupedSums::default();
    for chunk in data.sequences[..n].chunks(EVAL_BATCH) {
        let seqs: Vec<&Sequence> = chunk.iter().collect();
        let placements = place(model, &seqs, placer, &mut rng)?;
        let figures = score_batch(model, &seqs, &placements)?;
        for (i, seq) in chunk.iter().enumerate() {
            let scored = (figures.nll[i], figures.n_tokens[i]);
            sums.add(seq, scored, figures.right[i], figures.first_guess[i], placements[i].total());
            if let Some(map) = map.as_deref_mut() {
                map.add(seq, &placements[i]);
            }
        }
    }
    let (real, thoughts) = (sums.all.real_tokens.max(1) as f64, sums.all.thoughts as f64);
    let figures = ThoughtFigures {
        thoughts_per_100: 100.0 * thoughts / real,
        positions_per_real_token: (real + thoughts) / real,
        thoughts_per_example: thoughts / sums.all.n_sequences.max(1) as f64,
        placement: placer.describe(),
    };
    EvalReport::from_sums(&data.name, &sums, Some(figures))
}

/// The seed of a placer's random choices (a rule's or the oracle's; the own policy makes none).
pub fn placement_seed(placer: &Placer) -> u64 {
    match placer {
        Placer::Rule(_, s) | Placer::Oracle(_, s) => *s,
        Placer::Fitted { chosen, .. } => placement_seed(chosen),
        Placer::Own(_) | Placer::Fit { .. } => 0,
    }
}

/// Figures of one batch under fixed placements, per sequence.
struct BatchFigures {
    nll: Vec<f64>,
    n_tokens: Vec<usize>,
    /// Per sequence: greedy decoding gets every answer token right (true without an answer).
    right: Vec<bool>,
    /// Per sequence: the first answer token greedy decoding gives (`None` without an answer).
    first_guess: Vec<Option<u32>>,
}

/// One teacher-forced forward over the augmented sequences: NLL of scored real targets, and per sequence whether
/// the best non-thought token is right at every answer token.
fn score_batch(model: &dyn CausalLm, seqs: &[&Sequence], placements: &[Placement]) -> anyhow::Result<BatchFigures> {
    let streams: Vec<Vec<u32>> = seqs.iter().zip(placements).map(|(s, p)| p.augment(&s.tokens)).collect();
    let t = streams.iter().map(|s| s.len().saturating_sub(1)).max().unwrap_or(0).max(1);
    let mut inputs = vec![PAD_ID; streams.len() * t];
    for (b, s) in streams.iter().enumerate() {
        for (p, &tok) in s.iter().take(s.len().saturating_sub(1)).enumerate() {
            inputs[b * t + p] = tok;
        }
    }
    let inputs = Tensor::from_vec(inputs, (streams.len(), t), model.device())?;
    let logits = model.forward_inference(&inputs)?.logits;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    // to_vec copies to the host: once per evaluation batch.
    let logp: Vec<Vec<Vec<f32>>> = logp.to_vec3()?;
    let n = seqs.len();
    let mut out = BatchFigures {
        nll: Vec::with_capacity(n),
        n_tokens: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        first_guess: Vec::with_capacity(n),
    };
    for (b, (seq, placement)) in seqs.iter().zip(placements).enumerate() {
        let (mut right, mut nll, mut n_tokens, mut first_guess) = (true, 0f64, 0usize, None);
        for (p, row) in logp[b].iter().enumerate().take(streams[b].len().saturating_sub(1)) {
            let (s, j) = placement.item_at(p + 1);
            if j < usize::from(placement.counts[s]) {
                continue; // a thought target: never a real token
            }
            let target = seq.tokens[s] as usize;
            if seq.is_target(s) {
                nll -= f64::from(row[target]);
                n_tokens += 1;
            }
            if seq.is_answer(s) {
                let guess = best_real(row);
                first_guess = first_guess.or(Some(guess as u32));
                right &= guess == target;
            }
        }
        out.right.push(right);
        out.first_guess.push(first_guess);
        out.nll.push(nll);
        out.n_tokens.push(n_tokens);
    }
    Ok(out)
}

/// The most likely token other than the thought (thoughts are hidden from the output).
fn best_real(row: &[f32]) -> usize {
    let mut best = (usize::MAX, f32::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if i != THOUGHT_ID as usize && v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_real_skips_the_thought() {
        let mut row = vec![0.0f32; 260];
        row[THOUGHT_ID as usize] = 5.0;
        row[7] = 1.0;
        assert_eq!(best_real(&row), 7);
    }

    #[test]
    fn rule_names_are_spec_text() {
        assert_eq!(rule_name(&Insertion::Random { per_sequence: 8 }), "random(per_sequence = 8)");
        assert_eq!(rule_name(&Insertion::AnswerPause { count: 4 }), "answer_pause(count = 4)");
    }
}
