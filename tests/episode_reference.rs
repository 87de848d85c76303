//! The episode phase against deliberately naive references written from DESIGN.md ("Definitions", "Episode
//! phase"), sharing nothing with `src/engine/episode/`: the reference uses only the GPT's plain full `forward`,
//! adds the thought bias to the logits itself, builds its own augmented sequences, takes its own greedy
//! top-1 / threshold / budget / cap decisions (one forward of the prefix per decision, as if generating), sums
//! its own log-likelihoods over real tokens and takes a gain as `LL(with) − LL(without)` over the continuation.
//! The parity tests in `tests/episode.rs` share the decision code with their references; these do not.
//!
//! Conventions taken from DESIGN.md: slot `s` (1 ≤ s < L) is the gap before real token `x[s]` (0-based), so a
//! thought there is seen before `x[s]` is predicted; `counts[s]` thoughts stand in slot `s`; `LL` sums
//! `log p(x[j] | everything before x[j])` over the real tokens `j ≥ 1` (nothing predicts `x[0]`), the softmax
//! over the model's whole vocabulary. Conventions DESIGN.md leaves open, taken from the engine's docs: the
//! thought is top-1 when no logit is strictly larger (ties favour it); thoughts of a start placement count
//! against the budget and the cap; a row's first open slot (`slots = targets`) is its first scored token.
// Written deliberately naively (loops and pushes as DESIGN.md states the rules), not idiomatically.
#![allow(clippy::same_item_push, clippy::needless_range_loop)]

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::fast_forward;
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::{run_episode, EpisodeInput, EpisodeOutput, Placement, Source, Thought};
use thinktok::engine::model::{CausalLm, Gpt};
use thinktok::engine::rng::Rng;
use thinktok::plan::*;

const THOUGHT: usize = THOUGHT_ID as usize;

/// The reference's model: the GPT's plain full forward of one token list, `bias` added to the thought's logit.
struct Model {
    gpt: Gpt,
    bias: f32,
}

impl Model {
    fn new(seed: u64, bias: f32) -> Self {
        let cfg = GptConfig { layers: 2, width: 32, heads: 4, context: 64, vocab_size: VOCAB_SIZE };
        Self { gpt: Gpt::new_seeded(&cfg, &VarMap::new(), &Device::Cpu, seed).expect("tiny GPT"), bias }
    }

    /// The biased next-token logits at every position of `tokens`.
    fn logits(&self, tokens: &[u32]) -> Vec<Vec<f32>> {
        let t = Tensor::from_vec(tokens.to_vec(), (1, tokens.len()), &Device::Cpu).expect("tokens");
        let out = self.gpt.forward(&t).expect("forward").logits;
        let mut rows = out.squeeze(0).expect("squeeze").to_vec2::<f32>().expect("logits");
        for r in &mut rows {
            r[THOUGHT] += self.bias;
        }
        rows
    }
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let lse = max + row.iter().map(|&x| (f64::from(x) - max).exp()).sum::<f64>().ln();
    row.iter().map(|&x| f64::from(x) - lse).collect()
}

/// The real tokens with `counts[s]` thoughts before `real[s]`.
fn with_thoughts(real: &[u32], counts: &[u16]) -> Vec<u32> {
    let mut out = Vec::new();
    for (s, &x) in real.iter().enumerate() {
        for _ in 0..counts[s] {
            out.push(THOUGHT_ID);
        }
        out.push(x);
    }
    out
}

/// Where `real[s]` stands in `with_thoughts(real, counts)`: after `s` real tokens and every thought up to slot `s`.
fn index_of_real(s: usize, counts: &[u16]) -> usize {
    s + counts[..=s].iter().map(|&c| usize::from(c)).sum::<usize>()
}

/// `ll[j] = log p(x[j] | everything before it)` for `j ≥ 1`, `ll[0] = 0`: one full forward.
fn token_lls(m: &Model, real: &[u32], counts: &[u16]) -> Vec<f64> {
    let logits = m.logits(&with_thoughts(real, counts));
    (0..real.len())
        .map(|j| if j == 0 { 0.0 } else { log_softmax(&logits[index_of_real(j, counts) - 1])[real[j] as usize] })
        .collect()
}

