//! A warning for built-in tasks whose training set can hold every distinct example: then the held-out examples
//! are (almost) all among the training ones and the figures measure memorisation, not the skill (the lesson of
//! `task.hops` with 5 letters: 360 distinct examples, a 2-layer model at 0.91 on every hop count).

use crate::plan::{DataSource, PairOrder, Plan, TaskKind};

/// Distinct examples `task` can generate (`None`: too many to matter, or a task whose test pairs are held out).
pub fn distinct_examples(task: &TaskKind) -> Option<f64> {
    let pow10 = |e: usize| 10f64.powi(e.min(300) as i32);
    match *task {
        TaskKind::Sum3 { digits } => Some(pow10(digits)),
        // One pair in ten is never trained on: the test set cannot be memorised.
        TaskKind::Multiply { .. } => None,
        TaskKind::Addition { terms, digits } => Some(pow10(terms * digits)),
        TaskKind::AdditionMixed { terms, digits } => Some((terms.start..terms.end).map(|k| pow10(k * digits)).sum()),
        TaskKind::Hops { letters, hops, order } => {
            let n = letters.clamp(1, 26);
            // (n − 1)! cycles × n start letters × the hop counts; shuffled pairs multiply it by n! orders.
            let cycles: f64 = (1..n).map(|i| i as f64).product();
            let orders: f64 = if order == PairOrder::Shuffled { (1..=n).map(|i| i as f64).product() } else { 1.0 };
            let counts = hops.len().clamp(1, 9) as f64;
            Some(cycles * n as f64 * counts * orders)
        }
        TaskKind::Compose { letters, steps } => {
            // n!^k permutation sequences × n start letters, summed over the step counts.
            let n = letters.clamp(2, 26);
            let perms: f64 = (1..=n).map(|i| i as f64).product();
            Some((steps.start..steps.end).map(|k| perms.powi(k.min(300) as i32) * n as f64).sum())
        }
    }
}

/// One warning per distinct training task (across the plan's runs) whose count reaches its distinct examples.
pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut seen: Vec<&DataSource> = Vec::new();
    let mut out = Vec::new();
    for run in &plan.runs {
        let source = &run.params.data.train;
        if seen.contains(&source) {
            continue;
        }
        seen.push(source);
        let DataSource::Task { task, count, .. } = source else { continue };
        let Some(distinct) = distinct_examples(task) else { continue };
        if (*count as f64) < distinct {
            continue;
        }
        // The chance that a given held-out example is among `count` uniform draws.
        let seen_share = 1.0 - (-(*count as f64) / distinct).exp();
        out.push(format!(
            "`data.train = {}` draws {count} examples from only {distinct:.0} distinct ones: about {:.0}% of the \
             held-out examples are training examples too, so the figures can measure memorisation rather than the \
             task; make the task larger (more digits, letters or terms) or the count smaller",
            crate::plan::text::source_text(source),
            100.0 * seen_share
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::IntRange;

    #[test]
    fn distinct_examples_of_the_built_in_tasks() {
        let hops = |letters, order| TaskKind::Hops { letters, hops: IntRange { start: 1, end: 4 }, order };
        assert_eq!(distinct_examples(&hops(5, PairOrder::Sorted)), Some(360.0));
        assert_eq!(distinct_examples(&hops(8, PairOrder::Sorted)), Some(5040.0 * 8.0 * 3.0));
        assert_eq!(distinct_examples(&hops(5, PairOrder::Shuffled)), Some(360.0 * 120.0));
        let compose = TaskKind::Compose { letters: 3, steps: IntRange { start: 1, end: 3 } };
        assert_eq!(distinct_examples(&compose), Some(6.0 * 3.0 + 36.0 * 3.0));
        assert_eq!(distinct_examples(&TaskKind::Sum3 { digits: 6 }), Some(1e6));
        assert_eq!(distinct_examples(&TaskKind::Multiply { digits: 2 }), None);
        let mixed = TaskKind::AdditionMixed { terms: IntRange { start: 2, end: 4 }, digits: 1 };
        assert_eq!(distinct_examples(&mixed), Some(100.0 + 1000.0));
    }

    /// 5 letters with 20,000 examples is warned about; 8 letters is not; the default spec (sum3, 6 digits) is not.
    #[test]
    fn small_tasks_with_large_counts_are_warned_about() {
        let spec = |letters: usize| {
            format!(
                "import \"default.think\"\nexperiment \"m\" {{\n  model.context = 40\n  data.train = \
                 task.hops(letters = {letters}, hops = 1..4, order = sorted, count = 20000)\n}}\n"
            )
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join("x.think");
        let name = dir.display().to_string();
        let small = crate::compile_str(&name, &spec(5)).expect("compiles");
        let w = warnings(&small);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("draws 20000 examples from only 360 distinct ones: about 100%"), "{}", w[0]);
        assert!(warnings(&crate::compile_str(&name, &spec(8)).expect("compiles")).is_empty());
        let default = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("compiles");
        assert!(warnings(&default).is_empty());
    }
}
