//! `thinktok generate (--ckpt DIR | --model PATH) -p PROMPT … [--max-tokens N] [--temperature T] [--seed S]
//! [--show-thoughts]`: continue prompts, the model placing its own thoughts (hidden unless asked for).

use std::process::ExitCode;

use crate::engine::error::invalid;
use crate::engine::eval::generate::{generate, GenerateOptions, Stop};
use crate::plan::{Insertion, THOUGHT_ID};

pub fn run(args: &super::GenerateArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| {
        let mut prompts = args.prompt.clone();
        if let Some(path) = &args.prompts {
            let text =
                std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read `{}`: {e}", path.display())))?;
            prompts.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
        }
        if prompts.is_empty() {
            return Err(invalid("no prompt: give `--prompt TEXT` (repeatable) or `--prompts FILE`"));
        }
        let loaded = super::model_source::load(
            args.source.ckpt.as_deref(),
            args.source.model.as_deref(),
            args.source.context,
            512,
            args.device.as_deref(),
            |_| Ok(()),
        )?;
        let params = &loaded.run.params;
        let tok = &loaded.built.tokenizer;
        let ids = prompts.iter().map(|p| tok.encode(p)).collect::<anyhow::Result<Vec<_>>>()?;
        let max_consecutive = match params.episode.insertion {
            Insertion::FastForward { max_consecutive, .. } => max_consecutive,
            _ => 2,
        };
        let opts = GenerateOptions {
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            seed: args.seed,
            thought_budget: args.thoughts.unwrap_or(params.episode.thought_budget),
            max_consecutive,
            stop: tok.stop_ids(),
        };
        let out = generate(loaded.built.model.as_ref(), &ids, &opts).map_err(|e| invalid(format!("{e:#}")))?;
        Ok((prompts, out, loaded))
    })();
    let (prompts, out, loaded) = match outcome {
        Ok(done) => done,
        Err(err) => return super::run::fail(err),
    };
    let tok = &loaded.built.tokenizer;
    for (prompt, g) in prompts.iter().zip(&out) {
        let shown: Vec<u32> = if args.show_thoughts {
            g.tokens.clone()
        } else {
            g.tokens.iter().copied().filter(|&t| t != THOUGHT_ID).collect()
        };
        let text = tok.decode(&shown);
        let stop = match g.stop {
            Stop::EndOfText => "end_of_text",
            Stop::MaxTokens => "max_tokens",
            Stop::Context => "context",
        };
        if args.json {
            let value = serde_json::json!({"prompt": prompt, "text": text, "thoughts": g.thoughts,
                                           "tokens": g.tokens.len() - g.thoughts, "stop": stop});
            println!("{value}");
        } else {
            println!("{prompt}{text}");
            println!("  [{} tokens, {} thoughts, stopped: {stop}]", g.tokens.len() - g.thoughts, g.thoughts);
        }
    }
    Ok(ExitCode::SUCCESS)
}