/// [`token_lls`] for the gain of `cfg`: with `renormalise`, each real token under the softmax without the thought.
fn gain_lls(cfg: &GainConfig, m: &Model, real: &[u32], counts: &[u16]) -> Vec<f64> {
    if !cfg.renormalise {
        return token_lls(m, real, counts);
    }
    let logits = m.logits(&with_thoughts(real, counts));
    let without_thought = |row: &[f32]| {
        let mut row = row.to_vec();
        row[THOUGHT] = f32::NEG_INFINITY;
        log_softmax(&row)
    };
    (0..real.len())
        .map(|j| if j == 0 { 0.0 } else { without_thought(&logits[index_of_real(j, counts) - 1])[real[j] as usize] })
        .collect()
}

/// The decision rule on one position's logits: top-1 (no logit strictly larger than the thought's) or
/// `p(thought) > threshold`.
fn wants_thought(logits: &[f32], threshold: Option<f64>) -> bool {
    match threshold {
        None => logits.iter().all(|&x| x <= logits[THOUGHT]),
        Some(t) => log_softmax(logits)[THOUGHT].exp() > t,
    }
}

/// The thought's rank at one position: how many logits are strictly larger.
fn thought_rank(logits: &[f32]) -> usize {
    logits.iter().filter(|&&x| x > logits[THOUGHT]).count()
}

/// The greedy rule's parameters.
#[derive(Clone, Copy)]
struct Rule {
    threshold: Option<f64>,
    max_consecutive: usize,
    budget: usize,
}

/// Whether one more thought may stand in slot `s` of `counts`: the slot is open (≥ `first_open`, not tried),
/// under the cap, and the sequence under the budget.
fn may_add(rule: &Rule, counts: &[u16], s: usize, first_open: usize, tried: &[usize]) -> bool {
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    s >= 1
        && s >= first_open
        && !tried.contains(&s)
        && usize::from(counts[s]) < rule.max_consecutive
        && total < rule.budget
}

/// DESIGN.md's fast-forward, generating: walk the slots left to right; at each, feed everything before `x[s]`
/// and, while a thought may stand there and the model's next prediction is the thought, insert one and look
/// again. Returns the counts and the slots inserted, in order.
fn greedy(m: &Model, real: &[u32], start: &[u16], rule: &Rule, first_open: usize) -> (Vec<u16>, Vec<usize>) {
    let mut counts = start.to_vec();
    let mut inserted = Vec::new();
    for s in 1..real.len() {
        while may_add(rule, &counts, s, first_open, &[]) {
            let stream = with_thoughts(real, &counts);
            let prefix = &stream[..index_of_real(s, &counts)];
            let logits = m.logits(prefix);
            if !wants_thought(logits.last().expect("a prefix"), rule.threshold) {
                break;
            }
            counts[s] += 1;
            inserted.push(s);
        }
    }
    (counts, inserted)
}

/// A gain from DESIGN.md: the change of the continuation's real-token log-likelihoods from `without` to `with`
/// (tokens `s..L`, or `s..s+W`; with `over = targets` only the scored ones, from `first` on), summed or
/// averaged, minus λ.
fn gain_ref(cfg: &GainConfig, s: usize, first: Option<usize>, with: &[f64], without: &[f64]) -> f64 {
    let end = cfg.window.map_or(with.len(), |w| (s + w).min(with.len()));
    let counted: Vec<usize> = (s..end).filter(|&j| cfg.over == GainTokens::All || j >= first.unwrap_or(0)).collect();
    let change: f64 = counted.iter().map(|&j| with[j] - without[j]).sum();
    let reduced = match cfg.reduce {
        GainReduce::Sum => change,
        GainReduce::Mean => change / counted.len() as f64,
    };
    reduced - cfg.cost
}

fn sequences(seed: u64, lens: &[usize]) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    lens.iter().map(|&n| (0..n).map(|_| rng.below(256) as u32).collect()).collect()
}

