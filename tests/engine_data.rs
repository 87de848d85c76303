//! Property tests of the tokenizer and of batching: any text stays bytes, and a padded batch holds exactly each
//! sequence's inputs, next-token targets and loss weights.

use proptest::prelude::*;
use thinktok::engine::data::tokenizer::{decode, encode, is_byte};
use thinktok::engine::data::{HostBatch, Sequence};
use thinktok::plan::{PAD_ID, THOUGHT_ID};

proptest! {
    #[test]
    fn any_text_encodes_to_bytes_and_round_trips(prefix in ".{0,20}", suffix in ".{0,20}") {
        let text = format!("{prefix}<|thought|>{suffix}");
        let ids = encode(&text);
        prop_assert!(ids.iter().all(|&id| is_byte(id)));
        prop_assert!(!ids.contains(&THOUGHT_ID));
        prop_assert_eq!(ids.len(), text.len());
        prop_assert_eq!(decode(&ids), text);
    }

    #[test]
    fn padded_batch_holds_each_sequence_exactly(
        specs in prop::collection::vec(("[0-9]{1,6}", prop::option::of("[A-Z]{1,3}")), 1..6)
    ) {
        let seqs: Vec<Sequence> = specs
            .iter()
            .map(|(prompt, answer)| match answer {
                Some(a) => Sequence::answer(&format!("{prompt}="), a),
                None => Sequence::text(encode(&format!("{prompt}!"))),
            })
            .collect();
        let refs: Vec<&Sequence> = seqs.iter().collect();
        let batch = HostBatch::new(&refs);
        prop_assert_eq!(batch.len, seqs.iter().map(|s| s.tokens.len() - 1).max().unwrap());
        let mut expected_targets = 0;
        for (r, seq) in seqs.iter().enumerate() {
            let n = seq.tokens.len();
            for p in 0..batch.len {
                let at = r * batch.len + p;
                if p + 1 < n {
                    prop_assert_eq!(batch.tokens[at], seq.tokens[p]);
                    prop_assert_eq!(batch.targets[at], seq.tokens[p + 1]);
                    prop_assert_eq!(batch.loss_weights[at] > 0.0, seq.is_target(p + 1));
                    prop_assert_eq!(batch.answer[at], seq.is_answer(p + 1));
                    expected_targets += usize::from(seq.is_target(p + 1));
                } else {
                    prop_assert_eq!(batch.tokens[at], PAD_ID);
                    prop_assert_eq!(batch.loss_weights[at], 0.0);
                    prop_assert!(!batch.answer[at]);
                }
            }
            // An answer sequence counts its answer and the closing end-of-text; a text sequence every token after the first.
            let counted = (1..n).filter(|&i| seq.is_target(i)).count();
            prop_assert_eq!(counted, if seq.answer.is_some() { seq.answer_len + 1 } else { n - 1 });
        }
        prop_assert_eq!(batch.n_targets(), expected_targets);
    }
}

/// The data sources a one-line `data { … }` block compiles to.
fn sources(train: &str, test: &str) -> Result<(thinktok::plan::DataSource, thinktok::plan::DataSource), String> {
    let text = format!("experiment \"x\" {{ model.context = 128 data {{ train = {train} test = {test} }} }}");
    let plan = thinktok::compile_str("x.think", &text).map_err(|d| d.render(false))?;
    let data = &plan.runs[0].params.data;
    Ok((data.train.clone(), data.test.clone()))
}

fn task_of(source: &thinktok::plan::DataSource) -> thinktok::plan::TaskKind {
    match source {
        thinktok::plan::DataSource::Task { task, .. } => task.clone(),
        other => panic!("not a task: {other:?}"),
    }
}

