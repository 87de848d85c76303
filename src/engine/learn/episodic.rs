//! The episodic learning step (DESIGN.md, "Learning phase"): for a plan with thoughts, each optimiser step places
//! thoughts in the batch's real sequences, builds the augmented batch ([`crate::engine::learn::layout`]) and takes one AdamW step
//! on `real + reinforce · CE(thought at kept) + punish · unlikelihood(thought at culled)`.
//!
//! Placement per step:
//! - `fast_forward(..)`: every `episode.every` steps the episode phase runs on the batch, in groups of
//!   `episode.samples` sequences (culling compares the proposals of a group), and its kept thoughts are
//!   reinforced and its culled ones punished. On the steps in between, the model's own fast-forward placement
//!   (its policy so far, no rounds, no scores) stands in and only the real-token loss applies.
//! - baselines (`random`, `interval`, `answer_pause`, `dit`): the rule's placement every step, real-token loss only
//!   (the thoughts are extra positions, not a policy to learn; evaluation places them by the same rule).
//!
//! The real-token loss of an episode step is computed on the kept placement (`learn.real_loss = kept`, DESIGN.md),
//! on the model's own placement in one more pass (`own`), or as the mean of `own` and a pass without thoughts
//! (`own_and_plain`, on every step of a `fast_forward` run; `kept_and_plain` averages the kept placement's loss
//! with it), or only without thoughts (`plain`, an ablation).
//!
//! With `episode.warmup_steps = W` the first W steps are placed by the warm-up's rule as a baseline's are (real-token
//! loss only, no episode), and the episode phase takes over from step W + 1.
//!
//! Each step appends one line to `episodes.jsonl` in the run folder: the three loss terms, the episode statistics
//! (proposed / kept / culled, mean gains, share placed by the model vs the fallback), thoughts per 100 real tokens
//! and the positions processed so far (episode phase plus learning phase), so the transition from
//! fallback-carried training to the model's own placements is visible.

use std::io::Write;
use std::path::Path;

use candle_core::DType;
use serde_json::json;

use super::layout::{build_batch, losses, Example, ThoughtBatch};
use super::trainer::{StepStats, Trainer};
use super::unroll::forward_unrolled;
use crate::engine::data::{Dataset, Sampler, Sequence};
use crate::engine::episode::fast_forward::{fast_forward, thought_inputs};
use crate::engine::episode::{default_chunk, run_episode, EpisodeInput, Placement, RoundStats, Thought};
use crate::engine::eval::placer::{self, Placer};
use crate::engine::rng::Rng;
use crate::plan::{Insertion, RealLoss, RunParams, ThoughtNorm};

/// The episodic learning state of one run.
pub struct Episodic {
    params: RunParams,
    log: std::fs::File,
    /// Positions processed so far (episode phase and learning phase, padding excluded in the latter).
    positions: u64,
    /// Whether the model already placed a thought itself in some episode (the log marks the first time).
    model_placed: bool,
}

/// What the placement of one micro-batch produced.
struct Placed {
    placements: Vec<Placement>,
    culled: Vec<Vec<Thought>>,
    reinforce: bool,
    rounds: Vec<RoundStats>,
    episode_positions: usize,
    kept: usize,
}

