//! The model's own placement (fast-forward) and teacher-forced scoring of a fixed placement, each in the cached
//! chunked form and, for the fast-forward, the naive recompute-from-scratch reference.

use super::driver::{drive_cached, drive_naive, DriveCost};
use super::placement::Placement;
use super::walk::{Policy, SlotStat, Walk};
use crate::engine::model::CausalLm;
use crate::plan::THOUGHT_ID;

/// One sequence after a pass: its placement and the predictions under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub placement: Placement,
    /// Slots where the pass inserted a thought, in order of insertion (empty for teacher-forced scoring).
    pub inserted: Vec<usize>,
    /// `ll[s] = log p(x[s] | …)` for `s ≥ 1`; `ll[0] = 0`.
    pub ll: Vec<f32>,
    /// The thought's log-probability and rank at each slot's decision point (after the slot's thoughts).
    pub slots: Vec<SlotStat>,
}

impl Scored {
    /// `LL(x | T)`: the sum over real tokens.
    pub fn total_ll(&self) -> f64 {
        self.ll.iter().map(|&v| f64::from(v)).sum()
    }

    /// The per-token log-likelihoods a gain compares: `ll`, or with `renormalise` each real token's under the
    /// softmax without `<|thought|>` (`ll[0] = 0` either way).
    pub fn gain_lls(&self, renormalise: bool) -> std::borrow::Cow<'_, [f32]> {
        match renormalise {
            false => std::borrow::Cow::Borrowed(&self.ll),
            true => self.slots.iter().map(|st| st.real_lp).collect(),
        }
    }

    fn from_walk(w: Walk) -> Self {
        Self { placement: w.placement, inserted: w.inserted, ll: w.ll, slots: w.slots }
    }
}

/// Check a batch against the model before any work: non-empty sequences, known tokens, and room in the context
/// for `max_thoughts` thoughts per sequence.
pub fn validate(
    model: &dyn CausalLm,
    seqs: &[Vec<u32>],
    placements: Option<&[Placement]>,
    max_thoughts: usize,
) -> anyhow::Result<()> {
    let v = model.vocab_size();
    for (b, x) in seqs.iter().enumerate() {
        anyhow::ensure!(!x.is_empty(), "episode sequence {b} is empty");
        if let Some(&bad) = x.iter().find(|&&t| t as usize >= v) {
            anyhow::bail!("episode sequence {b} holds token {bad}, outside the model's vocabulary of {v}");
        }
        if let Some(at) = x.iter().position(|&t| t == THOUGHT_ID) {
            anyhow::bail!("episode sequence {b} holds the thought token at {at}: real sequences carry no thoughts");
        }
        let have = placements.map_or(0, |p| p[b].total());
        let need = x.len() + have.max(max_thoughts);
        anyhow::ensure!(
            need <= model.context(),
            "episode sequence {b}: {} real tokens plus up to {} thoughts exceed the model's context of {}",
            x.len(),
            have.max(max_thoughts),
            model.context()
        );
    }
    if let Some(p) = placements {
        anyhow::ensure!(p.len() == seqs.len(), "{} placements for {} sequences", p.len(), seqs.len());
        for (b, (pl, x)) in p.iter().zip(seqs).enumerate() {
            anyhow::ensure!(
                pl.len() == x.len() && pl.counts.first().is_none_or(|&c| c == 0),
                "placement {b} does not fit its sequence of {} real tokens",
                x.len()
            );
        }
    }
    Ok(())
}

fn walks(seqs: &[Vec<u32>], start: Option<&[Placement]>, policy: Option<&Policy>) -> Vec<Walk> {
    seqs.iter()
        .enumerate()
        .map(|(b, x)| {
            let p = start.map_or_else(|| Placement::empty(x.len()), |s| s[b].clone());
            Walk::new(x.clone(), p, policy.map(|pol| pol.row(b, x.len())))
        })
        .collect()
}