/// `task.hops` and `task.addition(terms = a..b)` compile to their plan tasks: ranges end-exclusive, an integer
/// `k` the range `k..k + 1`, defaults 8 letters, 1 to 4 hops, sorted; an integer `terms` stays the original task.
#[test]
fn depth_bound_tasks_compile_from_ranges() {
    use thinktok::plan::{DataSource, IntRange, PairOrder, TaskKind};
    let (train, test) = sources("task.hops()", "task.hops(letters = 5, hops = 3, order = shuffled, seed = 1)").unwrap();
    assert_eq!(
        task_of(&train),
        TaskKind::Hops { letters: 8, hops: IntRange { start: 1, end: 5 }, order: PairOrder::Sorted }
    );
    assert_eq!(
        task_of(&test),
        TaskKind::Hops { letters: 5, hops: IntRange { start: 3, end: 4 }, order: PairOrder::Shuffled }
    );
    let (train, test) = sources("task.addition(terms = 2..6)", "task.addition(terms = 4, seed = 1)").unwrap();
    assert_eq!(task_of(&train), TaskKind::AdditionMixed { terms: IntRange { start: 2, end: 6 }, digits: 3 });
    assert_eq!(task_of(&test), TaskKind::Addition { terms: 4, digits: 3 });
    let (train, test) = sources("task.compose()", "task.compose(letters = 3, steps = 6, seed = 1)").unwrap();
    assert_eq!(task_of(&train), TaskKind::Compose { letters: 5, steps: IntRange { start: 1, end: 5 } });
    assert_eq!(task_of(&test), TaskKind::Compose { letters: 3, steps: IntRange { start: 6, end: 7 } });
    // A sweep over `hops` is an axis of integers, one run each; a list of ranges is one run per range.
    let text = r#"experiment "x" { data { train = task.hops() test = task.hops(seed = 1) } }
        sweep { data.train.hops = [1..3, 3..5] data.test.hops = 1..3 }"#;
    let plan = thinktok::compile_str("x.think", text).unwrap();
    assert_eq!(plan.runs.len(), 4);
    let hops = |s: &DataSource| match task_of(s) {
        TaskKind::Hops { hops, .. } => hops,
        other => panic!("{other:?}"),
    };
    let run = &plan.runs[1].params.data;
    assert_eq!((hops(&run.train), hops(&run.test)), (IntRange { start: 1, end: 3 }, IntRange { start: 2, end: 3 }));
}

/// The plan's length estimate is the engine's bound, and the bound is the longest sequence the engine makes; the
/// examples' groups reach the sequences.
#[test]
fn depth_bound_task_lengths_and_groups() {
    use thinktok::engine::data::{load, tasks, Role};
    use thinktok::plan::{DataSource, IntRange, PairOrder, TaskKind};
    for task in [
        TaskKind::Hops { letters: 8, hops: IntRange { start: 1, end: 5 }, order: PairOrder::Sorted },
        TaskKind::Hops { letters: 26, hops: IntRange { start: 9, end: 10 }, order: PairOrder::Shuffled },
        TaskKind::Hops { letters: 2, hops: IntRange { start: 1, end: 2 }, order: PairOrder::Sorted },
        TaskKind::AdditionMixed { terms: IntRange { start: 2, end: 6 }, digits: 3 },
        TaskKind::AdditionMixed { terms: IntRange { start: 2, end: 12 }, digits: 1 },
        TaskKind::AdditionMixed { terms: IntRange { start: 3, end: 4 }, digits: 4 },
        TaskKind::Compose { letters: 5, steps: IntRange { start: 1, end: 5 } },
        TaskKind::Compose { letters: 26, steps: IntRange { start: 3, end: 4 } },
        TaskKind::Compose { letters: 2, steps: IntRange { start: 1, end: 2 } },
    ] {
        assert_eq!(thinktok::check::estimate::task_tokens(&task), tasks::max_tokens(&task), "{task:?}");
        let source = DataSource::Task { task: task.clone(), count: 400, seed: 3 };
        let data = load(&source, Role::Train, 256).unwrap();
        assert_eq!(data.max_len(), tasks::max_tokens(&task), "{task:?}");
        let prefix = match task {
            TaskKind::Hops { .. } => "hops=",
            TaskKind::Compose { .. } => "steps=",
            _ => "terms=",
        };
        assert!(data.sequences.iter().all(|s| s.group.as_deref().is_some_and(|g| g.starts_with(prefix))));
    }
}