fn assert_lls_close(got: &[f32], expect: &[f64], what: &str) {
    assert_eq!(got.len(), expect.len(), "{what}");
    for (j, (a, b)) in got.iter().zip(expect).enumerate() {
        assert!((f64::from(*a) - b).abs() < 1e-4, "{what}, token {j}: ll {a} vs reference {b}");
    }
}

/// The engine's cached fast-forward places exactly the reference's greedy thoughts, in the same order, and its
/// log-likelihoods are the reference's under that placement: top-1 and threshold, caps of 1 to 3, budgets that
/// bind, a start placement (its thoughts count against cap and budget) and per-row first open slots.
#[test]
fn fast_forward_places_what_the_greedy_reference_places() {
    let seqs = sequences(4, &[24, 17, 30, 9]);
    struct Case {
        bias: f32,
        rule: Rule,
        start: Option<Vec<usize>>,
        firsts: Option<[usize; 4]>,
    }
    let top1 = |max_consecutive, budget| Rule { threshold: None, max_consecutive, budget };
    let cases = [
        Case { bias: 0.35, rule: top1(2, 5), start: None, firsts: None },
        Case {
            bias: 0.3,
            rule: Rule { threshold: Some(0.3f64.exp() / 260.0), max_consecutive: 1, budget: 6 },
            start: None,
            firsts: None,
        },
        Case { bias: 0.45, rule: top1(3, 30), start: None, firsts: None },
        Case { bias: 0.4, rule: top1(2, 7), start: Some(vec![3, 3, 6]), firsts: Some([10, 5, 20, 3]) },
    ];
    let (mut doubles, mut triples, mut at_budget, mut inserted_all) = (0, 0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let m = Model::new(i as u64, case.bias);
        let biased = ThoughtBias::new(&m.gpt, case.bias).expect("bias");
        let starts: Vec<Placement> = seqs
            .iter()
            .map(|x| {
                let slots: Vec<usize> = case.start.iter().flatten().copied().filter(|&s| s < x.len()).collect();
                Placement::from_slots(x.len(), &slots).expect("slots")
            })
            .collect();
        let policy = Policy {
            threshold: case.rule.threshold,
            max_consecutive: case.rule.max_consecutive,
            budget: case.rule.budget,
            blocked: vec![],
            slots: if case.firsts.is_some() { Slots::Targets } else { Slots::All },
            ..Default::default()
        }
        .for_rows((0..seqs.len()).map(|b| case.firsts.map(|f| f[b])));
        let start = case.start.as_ref().map(|_| starts.as_slice());
        let (fast, _) = fast_forward(&biased, &seqs, start, &policy, 5).expect("fast-forward");
        for (b, (x, f)) in seqs.iter().zip(&fast).enumerate() {
            let first_open = case.firsts.map_or(1, |f| f[b]);
            let (counts, inserted) = greedy(&m, x, &starts[b].counts, &case.rule, first_open);
            assert_eq!(f.placement.counts, counts, "case {i}, row {b}");
            assert_eq!(f.inserted, inserted, "case {i}, row {b}");
            assert_lls_close(&f.ll, &token_lls(&m, x, &counts), &format!("case {i}, row {b}"));
            doubles += counts.iter().filter(|&&c| c == 2).count();
            triples += counts.iter().filter(|&&c| c == 3).count();
            at_budget += usize::from(counts.iter().map(|&c| usize::from(c)).sum::<usize>() == case.rule.budget);
            inserted_all += inserted.len();
        }
    }
    assert!(inserted_all >= 40, "the reference inserted only {inserted_all} thoughts");
    assert!(doubles > 0 && triples > 0, "{doubles} doubles, {triples} triples");
    assert!(at_budget >= 3, "only {at_budget} rows reached their budget");
}

