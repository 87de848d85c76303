//! The episode phase against references recomputed from scratch: the cached fast-forward equals the naive one
//! slot for slot, and episode gains equal gains of full forwards; round bookkeeping and determinism.

use candle_core::Device;
use candle_nn::VarMap;
use proptest::prelude::*;
use thinktok::engine::episode::bias::ThoughtBias;
use thinktok::engine::episode::fast_forward::{fast_forward, fast_forward_naive, score_naive};
use thinktok::engine::episode::gains::gain;
use thinktok::engine::episode::walk::Policy;
use thinktok::engine::episode::{run_episode, EpisodeInput, EpisodeOutput, Placement, Source};
use thinktok::engine::model::Gpt;
use thinktok::engine::rng::Rng;
use thinktok::plan::*;

fn tiny_gpt(seed: u64) -> Gpt {
    let cfg = GptConfig { layers: 2, width: 32, heads: 4, context: 64, vocab_size: VOCAB_SIZE };
    let varmap = VarMap::new();
    Gpt::new_seeded(&cfg, &varmap, &Device::Cpu, seed).expect("tiny GPT")
}

fn sequences(seed: u64, lens: &[usize]) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    lens.iter().map(|&n| (0..n).map(|_| rng.below(256) as u32).collect()).collect()
}

fn config(strategy: EpisodeStrategy, rounds: usize, budget: usize, fallback: Fallback) -> EpisodeConfig {
    EpisodeConfig {
        samples: 4,
        rounds,
        thought_budget: budget,
        insertion: Insertion::FastForward { fallback, threshold: None, max_consecutive: 2 },
        cull: 0.5,
        cull_below_cost: false,
        gain: GainConfig {
            window: Some(6),
            reduce: GainReduce::Sum,
            cost: 0.01,
            over: GainTokens::All,
            renormalise: false,
        },
        strategy,
        thoughts: ThoughtKind::Discrete,
        every: 1,
        slots: Slots::All,
        mix: ThoughtMix::Replace,
        warmup: Warmup::default(),
        proposal_size: 1,
    }
}

/// p(thought) of the untrained tiny GPTs is about 1/260 at every position, and the thought's logit lies 0.1 to
/// 0.5 below the largest (median 0.3): a bias of 0.2 to 0.5 makes it top-1 at a good share of the decision
/// points, and a threshold within ±15 % of the biased `p(thought)` is crossed at some of them.
fn threshold_near(bias: f32, factor: f64) -> f64 {
    factor * f64::from(bias).exp() / VOCAB_SIZE as f64
}

