//! Run a small plan in-process and read its results: what `thinktok run` does, from the library.
//!
//! `cargo run --release --example run_in_process` (a few seconds: two 40-step runs of a tiny model).

use thinktok::engine::run::{run_plan, RunOptions};

const SPEC: &str = r#"version = 1
experiment "tiny" {
  model gpt {
    layers = 1
    width = 32
    heads = 2
    context = 16
  }
  data {
    train = task.sum3(digits = 6, count = 2000)
    test = task.sum3(digits = 6, count = 200, seed = 1)
  }
  learn {
    steps = 40
    batch = 32
  }
  eval.every = 20
}
sweep {
  episode.insertion = [none(), answer_pause(count = 2)]
}
"#;

fn main() -> anyhow::Result<()> {
    let plan = thinktok::compile_str("tiny.think", SPEC).map_err(|d| anyhow::anyhow!(d.render(false)))?;
    let out = std::env::temp_dir().join(format!("thinktok-example-{}", std::process::id()));
    let options = RunOptions::quiet(out.clone());
    let results = run_plan(&plan, &options)?;
    for run in &results.runs {
        let eval = run.eval.as_ref().ok_or_else(|| anyhow::anyhow!("run {} has no evaluation", run.id))?;
        println!("{:<40} NLL {:.4} nats  accuracy {:?}", run.label, eval.real_nll, eval.accuracy);
    }
    // The same figures, with every run's parameters, in results.json; the tables and charts in report.html.
    println!("report: {}", out.join("report.html").display());
    Ok(())
}