/// The reference's view of one row under a placement: the biased logits at each slot's decision point (the
/// position just before `x[s]`).
fn decision_logits(m: &Model, real: &[u32], counts: &[u16]) -> Vec<Vec<f32>> {
    let logits = m.logits(&with_thoughts(real, counts));
    (0..real.len()).map(|s| if s == 0 { Vec::new() } else { logits[index_of_real(s, counts) - 1].clone() }).collect()
}

/// A row's thoughts in the order the episode scored them (rounds: by round).
fn by_round(out: &EpisodeOutput, b: usize) -> Vec<(Thought, bool)> {
    let s = &out.sequences[b];
    let mut all: Vec<(Thought, bool)> =
        s.kept.iter().map(|t| (t.clone(), true)).chain(s.culled.iter().map(|t| (t.clone(), false))).collect();
    all.sort_by_key(|(t, _)| t.round);
    all
}

/// Every round's proposal is DESIGN.md's (the first slot where the model, under the current placement, wants a
/// thought that may stand there and was not tried; else the fallback's best-ranked free slot), every gain is the
/// reference's `LL(with) − LL(without)` over the continuation, each round culls `⌊cull · proposals⌋` of the
/// lowest gains, and the final placement and likelihoods are the replay's. Default gains, a window with the mean
/// and a cost, gains over the answer only, and gains renormalised without the thought.
#[test]
fn round_proposals_gains_and_culls_follow_the_reference() {
    rounds_follow_the_reference(1);
}

/// With `proposal_size = 2` a proposal is a run of two thoughts in its slot (one where the slot's cap or the
/// budget leaves room for one only), its gain is `LL(with the run) − LL(without it)`, a kept run is two kept
/// thoughts at consecutive depths and a culled one a single negative at the depth where it would have started.
#[test]
fn proposals_of_two_thoughts_are_scored_kept_and_culled_as_one_unit() {
    rounds_follow_the_reference(2);
}

