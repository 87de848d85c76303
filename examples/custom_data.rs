//! Bring your own data: write a JSONL source from code (a prompt, an answer and a difficulty `group` per line),
//! point a spec at it with `jsonl(path)`, and train on it. Evaluation reports every figure per group.
//!
//! `cargo run --release --example custom_data`

use std::io::Write;

use thinktok::engine::run::{run_plan, RunOptions};

/// Reverse a string of `n` letters: the answer needs more work the longer the string, so `group` is its length.
fn examples(count: usize, seed: u64) -> Vec<serde_json::Value> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    (0..count)
        .map(|_| {
            let n = 2 + next(4) as usize;
            let word: String = (0..n).map(|_| char::from(b'a' + next(6) as u8)).collect();
            let reversed: String = word.chars().rev().collect();
            serde_json::json!({ "prompt": format!("{word}>"), "answer": reversed, "group": format!("len={n}") })
        })
        .collect()
}

fn write_jsonl(path: &std::path::Path, records: &[serde_json::Value]) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in records {
        writeln!(file, "{r}")?;
    }
    Ok(file.flush()?)
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("thinktok-custom-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    write_jsonl(&dir.join("train.jsonl"), &examples(2000, 0))?;
    write_jsonl(&dir.join("test.jsonl"), &examples(200, 1))?;
    // Data paths are read as written: relative ones from the working directory, so this one is absolute.
    let spec = r#"version = 1
experiment "reverse" {
  model gpt {
    layers = 1
    width = 32
    heads = 2
    context = 32
  }
  data {
    train = jsonl("TRAIN")
    test = jsonl("TEST")
  }
  learn {
    steps = 40
    batch = 32
  }
  eval.every = 40
}
"#
    .replace("TRAIN", &dir.join("train.jsonl").display().to_string())
    .replace("TEST", &dir.join("test.jsonl").display().to_string());
    let name = dir.join("reverse.think");
    let plan =
        thinktok::compile_str(&name.display().to_string(), &spec).map_err(|d| anyhow::anyhow!(d.render(false)))?;
    let options = RunOptions::quiet(dir.join("out"));
    let results = run_plan(&plan, &options)?;
    let eval = results.runs[0].eval.as_ref().ok_or_else(|| anyhow::anyhow!("no evaluation"))?;
    println!("overall: NLL {:.4} nats, accuracy {:?}", eval.real_nll, eval.accuracy);
    for (group, figures) in &eval.groups {
        println!("{group}: NLL {:.4} nats, accuracy {:?}", figures.real_nll, figures.accuracy);
    }
    Ok(())
}
