//! Helpers shared by the engine and CLI integration tests: a tiny hand-built plan, scratch folders and a model
//! whose thoughts depend on the tokens ([`token_bias::TokenBias`]).
#![allow(dead_code)]

pub mod token_bias;

use std::collections::BTreeMap;
use std::path::PathBuf;

use thinktok::plan::*;

/// A fresh empty scratch folder under cargo's target tmp dir, unique per test name and process.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("thinktok-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Parameters of a tiny run: a 1-layer width-16 GPT on sum3 with 4 digits, a dozen steps.
pub fn tiny_params() -> RunParams {
    RunParams {
        seed: 0,
        device: DeviceSpec::Cpu,
        dtype: Precision::F32,
        model: ModelConfig::Gpt(GptConfig { layers: 1, width: 16, heads: 2, context: 16, vocab_size: VOCAB_SIZE }),
        data: DataConfig {
            train: DataSource::Task { task: TaskKind::Sum3 { digits: 4 }, count: 64, seed: 0 },
            test: DataSource::Task { task: TaskKind::Sum3 { digits: 4 }, count: 32, seed: 1 },
        },
        episode: EpisodeConfig {
            samples: 8,
            rounds: 2,
            thought_budget: 2,
            insertion: Insertion::None,
            cull: 0.5,
            cull_below_cost: false,
            gain: GainConfig::default(),
            strategy: EpisodeStrategy::Rounds,
            thoughts: ThoughtKind::Discrete,
            every: 1,
            slots: Slots::All,
            mix: ThoughtMix::Replace,
            warmup: Warmup::default(),
            proposal_size: 1,
        },
        learn: LearnConfig {
            steps: 12,
            batch: 8,
            accumulate: 1,
            unroll: 1,
            optimizer: Optimizer::AdamW {
                lr: 3e-3,
                warmup: 3,
                weight_decay: 0.1,
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                schedule: Schedule::Cosine { min_lr_frac: 0.1 },
            },
            grad_clip: Some(1.0),
            reinforce: 1.0,
            punish: 0.5,
            real_loss: RealLoss::Kept,
            thought_norm: ThoughtNorm::PerThought,
        },
        eval: EvalConfig { every: 6, checkpoint_every: 4, placement: EvalPlacement::Rule, max_sequences: None },
    }
}

/// A run of `params` with its content id.
pub fn run_of(params: RunParams, label: &str) -> RunPlan {
    RunPlan {
        id: params.identity(),
        label: label.to_string(),
        swept: BTreeMap::new(),
        params,
        estimates: Estimates {
            parameters: 0,
            tokens_per_step: 0,
            total_tokens: 0,
            forward_flops_per_step: 0.0,
            backward_flops_per_step: 0.0,
            episode_flops_per_step: 0.0,
            run_flops: 0.0,
            peak_memory_bytes: 0,
            train_positions_per_step: 0.0,
        },
    }
}

/// A one-run plan of [`tiny_params`], changed by `edit`.
pub fn tiny_plan_with(edit: impl FnOnce(&mut RunParams)) -> Plan {
    let mut params = tiny_params();
    edit(&mut params);
    Plan {
        format_version: FORMAT_VERSION,
        language_version: 1,
        experiment: "tiny".into(),
        axes: vec![],
        runs: vec![run_of(params, "")],
        overrides: vec![],
    }
}

pub fn tiny_plan() -> Plan {
    tiny_plan_with(|_| {})
}
