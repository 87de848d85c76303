//! Compile a spec and print its execution plan: what `thinktok plan SPEC` shows, from the library.
//!
//! `cargo run --release --example plan`

use thinktok::print::PrintOptions;

const SPEC: &str = r#"version = 1
experiment "cull-ablation" {
  model gpt {
    layers = 2
    width = 128
    heads = 4
    context = 64
  }
  data {
    train = task.sum3(digits = 6, count = 20000)
    test = task.sum3(digits = 6, count = 2000, seed = 1)
  }
  episode.insertion = fast_forward()
  learn.steps = 2000
}
sweep {
  episode.cull = [0.25, 0.5]
  seed = 0..2
}
"#;

fn main() {
    match thinktok::compile_str("cull-ablation.think", SPEC) {
        Ok(plan) => {
            println!("{}", thinktok::print_plan(&plan, PrintOptions::default()));
            for run in &plan.runs {
                println!("{}  {}", run.id, run.label);
            }
        }
        // Every error, with file, line and column, rendered as `thinktok check` does.
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(false));
            std::process::exit(1);
        }
    }
}
