//! Runs many rows' walks through the model together: the cached, chunked driver (the fast path) and the
//! recompute-from-scratch driver (the naive reference).
//!
//! Chunked: every row feeds up to `chunk` planned items at its own position in one `forward_chunk` call; a row
//! whose walk inserts a thought keeps only the positions up to the insertion and is cut back there, so the
//! prefix's KV cache is never recomputed. Rows that finish leave the working batch at once (the cache's view
//! narrows to the unfinished rows; nothing is copied), so no compute is spent on them.

use candle_core::Tensor;

use super::stats::{position_stats, PosStat};
use super::walk::Walk;
use crate::engine::model::{CausalLm, KvCache};
use crate::engine::profile::{timed, Phase};
use crate::plan::PAD_ID;

/// Teacher-forced passes (no insertions) use chunks this many times wider than the fast-forward's.
pub const SCORE_CHUNK_FACTOR: usize = 4;

/// Work done by one drive, in positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveCost {
    /// Model calls.
    pub calls: usize,
    /// Positions computed for real tokens and thoughts, padding excluded (positions computed and then cut back
    /// after an insertion count: they were computed). Every figure of compute in the project counts this way.
    pub positions: usize,
}

/// Advance every walk to its end with the cached chunked forward. Row `b` of `cache` belongs to `walks[b]` and
/// must hold exactly `walks[b].fed` positions of its stream.
pub fn drive_cached(
    model: &dyn CausalLm,
    cache: &mut KvCache,
    walks: &mut [Walk],
    chunk: usize,
) -> anyhow::Result<DriveCost> {
    anyhow::ensure!(chunk > 0, "the fast-forward chunk must be at least 1 position");
    // Without a policy nothing is ever cut back, so wider chunks waste nothing but tail padding and save calls.
    let chunk = if walks.iter().all(|w| w.policy.is_none()) { chunk * SCORE_CHUNK_FACTOR } else { chunk };
    cache.reset_view();
    anyhow::ensure!(cache.batch() == walks.len(), "a cache of {} rows for {} sequences", cache.batch(), walks.len());
    let mut cost = DriveCost::default();
    // `ids[i]`: the walk (and stored cache row) in row i of the working batch: the unfinished walks, in order.
    let mut ids: Vec<usize> = (0..walks.len()).collect();
    let mut drive = || -> anyhow::Result<()> {
        loop {
            let live: Vec<usize> = ids.iter().copied().filter(|&id| !walks[id].done()).collect();
            if live.is_empty() {
                return Ok(());
            }
            if live.len() < ids.len() {
                // Finished rows leave the working batch: the cache's view narrows, no row is copied.
                timed(Phase::Compact, || cache.set_view(&live))?;
                ids = live;
            }
            step(model, cache, walks, &ids, chunk, &mut cost)?;
        }
    };
    let done = drive();
    cache.reset_view();
    done.map(|()| cost)
}

/// One chunk for the rows `ids` (row i of `work` belongs to `walks[ids[i]]`).
fn step(
    model: &dyn CausalLm,
    work: &mut KvCache,
    walks: &mut [Walk],
    ids: &[usize],
    chunk: usize,
    cost: &mut DriveCost,
) -> anyhow::Result<()> {
    let n = ids.len();
    let mut tokens = vec![PAD_ID; n * chunk];
    let mut targets = vec![PAD_ID; n * chunk];
    let mut valid = vec![0usize; n];
    let thought_first = model.continuous_thoughts();
    timed(Phase::Decide, || {
        for (i, &id) in ids.iter().enumerate() {
            let at = i * chunk;
            let (tok, tgt) = (&mut tokens[at..at + chunk], &mut targets[at..at + chunk]);
            valid[i] = walks[id].plan_with(chunk, tok, tgt, thought_first);
        }
    });
    // Narrow the chunk to the longest plan so that tails cost no padding.
    let c = valid.iter().copied().max().unwrap_or(0).max(1);
    let squeeze = |v: &[u32]| -> Vec<u32> { v.chunks_exact(chunk).flat_map(|r| r[..c].iter().copied()).collect() };
    let device = model.device();
    let tok = Tensor::from_vec(squeeze(&tokens), (n, c), device)?;
    let out = timed(Phase::Model, || model.forward_chunk(&tok, &valid, work))?;
    let stats = timed(Phase::Stats, || position_stats(&out.logits, &squeeze(&targets)))?;
    cost.calls += 1;
    cost.positions += valid.iter().sum::<usize>();
    timed(Phase::Decide, || -> anyhow::Result<()> {
        for (i, &id) in ids.iter().enumerate() {
            let walk = &mut walks[id];
            let before = walk.fed;
            let kept = walk.accept(&stats[i * c..i * c + valid[i]]);
            if kept < valid[i] {
                work.truncate(i, before + kept)?;
            }
        }
        Ok(())
    })
}

/// The naive reference: after every insertion, recompute the whole augmented stream of every unfinished row
/// from scratch (one full forward per round of insertions); decisions are taken from the walk's position on.
pub fn drive_naive(model: &dyn CausalLm, walks: &mut [Walk]) -> anyhow::Result<DriveCost> {
    let mut cost = DriveCost::default();
    loop {
        let live: Vec<usize> = (0..walks.len()).filter(|&b| !walks[b].done()).collect();
        if live.is_empty() {
            return Ok(cost);
        }
        let streams: Vec<Vec<u32>> = live.iter().map(|&b| walks[b].placement.augment(&walks[b].real)).collect();
        let t = streams.iter().map(Vec::len).max().unwrap_or(1);
        let mut tokens = vec![PAD_ID; live.len() * t];
        let mut targets = vec![PAD_ID; live.len() * t];
        for (i, s) in streams.iter().enumerate() {
            tokens[i * t..i * t + s.len()].copy_from_slice(s);
            targets[i * t..i * t + s.len() - 1].copy_from_slice(&s[1..]);
        }
        let device = model.device();
        let tok = Tensor::from_vec(tokens, (live.len(), t), device)?;
        let out = model.forward_inference(&tok)?;
        let stats: Vec<PosStat> = position_stats(&out.logits, &targets)?;
        cost.calls += 1;
        cost.positions += streams.iter().map(Vec::len).sum::<usize>();
        for (i, &b) in live.iter().enumerate() {
            let walk = &mut walks[b];
            // Positions fed..len-1 (the last item, x[L-1], predicts nothing).
            let end = streams[i].len() - 1;
            walk.accept(&stats[i * t + walk.fed..i * t + end]);
        }
    }
}
