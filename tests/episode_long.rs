//! The fast-forward against its naive reference at the benchmark's sequence length, on the kernels' path and on
//! the composite ops path (what CUDA runs).

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::{fast_forward, fast_forward_naive, score, score_naive};
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::Placement;
use thinktok::engine::model::{CausalLm, Gpt, KvCache, ModelOutput};
use thinktok::engine::rng::Rng;
use thinktok::plan::*;

fn sequences(seed: u64, lens: &[usize]) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    lens.iter().map(|&n| (0..n).map(|_| rng.below(256) as u32).collect()).collect()
}

/// A model that records the batch rows of every cached chunk call.
struct Recording<'a> {
    inner: &'a dyn CausalLm,
    rows: std::cell::RefCell<Vec<usize>>,
}

impl CausalLm for Recording<'_> {
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn context(&self) -> usize {
        self.inner.context()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn forward(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput> {
        self.inner.forward(tokens)
    }
    fn forward_inference(&self, tokens: &Tensor) -> candle_core::Result<ModelOutput> {
        self.inner.forward_inference(tokens)
    }
    fn new_cache(&self, batch: usize) -> candle_core::Result<KvCache> {
        self.inner.new_cache(batch)
    }
    fn forward_chunk(&self, tokens: &Tensor, valid: &[usize], cache: &mut KvCache) -> candle_core::Result<ModelOutput> {
        self.rows.borrow_mut().push(tokens.dim(0)?);
        self.inner.forward_chunk(tokens, valid, cache)
    }
}

/// The realistic size of `thinktok bench episode` (L = 256, past the attention kernels' 64-row query block) at a
/// cost CI affords: a 1-layer width-32 GPT, ragged rows. Cached == naive slot for slot, at a narrow chunk (many
/// insertions cut a chunk short: the cache row is truncated back to the insertion, and the positions computed
/// exceed the positions kept) and at a chunk wider than the query block. Rows finish far apart, so the working
/// batch is compacted: later chunk calls carry fewer rows. Teacher-forced scoring of the result (chunk 4 × 24,
/// also past the block) equals the naive scoring too.
#[test]
fn fast_forward_equals_naive_at_length_256_with_truncation_and_compaction() {
    fast_forward_at_length_256();
}

/// The same on the composite ops path (what CUDA runs: whole-tensor cache writes, the view's rows gathered).
#[test]
fn fast_forward_equals_naive_on_the_composite_path() {
    thinktok::engine::model::ops::with_composite_ops(fast_forward_at_length_256);
}

fn fast_forward_at_length_256() {
    let cfg = GptConfig { layers: 1, width: 32, heads: 4, context: 256 + 16, vocab_size: VOCAB_SIZE };
    let gpt = Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, 0).expect("gpt");
    let biased = ThoughtBias::new(&gpt, 0.3).expect("bias");
    let model = Recording { inner: &biased, rows: Default::default() };
    let lens = [256, 203, 130, 70, 33, 160, 12, 96];
    let seqs = sequences(21, &lens);
    let policy = Policy { threshold: None, max_consecutive: 2, budget: 16, blocked: vec![], ..Default::default() };
    let (naive, _) = fast_forward_naive(&model, &seqs, None, &policy).expect("naive");
    let fed: usize = naive.iter().map(|r| r.placement.len() + r.placement.total() - 1).sum();
    let inserted: Vec<usize> = naive.iter().map(|r| r.inserted.len()).collect();
    assert!(inserted.iter().filter(|&&k| k >= 8).count() >= 6, "most rows insert many thoughts: {inserted:?}");
    for chunk in [8, 96] {
        model.rows.borrow_mut().clear();
        let (fast, cost) = fast_forward(&model, &seqs, None, &policy, chunk).expect("fast");
        for (b, (f, n)) in fast.iter().zip(&naive).enumerate() {
            assert_eq!(f.placement, n.placement, "chunk {chunk}, row {b}");
            assert_eq!(f.inserted, n.inserted, "chunk {chunk}, row {b}");
            for (s, (a, c)) in f.ll.iter().zip(&n.ll).enumerate() {
                assert!((a - c).abs() < 1e-4, "chunk {chunk}, row {b}, token {s}: ll {a} vs {c}");
            }
        }
        // Insertions discard the rest of their chunk: more positions computed than kept.
        assert!(cost.positions > fed, "chunk {chunk}: {cost:?} for {fed} positions kept");
        let rows = model.rows.borrow();
        assert_eq!(rows.first(), Some(&lens.len()), "chunk {chunk}");
        assert!(rows.windows(2).all(|w| w[1] <= w[0]), "chunk {chunk}: rows per call {rows:?}");
        let sizes: std::collections::BTreeSet<usize> = rows.iter().copied().collect();
        assert!(sizes.len() >= 4 && rows.last() < Some(&3), "chunk {chunk}: hardly compacted: {rows:?}");
    }
    let placements: Vec<Placement> = naive.iter().map(|r| r.placement.clone()).collect();
    let (scored, _) = score(&model, &seqs, &placements, 24).expect("score");
    let reference = score_naive(&model, &seqs, &placements).expect("score naive");
    for (b, (f, n)) in scored.iter().zip(&reference).enumerate() {
        assert_eq!(f.placement, n.placement);
        for (a, c) in f.ll.iter().zip(&n.ll) {
            assert!((a - c).abs() < 1e-4, "scoring row {b}: ll {a} vs {c}");
        }
    }
}