/// Cached chunked fast-forward == naive recompute, slot for slot, over batch sizes, ragged lengths, caps,
/// budgets, thresholds, chunk widths and start placements; log-likelihoods agree to 1e-4. The ranges are chosen
/// so that thoughts happen, and the test counts them: most cases insert, and many thoughts in all.
#[test]
fn fast_forward_equals_naive_reference() {
    use proptest::test_runner::{TestCaseError, TestRunner};
    use std::cell::Cell;
    let cases = 40;
    let mut runner = TestRunner::new(ProptestConfig { cases, source_file: Some(file!()), ..ProptestConfig::default() });
    let strategy = (
        (0u64..1000, prop::collection::vec(1usize..30, 1..5), 0.25f32..0.5, 1usize..4, 2usize..14),
        (prop::option::of(0.85f64..1.15), 1usize..12, any::<bool>(), prop::option::of(0.0f64..0.8)),
    );
    let (inserting, inserted) = (Cell::new(0usize), Cell::new(0usize));
    let result = runner.run(
        &strategy,
        |((seed, lens, bias, max_consecutive, budget), (threshold, chunk, with_start, first))| {
            let threshold = threshold.map(|f| threshold_near(bias, f));
            let gpt = tiny_gpt(seed % 7);
            let model = ThoughtBias::new(&gpt, bias).expect("bias");
            let seqs = sequences(seed, &lens);
            let start: Option<Vec<Placement>> = with_start.then(|| {
                seqs.iter()
                    .map(|x| {
                        let slots: Vec<usize> = (1..x.len()).step_by(7).collect();
                        Placement::from_slots(x.len(), &slots).expect("slots")
                    })
                    .collect()
            });
            // With `first`, row b's thoughts may stand only from slot `first · len_b` on (`slots = targets` with an
            // answer there).
            let firsts: Vec<Option<usize>> =
                lens.iter().map(|&n| first.map(|f| ((f * n as f64) as usize).max(1))).collect();
            let policy = Policy {
                threshold,
                max_consecutive,
                budget,
                blocked: vec![],
                slots: if first.is_some() { Slots::Targets } else { Slots::All },
                ..Default::default()
            }
            .for_rows(firsts.iter().copied());
            let (fast, _) = fast_forward(&model, &seqs, start.as_deref(), &policy, chunk).expect("fast");
            let (naive, _) = fast_forward_naive(&model, &seqs, start.as_deref(), &policy).expect("naive");
            let k: usize = fast.iter().map(|f| f.inserted.len()).sum();
            inserting.set(inserting.get() + usize::from(k > 0));
            inserted.set(inserted.get() + k);
            for (b, (f, n)) in fast.iter().zip(&naive).enumerate() {
                prop_assert_eq!(&f.placement, &n.placement, "row {}", b);
                prop_assert_eq!(&f.inserted, &n.inserted, "row {}", b);
                let total = f.placement.total();
                let existing = start.as_ref().map_or(0, |s| s[b].total());
                prop_assert_eq!(total, existing + f.inserted.len());
                prop_assert!(total <= budget.max(existing));
                prop_assert!(f
                    .placement
                    .counts
                    .iter()
                    .all(|&c| usize::from(c) <= max_consecutive.max(1) || existing > 0));
                if let Some(first) = firsts[b] {
                    prop_assert!(
                        f.inserted.iter().all(|&s| s >= first),
                        "row {}: inserted {:?} before slot {}",
                        b,
                        f.inserted,
                        first
                    );
                }
                for (a, c) in f.ll.iter().zip(&n.ll) {
                    prop_assert!((a - c).abs() < 1e-4, "row {}: ll {} vs {}", b, a, c);
                }
            }
            Ok::<(), TestCaseError>(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let (inserting, inserted) = (inserting.get(), inserted.get());
    eprintln!("fast-forward proptest: {inserting} of {cases} cases inserted thoughts, {inserted} in all");
    assert!(inserting * 10 >= cases as usize * 7, "only {inserting} of {cases} cases inserted a thought");
    assert!(inserted >= 5 * cases as usize, "only {inserted} thoughts inserted in {cases} cases");
}

#[test]
fn biased_fast_forward_really_places_thoughts() {
    let gpt = tiny_gpt(1);
    let model = ThoughtBias::new(&gpt, 0.25).expect("bias");
    let seqs = sequences(3, &[40, 33, 12]);
    let policy = Policy { threshold: None, max_consecutive: 2, budget: 20, blocked: vec![], ..Default::default() };
    let (fast, cost) = fast_forward(&model, &seqs, None, &policy, 8).expect("fast");
    let placed: usize = fast.iter().map(|r| r.placement.total()).sum();
    assert!(placed >= 3, "only {placed} thoughts placed");
    assert!(cost.calls > 0);
}

/// The gain of one more thought in `slot` of `from` (→ `with`), recomputed with full forwards.
fn scratch_gain(
    model: &dyn thinktok::engine::model::CausalLm,
    seq: &[u32],
    with: &Placement,
    from: &Placement,
    slot: usize,
    first: Option<usize>,
    cfg: &EpisodeConfig,
) -> f32 {
    let two = [seq.to_vec(), seq.to_vec()];
    let s = score_naive(model, &two, &[with.clone(), from.clone()]).expect("score");
    gain(&cfg.gain, slot, first, &s[0].ll, &s[1].ll)
}

/// The placements before and after each round's proposal, replayed from the start placement (none: no thoughts)
/// and the kept thoughts: every gain equals the one recomputed from scratch, and the final placement, likelihoods
/// and augmented stream are the replay's.
fn check_round_gains_from_scratch(
    model: &dyn thinktok::engine::model::CausalLm,
    seqs: &[Vec<u32>],
    start: Option<&[Placement]>,
    firsts: Option<&[usize]>,
    cfg: &EpisodeConfig,
    out: &EpisodeOutput,
) {
    for (b, seq) in out.sequences.iter().enumerate() {
        let mut current = start.map_or_else(|| Placement::empty(seqs[b].len()), |s| s[b].clone());
        let mut all: Vec<_> = seq.kept.iter().map(|t| (t, true)).chain(seq.culled.iter().map(|t| (t, false))).collect();
        all.sort_by_key(|(t, _)| t.round);
        for (t, is_kept) in all {
            assert_eq!(usize::from(current.counts[t.slot]), t.depth, "row {b} round {}", t.round);
            let mut with = current.clone();
            with.counts[t.slot] += 1;
            let expect = scratch_gain(model, &seqs[b], &with, &current, t.slot, firsts.map(|f| f[b]), cfg);
            let got = t.gain.expect("gain");
            assert!((got - expect).abs() < 1e-4, "row {b} round {}: gain {got} vs scratch {expect}", t.round);
            if is_kept {
                current = with;
            }
        }
        assert_eq!(current, seq.placement);
        let s = score_naive(model, std::slice::from_ref(&seqs[b]), std::slice::from_ref(&current)).expect("score");
        for (a, c) in seq.ll.iter().zip(&s[0].ll) {
            assert!((a - c).abs() < 1e-4);
        }
        assert_eq!(seq.augmented, current.augment(&seqs[b]));
    }
}

#[test]
fn round_gains_equal_gains_recomputed_from_scratch_and_counts_add_up() {
    let gpt = tiny_gpt(2);
    let model = ThoughtBias::new(&gpt, 0.2).expect("bias");
    let seqs = sequences(5, &[30, 24, 17, 28, 9, 21]);
    for fallback in [Fallback::BestRank, Fallback::Sample { temperature: 1.0 }, Fallback::Uniform] {
        let cfg = config(EpisodeStrategy::Rounds, 5, 4, fallback.clone());
        let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
        let out = run_episode(&model, input, &cfg, 5, &mut Rng::new(11)).expect("episode");
        assert_eq!(out.rounds.len(), 5);
        for r in &out.rounds {
            assert_eq!(r.kept + r.culled, r.proposed);
            assert_eq!(r.culled, r.proposed / 2, "floor(0.5 · proposals) culled");
            assert_eq!(r.by_model + r.by_fallback, r.proposed);
        }
        assert_eq!(out.rounds[0].proposed, seqs.len());
        for s in &out.sequences {
            assert!(s.placement.total() <= 4);
            assert!(s.placement.counts.iter().all(|&c| c <= 2));
        }
        check_round_gains_from_scratch(&model, &seqs, None, None, &cfg, &out);
        let again = run_episode(&model, input, &cfg, 5, &mut Rng::new(11)).expect("episode");
        assert_eq!(out, again, "same seed, same episode");
        let other_chunk = run_episode(&model, input, &cfg, 64, &mut Rng::new(11)).expect("episode");
        let placements = |o: &EpisodeOutput| o.sequences.iter().map(|s| s.placement.clone()).collect::<Vec<_>>();
        assert_eq!(placements(&out), placements(&other_chunk), "chunk width does not change the result");
    }
}

/// With `over = targets` a gain counts only the answer's tokens: rounds' and leave-one-out's gains equal gains
/// recomputed from scratch over the answer, and thoughts whose window ends before the answer gain exactly 0 (− λ).
#[test]
fn gains_over_targets_count_only_the_answer_and_equal_gains_from_scratch() {
    let gpt = tiny_gpt(8);
    let model = ThoughtBias::new(&gpt, 0.2).expect("bias");
    let seqs = sequences(12, &[30, 24, 17, 28]);
    let firsts = [20usize, 12, 9, 25];
    let mut cfg = config(EpisodeStrategy::Rounds, 5, 4, Fallback::Uniform);
    cfg.gain.over = GainTokens::Targets;
    let input = EpisodeInput { tokens: &seqs, prompt_lens: Some(&firsts), start: None };
    let out = run_episode(&model, input, &cfg, 5, &mut Rng::new(5)).expect("episode");
    check_round_gains_from_scratch(&model, &seqs, None, Some(&firsts), &cfg, &out);
    let mut before_answer = 0;
    for (b, s) in out.sequences.iter().enumerate() {
        for t in s.kept.iter().chain(&s.culled) {
            if t.slot + 6 <= firsts[b] {
                before_answer += 1;
                assert!((t.gain.expect("gain") + 0.01).abs() < 1e-6, "a window before the answer gains only −λ");
            }
        }
    }
    assert!(before_answer > 0, "the uniform fallback put some thoughts far before the answer");
    cfg.strategy = EpisodeStrategy::LeaveOneOut;
    let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(1)).expect("leave-one-out");
    check_leave_one_out_gains_from_scratch(&model, &seqs, Some(&firsts), &cfg, &out);
}

/// Every leave-one-out gain equals `LL(sweep) − LL(sweep without it)` recomputed with full forwards, where the
/// sweep's placement is the kept plus the culled thoughts; the final likelihoods are the kept placement's.
fn check_leave_one_out_gains_from_scratch(
    model: &dyn thinktok::engine::model::CausalLm,
    seqs: &[Vec<u32>],
    firsts: Option<&[usize]>,
    cfg: &EpisodeConfig,
    out: &EpisodeOutput,
) {
    for (b, seq) in out.sequences.iter().enumerate() {
        let mut sweep = seq.placement.clone();
        for t in &seq.culled {
            sweep.counts[t.slot] += 1;
        }
        for t in seq.kept.iter().chain(&seq.culled) {
            let mut without = sweep.clone();
            without.counts[t.slot] -= 1;
            let expect = scratch_gain(model, &seqs[b], &sweep, &without, t.slot, firsts.map(|f| f[b]), cfg);
            let got = t.gain.expect("gain");
            assert!((got - expect).abs() < 1e-4, "row {b} slot {}: {got} vs {expect}", t.slot);
        }
        let s =
            score_naive(model, std::slice::from_ref(&seqs[b]), std::slice::from_ref(&seq.placement)).expect("score");
        for (a, c) in seq.ll.iter().zip(&s[0].ll) {
            assert!((a - c).abs() < 1e-4);
        }
    }
}

/// `slots = targets`: a model that wants thoughts everywhere gets them only inside the answer, in rounds (model
/// proposals and fallback alike) and in leave-one-out, and the gains still equal gains recomputed from scratch.
#[test]
fn slots_targets_keep_every_thought_inside_the_answer() {
    let gpt = tiny_gpt(9);
    let model = ThoughtBias::new(&gpt, 0.3).expect("bias");
    let seqs = sequences(13, &[20, 18, 25, 16]);
    let firsts = [12usize, 9, 20, 15];
    for strategy in [EpisodeStrategy::Rounds, EpisodeStrategy::LeaveOneOut] {
        for fallback in [Fallback::BestRank, Fallback::Uniform] {
            let mut cfg = config(strategy, 6, 4, fallback);
            cfg.slots = Slots::Targets;
            let input = EpisodeInput { tokens: &seqs, prompt_lens: Some(&firsts), start: None };
            let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(7)).expect("episode");
            let mut n = 0;
            for (b, s) in out.sequences.iter().enumerate() {
                for t in s.kept.iter().chain(&s.culled) {
                    assert!(t.slot >= firsts[b], "{strategy:?}: row {b} thought at slot {} < {}", t.slot, firsts[b]);
                    n += 1;
                }
                assert!(s.placement.counts[..firsts[b]].iter().all(|&c| c == 0));
            }
            assert!(n > 0, "{strategy:?}: some thoughts were proposed");
            match strategy {
                EpisodeStrategy::Rounds => check_round_gains_from_scratch(&model, &seqs, None, None, &cfg, &out),
                EpisodeStrategy::LeaveOneOut => check_leave_one_out_gains_from_scratch(&model, &seqs, None, &cfg, &out),
            }
        }
    }
}

#[test]
fn leave_one_out_gains_equal_gains_recomputed_from_scratch() {
    let gpt = tiny_gpt(3);
    let model = ThoughtBias::new(&gpt, 0.25).expect("bias");
    let seqs = sequences(8, &[30, 26, 19, 12]);
    let cfg = config(EpisodeStrategy::LeaveOneOut, 1, 6, Fallback::BestRank);
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(1)).expect("episode");
    let r = &out.rounds[0];
    assert!(r.proposed >= seqs.len(), "every row has at least one thought");
    assert_eq!(r.culled, r.proposed / 2);
    check_leave_one_out_gains_from_scratch(&model, &seqs, None, &cfg, &out);
}