fn rounds_follow_the_reference(size: usize) {
    let seqs = sequences(6, &[22, 15, 27, 12]);
    let firsts = [14usize, 8, 20, 6];
    let gains = [
        GainConfig::default(),
        GainConfig { window: Some(5), reduce: GainReduce::Mean, cost: 0.05, over: GainTokens::All, renormalise: false },
        GainConfig { window: None, reduce: GainReduce::Sum, cost: 0.0, over: GainTokens::Targets, renormalise: false },
        GainConfig { window: Some(6), reduce: GainReduce::Sum, cost: 0.0, over: GainTokens::All, renormalise: true },
    ];
    // An odd budget under runs of two leaves room for a last run of one.
    let rule = Rule { threshold: None, max_consecutive: 2, budget: if size > 1 { 5 } else { 4 } };
    // Runs of the full size and runs cut short by the slot's cap or the budget.
    let mut runs = [0usize; 2];
    let (mut by_model, mut by_fallback) = (0, 0);
    for (i, gain) in gains.iter().enumerate() {
        // Lower biases leave more rounds to the fallback.
        let m = Model::new(10 + i as u64, [0.3, 0.2, 0.12, 0.25][i]);
        let biased = ThoughtBias::new(&m.gpt, m.bias).expect("bias");
        let cfg = EpisodeConfig {
            samples: seqs.len(),
            rounds: 6,
            thought_budget: rule.budget,
            insertion: Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 },
            cull: 0.5,
            cull_below_cost: false,
            gain: gain.clone(),
            strategy: EpisodeStrategy::Rounds,
            thoughts: ThoughtKind::Discrete,
            every: 1,
            slots: Slots::All,
            mix: ThoughtMix::Replace,
            warmup: Warmup::default(),
            proposal_size: size,
        };
        let prompt_lens = (gain.over == GainTokens::Targets).then_some(&firsts[..]);
        let input = EpisodeInput { tokens: &seqs, prompt_lens, start: None };
        let out = run_episode(&biased, input, &cfg, 4, &mut Rng::new(3)).expect("episode");
        let mut round_gains: Vec<Vec<(f64, bool)>> = vec![Vec::new(); cfg.rounds];
        for (b, x) in seqs.iter().enumerate() {
            let first = prompt_lens.map(|f| f[b]);
            let mut counts = vec![0u16; x.len()];
            let mut lls = token_lls(&m, x, &counts);
            let mut tried: Vec<usize> = Vec::new();
            let thoughts = by_round(&out, b);
            let mut next = thoughts.iter().peekable();
            for round in 0..cfg.rounds {
                let what = format!("gain {i}, row {b}, round {round}");
                let free: Vec<usize> = (1..x.len()).filter(|&s| may_add(&rule, &counts, s, 1, &tried)).collect();
                let Some((t, kept)) = next.next_if(|(t, _)| t.round == round) else {
                    assert!(free.is_empty(), "{what}: no proposal although slots {free:?} are free");
                    continue;
                };
                let at = decision_logits(&m, x, &counts);
                let wanted = free.iter().copied().find(|&s| wants_thought(&at[s], None));
                let expect = wanted.unwrap_or_else(|| {
                    // Best rank, then the highest log-probability, then the earliest slot.
                    let key = |s: usize| (thought_rank(&at[s]), -log_softmax(&at[s])[THOUGHT]);
                    *free.iter().min_by(|&&a, &&c| key(a).partial_cmp(&key(c)).expect("finite")).expect("a free slot")
                });
                assert_eq!(t.slot, expect, "{what}: proposal");
                assert_eq!(t.source, if wanted.is_some() { Source::Model } else { Source::Fallback }, "{what}");
                assert_eq!(t.depth, usize::from(counts[t.slot]), "{what}: depth");
                let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                let n = size.min(rule.max_consecutive - usize::from(counts[t.slot])).min(rule.budget - total);
                runs[usize::from(n < size)] += 1;
                // The rest of a kept run: the same slot, gain and round at the next depths.
                if *kept {
                    for d in 1..n {
                        let (u, u_kept) = next.next().expect("the rest of a kept run");
                        assert!(*u_kept && u.slot == t.slot && u.round == round && u.gain == t.gain, "{what}: run");
                        assert_eq!(u.depth, t.depth + d, "{what}: depth in the run");
                    }
                }
                let mut with = counts.clone();
                with[t.slot] += n as u16;
                let with_lls = token_lls(&m, x, &with);
                let g = gain_ref(gain, t.slot, first, &gain_lls(gain, &m, x, &with), &gain_lls(gain, &m, x, &counts))
                    - gain.cost * (n - 1) as f64;
                let got = f64::from(t.gain.expect("a scored proposal"));
                assert!((got - g).abs() < 1e-4, "{what}: gain {got} vs reference {g}");
                round_gains[round].push((g, *kept));
                if *kept {
                    (counts, lls) = (with, with_lls);
                } else {
                    tried.push(t.slot);
                }
                match t.source {
                    Source::Model => by_model += 1,
                    _ => by_fallback += 1,
                }
            }
            assert!(next.next().is_none(), "gain {i}, row {b}: thoughts left over");

            assert_eq!(out.sequences[b].placement.counts, counts, "gain {i}, row {b}");
            assert_lls_close(&out.sequences[b].ll, &lls, &format!("gain {i}, row {b}: final"));
            assert_eq!(out.sequences[b].augmented, with_thoughts(x, &counts));
        }
        for (round, gs) in round_gains.iter().enumerate() {
            let culled: Vec<f64> = gs.iter().filter(|g| !g.1).map(|g| g.0).collect();
            let kept: Vec<f64> = gs.iter().filter(|g| g.1).map(|g| g.0).collect();
            assert_eq!(culled.len(), gs.len() / 2, "gain {i}, round {round}: ⌊0.5 · {}⌋ culled", gs.len());
            let worst_kept = kept.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(culled.iter().all(|&c| c <= worst_kept + 1e-4), "gain {i}, round {round}: {gs:?}");
        }
    }
    if size > 1 {
        assert!(runs[0] >= 10 && runs[1] >= 1, "{} full runs, {} cut short", runs[0], runs[1]);
    }
    assert!(by_model >= 10 && by_fallback >= 5, "{by_model} proposals by the model, {by_fallback} by the fallback");
}

