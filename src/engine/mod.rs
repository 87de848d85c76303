//! The engine: runs execution plans with candle. It never sees spec text, only [`crate::plan`] types.
//!
//! One folder per phase, each depending only on the ones listed before it (no import circles):
//! [`model`] (the GPT, its KV cache, fused CPU ops) and [`data`] (sources, tokenizer, batches) → [`episode`] (the
//! episode phase: fast-forward, rounds, gains, baselines) → [`eval`] (figures, honest placement) → [`learn`] (layout
//! of a placement, the episodic step, the training loop, optimiser, checkpoints) → [`run`] (a plan into its output
//! folder, sweep reports). [`device`], [`error`], [`files`], [`profile`] (phase timers), [`rng`] and [`stop`] (stopping on a signal) are
//! shared by all.

pub mod data;
pub mod device;
pub mod episode;
pub mod error;
pub mod eval;
pub mod files;
pub mod learn;
pub mod model;
pub mod pretrained;
pub mod profile;
pub mod rng;
pub mod run;
pub mod stop;