/// Bad arguments are errors at the argument's value.
#[test]
fn depth_bound_task_arguments_are_checked() {
    let err = |train: &str| sources(train, "task.sum3(seed = 1)").unwrap_err();
    for (train, code, underlined) in [
        ("task.hops(letters = 1)", "E0302", "1"),
        ("task.hops(letters = 27)", "E0302", "27"),
        ("task.hops(hops = 0..3)", "E0302", "0..3"),
        ("task.hops(hops = 1..11)", "E0302", "1..11"),
        ("task.hops(hops = 10)", "E0302", "10"),
        ("task.hops(hops = 4..4)", "E0302", "4..4"),
        ("task.hops(hops = 2.5)", "E0301", "2.5"),
        ("task.hops(hops = [1, 2])", "E0303", "[1, 2]"),
        ("task.hops(order = random)", "E0204", "random"),
        ("task.compose(letters = 1)", "E0302", "1"),
        ("task.compose(steps = 0..3)", "E0302", "0..3"),
        ("task.compose(steps = 17)", "E0302", "17"),
        ("task.addition(terms = 1..3)", "E0302", "1..3"),
    ] {
        let text = err(train);
        assert!(text.contains(&format!("error[{code}]")), "{train}:\n{text}");
        let line = text.lines().find(|l| l.contains("train = ")).unwrap_or_else(|| panic!("{train}:\n{text}"));
        let value = line.find("train = ").unwrap();
        let column = value + line[value..].find(underlined).unwrap();
        let marks = text.lines().skip_while(|l| !l.contains("train = ")).nth(1).unwrap();
        assert_eq!(marks.find('^'), Some(column), "{train}: the underline starts at `{underlined}`:\n{text}");
        assert_eq!(marks.matches('^').count(), underlined.len(), "{train}:\n{text}");
    }
    // The context check knows the new tasks' lengths: 26 letters make 83 tokens.
    let text =
        r#"experiment "x" { data { train = task.hops(letters = 26) test = task.hops(letters = 26, seed = 1) } }"#;
    let d = thinktok::compile_str("x.think", text).unwrap_err().render(false);
    assert!(d.contains("E0310") && d.contains("83 tokens"), "{d}");
}

/// Applies a `compose` prompt's permutations, read back from the text alone, to its start letter.
fn apply_compose(prompt: &str) -> (usize, char, char) {
    let (blocks, query) = prompt.split_once('?').unwrap();
    let start = query.chars().next().unwrap();
    let maps: Vec<std::collections::BTreeMap<char, char>> = blocks
        .split('|')
        .map(|b| b.as_bytes().chunks(2).map(|p| (char::from(p[0]), char::from(p[1]))).collect())
        .collect();
    let end = maps.iter().fold(start, |x, p| p[&x]);
    (maps.len(), start, end)
}

#[test]
fn compose_answers_apply_every_permutation_left_to_right() {
    use thinktok::engine::data::{
        tasks::{generate, max_tokens},
        Role,
    };
    use thinktok::plan::{IntRange, TaskKind};
    let task = TaskKind::Compose { letters: 5, steps: IntRange { start: 1, end: 5 } };
    let examples = generate(&task, 400, 2, Role::Train);
    let mut seen = std::collections::BTreeSet::new();
    let mut longest = 0;
    let mut answer_is_start = 0;
    for e in &examples {
        let (blocks, start, end) = apply_compose(&e.prompt);
        for block in e.prompt.split_once('?').unwrap().0.split('|') {
            assert_eq!(block.len(), 10, "five pairs, nothing between them: {}", e.prompt);
            let keys: Vec<char> = block.chars().step_by(2).collect();
            let mut images: Vec<char> = block.chars().skip(1).step_by(2).collect();
            images.sort_unstable();
            assert_eq!(keys, ('a'..='e').collect::<Vec<_>>(), "keys in order: {}", e.prompt);
            assert_eq!(images, keys, "each block is a permutation: {}", e.prompt);
        }
        assert_eq!(e.answer, end.to_string(), "{}", e.prompt);
        assert_eq!(e.group.as_deref(), Some(format!("steps={blocks}").as_str()));
        answer_is_start += usize::from(end == start);
        seen.insert(blocks);
        longest = longest.max(e.prompt.len() + e.answer.len() + 1);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4], "every k of the range occurs");
    assert_eq!(longest, max_tokens(&task), "the bound is reached by the longest examples");
    // Uniform permutations: the start letter is the answer about one time in five, as any other letter.
    assert!((40..=120).contains(&answer_is_start), "answer = start {answer_is_start} times of 400");
    assert_eq!(examples, generate(&task, 400, 2, Role::Train), "deterministic in the seed");
    assert_ne!(examples, generate(&task, 400, 3, Role::Train));
    // The documented example: b → c → b → a.
    assert_eq!(apply_compose("abbcca|aabccb|acbacb?b="), (3, 'b', 'a'));
}
