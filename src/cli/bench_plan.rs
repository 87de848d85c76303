//! `thinktok bench plan [--json]`: the median time to check and plan a generated spec whose sweep expands to
//! 1,000 runs (10 cull fractions × 10 thought budgets × 10 seeds), parse included.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Timed repeats; the median is reported.
const REPEATS: usize = 21;

/// The benchmark spec: the DESIGN example's settings with a 1,000-run sweep.
pub fn bench_spec() -> String {
    let culls: Vec<String> = (1..=10).map(|i| format!("{:?}", f64::from(i) / 11.0)).collect();
    format!(
        r#"experiment "bench-plan" {{
  model gpt {{ layers = 2  width = 128  heads = 4  context = 64 }}
  data {{
    train = task.sum3(digits = 6, count = 20000)
    test = task.sum3(digits = 6, count = 2000, seed = 1)
  }}
  episode {{ samples = 32  rounds = 16  thought_budget = 8  cull = 0.5 }}
  learn {{ steps = 2000  batch = 32  optimizer = adamw(lr = 2e-3, warmup = 100) }}
}}

sweep {{
  episode.cull = [{}]
  zip {{
    episode.thought_budget = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    episode.rounds = 4..14
  }}
  seed = 0..10
}}
"#,
        culls.join(", ")
    )
}

pub fn run(json: bool) -> anyhow::Result<ExitCode> {
    let spec = bench_spec();
    let mut times: Vec<Duration> = Vec::with_capacity(REPEATS);
    let mut runs = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        let plan = crate::compile_str("bench-plan.think", &spec)
            .map_err(|d| anyhow::anyhow!("the benchmark spec does not check:\n{d}"))?;
        times.push(start.elapsed());
        runs = plan.runs.len();
    }
    times.sort();
    let median = times[REPEATS / 2].as_secs_f64() * 1e3;
    let (min, max) = (times[0].as_secs_f64() * 1e3, times[REPEATS - 1].as_secs_f64() * 1e3);
    if json {
        println!(
            "{}",
            serde_json::json!({ "bench": "plan", "runs": runs, "repeats": REPEATS, "median_ms": median, "min_ms": min, "max_ms": max })
        );
    } else {
        println!("bench plan: check + plan of a {runs}-run sweep, median of {REPEATS}: {median:.2} ms (min {min:.2}, max {max:.2})");
    }
    Ok(ExitCode::SUCCESS)
}