/// The model's own placement, cached and chunked: from `start` (or no thoughts), insert a thought wherever
/// `policy` says so, left to right, each insertion changing every later prediction.
pub fn fast_forward(
    model: &dyn CausalLm,
    seqs: &[Vec<u32>],
    start: Option<&[Placement]>,
    policy: &Policy,
    chunk: usize,
) -> anyhow::Result<(Vec<Scored>, DriveCost)> {
    validate(model, seqs, start, policy.budget)?;
    let mut ws = walks(seqs, start, Some(policy));
    let mut cache = model.new_cache(seqs.len())?;
    let cost = drive_cached(model, &mut cache, &mut ws, chunk)?;
    Ok((ws.into_iter().map(Scored::from_walk).collect(), cost))
}

/// The naive reference of [`fast_forward`]: one full forward of every unfinished sequence per insertion.
pub fn fast_forward_naive(
    model: &dyn CausalLm,
    seqs: &[Vec<u32>],
    start: Option<&[Placement]>,
    policy: &Policy,
) -> anyhow::Result<(Vec<Scored>, DriveCost)> {
    validate(model, seqs, start, policy.budget)?;
    let mut ws = walks(seqs, start, Some(policy));
    let cost = drive_naive(model, &mut ws)?;
    Ok((ws.into_iter().map(Scored::from_walk).collect(), cost))
}

/// Teacher-forced predictions under fixed placements (one cached pass, no insertions).
pub fn score(
    model: &dyn CausalLm,
    seqs: &[Vec<u32>],
    placements: &[Placement],
    chunk: usize,
) -> anyhow::Result<(Vec<Scored>, DriveCost)> {
    validate(model, seqs, Some(placements), 0)?;
    let mut ws = walks(seqs, Some(placements), None);
    let mut cache = model.new_cache(seqs.len())?;
    let cost = drive_cached(model, &mut cache, &mut ws, chunk)?;
    Ok((ws.into_iter().map(Scored::from_walk).collect(), cost))
}

/// With continuous thoughts, the inputs of every thought under `placements`, laid out for a (B, T) batch of the
/// augmented sequences (position p's vector at `[b][p]`; T = the longest stream), from one cached teacher-forced
/// pass: a thought's input is the cached final hidden state of the position before it. This is the learning
/// phase's warm start: computed without gradients, with the same weights, so a learning pass that takes it is
/// exact. Returns the (B, T, D) vectors flattened and the positions computed.
pub fn thought_inputs(
    model: &dyn CausalLm,
    seqs: &[Vec<u32>],
    placements: &[Placement],
    width: usize,
    chunk: usize,
) -> anyhow::Result<(Vec<f32>, usize, DriveCost)> {
    anyhow::ensure!(model.continuous_thoughts(), "thought inputs exist only with continuous thoughts");
    validate(model, seqs, Some(placements), 0)?;
    let mut ws = walks(seqs, Some(placements), None);
    let mut cache = model.new_cache(seqs.len())?;
    let cost = drive_cached(model, &mut cache, &mut ws, chunk)?;
    let streams: Vec<Vec<u32>> = seqs.iter().zip(placements).map(|(x, p)| p.augment(x)).collect();
    let t = streams.iter().map(|s| s.len().saturating_sub(1)).max().unwrap_or(0).max(1);
    let mut out = vec![0f32; seqs.len() * t * width];
    for (b, stream) in streams.iter().enumerate() {
        for (p, &tok) in stream.iter().enumerate().take(t).skip(1) {
            if tok != THOUGHT_ID {
                continue;
            }
            let h = cache
                .hidden(b, p - 1)
                .ok_or_else(|| anyhow::anyhow!("row {b}: no cached hidden state before the thought at {p}"))?;
            anyhow::ensure!(h.len() == width, "hidden states of {} floats, expected {width}", h.len());
            out[(b * t + p) * width..(b * t + p + 1) * width].copy_from_slice(h);
        }
    }
    Ok((out, t, cost))
}

/// Teacher-forced predictions recomputed from scratch with full forwards (the reference for gains).
pub fn score_naive(model: &dyn CausalLm, seqs: &[Vec<u32>], placements: &[Placement]) -> anyhow::Result<Vec<Scored>> {
    validate(model, seqs, Some(placements), 0)?;
    let mut ws = walks(seqs, Some(placements), None);
    drive_naive(model, &mut ws)?;
    Ok(ws.into_iter().map(Scored::from_walk).collect())
}