impl Episodic {
    /// The episodic state for a run with thoughts, or `None` for `insertion = none()` (plain training).
    pub fn for_run(params: &RunParams, run_dir: &Path, step: usize) -> anyhow::Result<Option<Self>> {
        if params.episode.insertion == Insertion::None {
            return Ok(None);
        }
        let path = run_dir.join("episodes.jsonl");
        // On resume keep the lines up to the checkpoint's step.
        let kept: String = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| line_step(l).is_some_and(|s| s <= step && step > 0))
            .map(|l| format!("{l}\n"))
            .collect();
        let positions = kept.lines().last().and_then(|l| line_u64(l, "positions")).unwrap_or(0);
        std::fs::write(&path, &kept)?;
        let log = std::fs::OpenOptions::new().append(true).open(&path)?;
        Ok(Some(Self { params: params.clone(), log, positions, model_placed: false }))
    }

    /// Positions processed so far.
    pub fn positions(&self) -> u64 {
        self.positions
    }

    /// One optimiser step (`step` is 0-based) over `learn.accumulate` micro-batches drawn from `sampler`.
    pub fn step(
        &mut self,
        trainer: &mut Trainer,
        step: usize,
        train: &Dataset,
        sampler: &mut Sampler,
        rng: &mut Rng,
    ) -> anyhow::Result<StepStats> {
        let learn = self.params.learn.clone();
        let micro_n = learn.accumulate.max(1);
        let mut grads = trainer.zero_grads();
        let (mut total, mut terms, mut real_tokens) = (0f64, [0f64; 3], 0usize);
        let (mut rounds, mut kept, mut culled, mut real_in_batch, mut ep_pos) = (Vec::new(), 0, 0, 0, 0);
        let mut episode_ran = false;
        let is_ff = matches!(self.insertion_at(step), Insertion::FastForward { .. });
        for _ in 0..micro_n {
            let indices = sampler.next_batch(learn.batch);
            let seqs: Vec<&Sequence> = indices.iter().map(|&i| &train.sequences[i]).collect();
            let placed = self.place(trainer, &seqs, step, rng)?;
            episode_ran |= !placed.rounds.is_empty();
            let examples: Vec<Example<'_>> = seqs
                .iter()
                .enumerate()
                .map(|(b, s)| Example {
                    sequence: s,
                    placement: &placed.placements[b],
                    culled: &placed.culled[b],
                    reinforce: placed.reinforce,
                })
                .collect();
            let batch = build_batch(&examples, trainer.built.model.device())?;
            let (logits, warm_cost, passes) =
                learning_logits(trainer, &self.params, &seqs, &placed.placements, &batch)?;
            ep_pos += warm_cost;
            self.positions += warm_cost as u64;
            let mut l = losses(&logits, &batch)?;
            if learn.thought_norm == ThoughtNorm::PerRealToken {
                // From means over thought targets to sums over them per real target of the batch (the same
                // sequences have the same real targets under every placement).
                let per_real = |n: usize| n as f64 / batch.n_real.max(1) as f64;
                l.reinforce = (l.reinforce * per_real(batch.n_kept))?;
                l.punish = (l.punish * per_real(batch.n_culled))?;
            }
            let mut real_batch = None;
            if placed.reinforce && matches!(learn.real_loss, RealLoss::Own | RealLoss::OwnAndPlain) {
                // The kept placement gives only the thought targets; the real tokens are learned under the
                // model's own placement, which (unlike the kept one) cannot encode the continuation.
                let (own, cost) = self.own_placements(trainer, &seqs)?;
                ep_pos += cost;
                let (real, own_batch, warm_cost, own_passes) = real_loss_under(trainer, &self.params, &seqs, &own)?;
                l.real = real;
                ep_pos += warm_cost;
                self.positions += (cost + warm_cost + 3 * own_passes * own_batch.positions) as u64;
                real_batch = Some(own_batch);
            }
            // Between episodes the `plain` ablation's batch is already the plain one (see `place`).
            let plain_pass = match learn.real_loss {
                RealLoss::OwnAndPlain | RealLoss::KeptAndPlain => true,
                RealLoss::Plain => placed.reinforce,
                _ => false,
            };
            if is_ff && plain_pass {
                // The same sequences without thoughts: the model must stay competent without them (or, for the
                // `plain` ablation, learns the real tokens only there).
                let empty: Vec<Placement> = seqs.iter().map(|s| Placement::empty(s.tokens.len())).collect();
                let (plain, plain_batch, _, _) = real_loss_under(trainer, &self.params, &seqs, &empty)?;
                l.real = match learn.real_loss {
                    RealLoss::Plain => plain,
                    _ => ((&l.real + plain)? * 0.5)?,
                };
                self.positions += (3 * plain_batch.positions) as u64;
                if learn.real_loss == RealLoss::Plain {
                    real_batch = Some(plain_batch);
                }
            }
            let n_real = real_batch.as_ref().map_or(batch.n_real, |b| b.n_real);
            let loss = (l.total(learn.reinforce, learn.punish)? / micro_n as f64)?;
            for (acc, t) in terms.iter_mut().zip([&l.real, &l.reinforce, &l.punish]) {
                // to_scalar copies to the host: three scalars per micro-batch.
                *acc += f64::from(t.to_dtype(DType::F32)?.to_scalar::<f32>()?) / micro_n as f64;
            }
            total += f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
            trainer.accumulate(&mut grads, &loss)?;
            real_tokens += n_real;
            real_in_batch += seqs.iter().map(|s| s.tokens.len()).sum::<usize>();
            kept += placed.kept;
            culled += placed.culled.iter().map(Vec::len).sum::<usize>();
            ep_pos += placed.episode_positions;
            // The backward pass costs about two forwards: count the learning phase as 3 × its positions.
            self.positions += (placed.episode_positions + 3 * passes * batch.positions) as u64;
            rounds.extend(placed.rounds);
        }
        let (grad_norm, lr) = trainer.apply(step, grads)?;
        self.log_step(step + 1, terms, &rounds, episode_ran, kept, culled, real_in_batch, ep_pos)?;
        Ok(StepStats { loss: total, lr, grad_norm, tokens: real_tokens })
    }

    /// Place thoughts in one micro-batch: the episode phase, the model's own policy between episodes, or a rule.
    fn place(&mut self, trainer: &Trainer, seqs: &[&Sequence], step: usize, rng: &mut Rng) -> anyhow::Result<Placed> {
        let model = trainer.built.model.as_ref();
        let ep = &self.params.episode;
        let insertion = self.insertion_at(step);
        let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
        let mut placed = Placed {
            placements: Vec::with_capacity(seqs.len()),
            culled: Vec::with_capacity(seqs.len()),
            reinforce: false,
            rounds: Vec::new(),
            episode_positions: 0,
            kept: 0,
        };
        let is_ff = matches!(insertion, Insertion::FastForward { .. });
        if is_ff && step % ep.every.max(1) != 0 {
            // Between episodes the real tokens are learned under the model's own placement so far, or, for the
            // `plain` ablation, without thoughts (no fast-forward needed).
            let (own, cost) = match self.params.learn.real_loss {
                RealLoss::Plain => (seqs.iter().map(|s| Placement::empty(s.tokens.len())).collect(), 0),
                _ => self.own_placements(trainer, seqs)?,
            };
            placed.episode_positions = cost;
            placed.kept = own.iter().map(Placement::total).sum();
            placed.culled = vec![Vec::new(); own.len()];
            placed.placements = own;
            return Ok(placed);
        }
        if !is_ff && !matches!(insertion, Insertion::Dit { .. }) {
            // Pure rules need no model pass.
            let placements = placer::place(model, seqs, &Placer::Rule(insertion.clone(), 0), rng)?;
            placed.kept = placements.iter().map(Placement::total).sum();
            placed.culled = vec![Vec::new(); seqs.len()];
            placed.placements = placements;
            return Ok(placed);
        }
        placed.reinforce = is_ff;
        let prompts = placer::prompt_lens(seqs);
        let group = if is_ff { ep.samples.max(1) } else { seqs.len().max(1) };
        for (g, chunk) in tokens.chunks(group).enumerate() {
            let prompt_lens = prompts.as_ref().map(|p| &p[g * group..g * group + chunk.len()]);
            let input = EpisodeInput { tokens: chunk, prompt_lens, start: None };
            let out = run_episode(model, input, ep, default_chunk(model.device()), rng)?;
            placed.episode_positions += out.positions;
            placed.rounds.extend(out.rounds);
            for s in out.sequences {
                placed.kept += s.kept.len();
                placed.placements.push(s.placement);
                placed.culled.push(s.culled);
            }
        }
        Ok(placed)
    }

    /// How 0-based step `step` places thoughts: the warm-up's rule on its steps, else the run's insertion.
    fn insertion_at(&self, step: usize) -> &Insertion {
        let ep = &self.params.episode;
        if ep.warmup.covers(step) {
            &ep.warmup.rule
        } else {
            &ep.insertion
        }
    }

    /// The model's own fast-forward placement of `seqs` (its policy so far: no rounds, no scores), and the
    /// positions it computed.
    fn own_placements(&self, trainer: &Trainer, seqs: &[&Sequence]) -> anyhow::Result<(Vec<Placement>, usize)> {
        let model = trainer.built.model.as_ref();
        let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
        let policy = placer::own_policy(&self.params.episode, None).for_rows(seqs.iter().map(|s| s.answer));
        let (scored, cost) = fast_forward(model, &tokens, None, &policy, default_chunk(model.device()))?;
        Ok((scored.into_iter().map(|s| s.placement).collect(), cost.positions))
    }

    /// Append the step's line to `episodes.jsonl`.
    #[allow(clippy::too_many_arguments)]
    fn log_step(
        &mut self,
        step: usize,
        terms: [f64; 3],
        rounds: &[RoundStats],
        episode_ran: bool,
        kept: usize,
        culled: usize,
        real: usize,
        episode_positions: usize,
    ) -> anyhow::Result<()> {
        let sum = |f: fn(&RoundStats) -> usize| rounds.iter().map(f).sum::<usize>();
        let (proposed, by_model, by_fallback) = (sum(|r| r.proposed), sum(|r| r.by_model), sum(|r| r.by_fallback));
        let mean = |f: fn(&RoundStats) -> Option<f32>, n: fn(&RoundStats) -> usize| {
            let (s, c) = rounds.iter().fold((0f64, 0usize), |(s, c), r| match f(r) {
                Some(g) => (s + f64::from(g) * n(r) as f64, c + n(r)),
                None => (s, c),
            });
            (c > 0).then(|| s / c as f64)
        };
        let first_own = by_model > 0 && !self.model_placed;
        self.model_placed |= by_model > 0;
        let mut line = json!({
            "step": step,
            "loss_real": terms[0], "loss_reinforce": terms[1], "loss_punish": terms[2],
            "episode": episode_ran,
            "proposed": proposed, "kept": kept, "culled": culled,
            "mean_gain_kept": mean(|r| r.mean_gain_kept, |r| r.kept),
            "mean_gain_culled": mean(|r| r.mean_gain_culled, |r| r.culled),
            "by_model": by_model, "by_fallback": by_fallback,
            "share_by_model": (proposed > 0).then(|| by_model as f64 / proposed as f64),
            "first_own_placement": first_own,
            "thoughts_per_100": 100.0 * kept as f64 / real.max(1) as f64,
            "episode_positions": episode_positions,
            "positions": self.positions,
        });
        if !self.params.episode.warmup.is_off() {
            // `step` counts from 1 here.
            line["warmup"] = json!(self.params.episode.warmup.covers(step - 1));
        }
        writeln!(self.log, "{line}")?;
        Ok(())
    }
}