#[test]
fn baselines_place_by_rule_and_score_their_placement() {
    let gpt = tiny_gpt(4);
    let seqs = sequences(2, &[10, 7]);
    let mut cfg = config(EpisodeStrategy::Rounds, 3, 4, Fallback::BestRank);
    cfg.insertion = Insertion::Interval { every: 3 };
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let out = run_episode(&gpt, input, &cfg, 4, &mut Rng::new(0)).expect("episode");
    assert_eq!(out.sequences[0].placement.counts, vec![0, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
    assert!(out.rounds.is_empty());
    assert!(out.sequences[1].kept.iter().all(|t| t.source == Source::Rule && t.gain.is_none()));
    let s = score_naive(&gpt, &seqs, &[out.sequences[0].placement.clone(), out.sequences[1].placement.clone()])
        .expect("score");
    for (seq, sc) in out.sequences.iter().zip(&s) {
        for (a, c) in seq.ll.iter().zip(&sc.ll) {
            assert!((a - c).abs() < 1e-4);
        }
    }
    cfg.insertion = Insertion::Dit { count: 2 };
    let out = run_episode(&gpt, input, &cfg, 4, &mut Rng::new(0)).expect("dit");
    assert!(out.sequences.iter().all(|s| s.placement.total() == 2));
}

#[test]
fn budget_and_start_placement_bound_the_rounds() {
    let gpt = tiny_gpt(5);
    let model = ThoughtBias::new(&gpt, 0.2).expect("bias");
    let seqs = sequences(6, &[20, 15, 18, 22]);
    let start: Vec<Placement> =
        seqs.iter().map(|x| Placement::from_slots(x.len(), &[2, 5, 9]).expect("slots")).collect();
    let mut cfg = config(EpisodeStrategy::Rounds, 4, 4, Fallback::BestRank);
    cfg.cull = 0.25;
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: Some(&start) };
    let out = run_episode(&model, input, &cfg, 3, &mut Rng::new(2)).expect("episode");
    for (s, st) in out.sequences.iter().zip(&start) {
        assert!(s.placement.total() <= 4, "budget 4 with 3 thoughts given");
        assert!(s.placement.counts.iter().zip(&st.counts).all(|(a, b)| a >= b), "start thoughts stay");
        assert_eq!(s.placement.total(), 3 + s.kept.len());
    }
    // A row that kept its one allowed thought proposes nothing more.
    let kept_total: usize = out.rounds.iter().map(|r| r.kept).sum();
    assert_eq!(kept_total, out.sequences.iter().map(|s| s.kept.len()).sum::<usize>());
    for w in out.rounds.windows(2) {
        assert_eq!(w[1].proposed, w[0].proposed - w[0].kept);
    }
    check_round_gains_from_scratch(&model, &seqs, Some(&start), None, &cfg, &out);
}

#[test]
fn cull_below_cost_drops_every_proposal_that_does_not_pay() {
    let gpt = tiny_gpt(6);
    let model = ThoughtBias::new(&gpt, 0.2).expect("bias");
    let seqs = sequences(7, &[16, 12, 20]);
    let mut cfg = config(EpisodeStrategy::Rounds, 3, 8, Fallback::Uniform);
    cfg.cull_below_cost = true;
    cfg.gain.cost = 1e3;
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(3)).expect("episode");
    for r in &out.rounds {
        assert_eq!((r.kept, r.culled), (0, r.proposed));
    }
    for s in &out.sequences {
        assert_eq!(s.placement.total(), 0);
        assert_eq!(s.culled.len(), 3, "one culled proposal per round, each at a new slot");
        let mut slots: Vec<usize> = s.culled.iter().map(|t| t.slot).collect();
        slots.dedup();
        assert_eq!(slots.len(), 3);
    }
}