/// Leave-one-out: the sweep is the reference's greedy fast-forward (one best-ranked fallback thought where it
/// places none), every thought's gain is `LL(sweep) − LL(sweep without it)` over its continuation, `⌊cull · n⌋`
/// of the lowest are culled, and the final likelihoods are the reference's under the kept placement.
#[test]
fn leave_one_out_gains_follow_the_reference() {
    let seqs = sequences(9, &[20, 26, 14, 18, 6]);
    let rule = Rule { threshold: None, max_consecutive: 2, budget: 6 };
    let cfg = EpisodeConfig {
        samples: seqs.len(),
        rounds: 1,
        thought_budget: rule.budget,
        insertion: Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 2 },
        cull: 0.5,
        cull_below_cost: false,
        gain: GainConfig {
            window: Some(8),
            reduce: GainReduce::Sum,
            cost: 0.01,
            over: GainTokens::All,
            renormalise: false,
        },
        strategy: EpisodeStrategy::LeaveOneOut,
        thoughts: ThoughtKind::Discrete,
        every: 1,
        slots: Slots::All,
        mix: ThoughtMix::Replace,
        warmup: Warmup::default(),
        proposal_size: 1,
    };
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let mut fallback_rows = 0;
    // A bias where the model places many thoughts, and one where some rows get only the fallback's; the second
    // with gains renormalised without the thought.
    for (bias, renormalise) in [(0.33, false), (0.1, true)] {
        let cfg = EpisodeConfig { gain: GainConfig { renormalise, ..cfg.gain.clone() }, ..cfg.clone() };
        let m = Model::new(21, bias);
        let biased = ThoughtBias::new(&m.gpt, m.bias).expect("bias");
        let out = run_episode(&biased, input, &cfg, 4, &mut Rng::new(1)).expect("episode");
        let (mut kept_gains, mut culled_gains) = (Vec::new(), Vec::new());
        for (b, x) in seqs.iter().enumerate() {
            let s = &out.sequences[b];
            let (mut sweep, inserted) = greedy(&m, x, &vec![0; x.len()], &rule, 1);
            if inserted.is_empty() {
                let at = decision_logits(&m, x, &sweep);
                let key = |s: usize| (thought_rank(&at[s]), -log_softmax(&at[s])[THOUGHT]);
                let best = (1..x.len()).min_by(|&a, &c| key(a).partial_cmp(&key(c)).expect("finite")).expect("a slot");
                sweep[best] += 1;
                fallback_rows += 1;
            }
            let mut engine_sweep = s.placement.counts.clone();
            for t in &s.culled {
                engine_sweep[t.slot] += 1;
            }
            assert_eq!(engine_sweep, sweep, "row {b}: the sweep");
            let sweep_lls = gain_lls(&cfg.gain, &m, x, &sweep);
            for (t, kept) in s.kept.iter().map(|t| (t, true)).chain(s.culled.iter().map(|t| (t, false))) {
                let mut without = sweep.clone();
                without[t.slot] -= 1;
                let g = gain_ref(&cfg.gain, t.slot, None, &sweep_lls, &gain_lls(&cfg.gain, &m, x, &without));
                let got = f64::from(t.gain.expect("scored"));
                assert!((got - g).abs() < 1e-4, "row {b}, slot {}: gain {got} vs reference {g}", t.slot);
                if kept {
                    kept_gains.push(g)
                } else {
                    culled_gains.push(g)
                }
            }
            assert_lls_close(&s.ll, &token_lls(&m, x, &s.placement.counts), &format!("row {b}: final"));
        }
        let n = kept_gains.len() + culled_gains.len();
        assert!(n >= seqs.len(), "bias {bias}: only {n} thoughts in the sweep");
        assert_eq!(culled_gains.len(), n / 2);
        let worst_kept = kept_gains.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(culled_gains.iter().all(|&c| c <= worst_kept + 1e-4), "kept {kept_gains:?}, culled {culled_gains:?}");
    }
    assert!(fallback_rows > 0, "no row got the fallback's thought");
}