/// The learning forward's logits over `batch` (laid out from `seqs` under `placements`): one pass, or with continuous
/// thoughts `learn.unroll` passes from the warm start, a cached teacher-forced pass over the placements whose
/// positions are returned (the episode phase's compute), and the number of passes.
fn learning_logits(
    trainer: &Trainer,
    params: &RunParams,
    seqs: &[&Sequence],
    placements: &[Placement],
    batch: &ThoughtBatch,
) -> anyhow::Result<(candle_core::Tensor, usize, usize)> {
    let model = trainer.built.model.as_ref();
    if !model.continuous_thoughts() || placements.iter().all(|p| p.total() == 0) {
        return Ok((model.forward(&batch.inputs)?.logits, 0, 1));
    }
    let width = params.model.width();
    let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
    let (warm, t, cost) = thought_inputs(model, &tokens, placements, width, default_chunk(model.device()))?;
    let (b, bt) = batch.inputs.dims2()?;
    anyhow::ensure!(bt == t, "the warm start covers {t} positions, the batch {bt}");
    let warm = candle_core::Tensor::from_vec(warm, (b, t, width), model.device())?;
    let out = forward_unrolled(model, &batch.inputs, params.learn.unroll, Some(&warm))?;
    Ok((out.logits, cost.positions, params.learn.unroll.max(1)))
}

/// The real-token loss of `seqs` under `placements` (no thought targets), the batch it was computed on, and the
/// warm start's positions and the learning passes (continuous thoughts).
fn real_loss_under(
    trainer: &Trainer,
    params: &RunParams,
    seqs: &[&Sequence],
    placements: &[Placement],
) -> anyhow::Result<(candle_core::Tensor, ThoughtBatch, usize, usize)> {
    let none = Vec::new();
    let examples: Vec<Example<'_>> = seqs
        .iter()
        .zip(placements)
        .map(|(s, p)| Example { sequence: s, placement: p, culled: &none, reinforce: false })
        .collect();
    let batch = build_batch(&examples, trainer.built.model.device())?;
    let (logits, warm_cost, passes) = learning_logits(trainer, params, seqs, placements, &batch)?;
    Ok((losses(&logits, &batch)?.real, batch, warm_cost, passes))
}

fn line_step(line: &str) -> Option<usize> {
    line_u64(line, "step").map(|s| s as usize)
}

fn line_u64(line: &str, key: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?.get(key)?.as_u64()
}