#[test]
fn leave_one_out_never_scores_the_start_placement() {
    let gpt = tiny_gpt(7);
    let model = ThoughtBias::new(&gpt, 0.22).expect("bias");
    let seqs = sequences(9, &[24, 19]);
    let start: Vec<Placement> = seqs.iter().map(|x| Placement::from_slots(x.len(), &[3]).expect("slots")).collect();
    let cfg = config(EpisodeStrategy::LeaveOneOut, 1, 6, Fallback::BestRank);
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: Some(&start) };
    let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(4)).expect("episode");
    for s in &out.sequences {
        assert!(s.placement.counts[3] >= 1, "the start thought stays");
        let scored = s.kept.len() + s.culled.len();
        assert_eq!(s.placement.total() + s.culled.len(), 1 + scored);
    }
}

/// Regression: culling several thoughts of one slot must recompute the final likelihoods from the first one.
#[test]
fn leave_one_out_culling_a_whole_double_rescores_from_its_first_thought() {
    let gpt = tiny_gpt(8);
    let model = ThoughtBias::new(&gpt, 0.45).expect("bias");
    let seqs = sequences(10, &[26, 21, 30]);
    let mut cfg = config(EpisodeStrategy::LeaveOneOut, 1, 12, Fallback::BestRank);
    cfg.insertion = Insertion::FastForward { fallback: Fallback::BestRank, threshold: None, max_consecutive: 3 };
    cfg.cull = 0.8;
    let input = EpisodeInput { tokens: &seqs, prompt_lens: None, start: None };
    let out = run_episode(&model, input, &cfg, 4, &mut Rng::new(5)).expect("episode");
    let doubles = out
        .sequences
        .iter()
        .filter(|s| s.culled.iter().any(|t| s.culled.iter().filter(|u| u.slot == t.slot).count() >= 2))
        .count();
    assert!(doubles > 0, "some slot lost two thoughts");
    for (b, seq) in out.sequences.iter().enumerate() {
        let s =
            score_naive(&model, std::slice::from_ref(&seqs[b]), std::slice::from_ref(&seq.placement)).expect("score");
        for (a, c) in seq.ll.iter().zip(&s[0].ll) {
            assert!((a - c).abs() < 1e-4, "row {b}: {a} vs {c}");
        }
    }
}
