//! Evaluation: [`figures`] computes held-out figures under a fixed placement (none, or one given); [`placer`]
//! places thoughts honestly (the model's own policy, a fitted threshold, a baseline's rule, the labelled oracle)
//! and evaluates a run's model under it; [`thought_map`] shows where that placement puts the thoughts.

pub mod figures;
pub mod generate;
pub mod placer;
pub mod thought_map;

pub use figures::{evaluate, EvalReport, GroupFigures, ThoughtFigures, CONSTANT_GUESS_SHARE, EVAL_BATCH};
pub use placer::{evaluate_run, evaluate_run_mapped, evaluate_with, fit, own_policy, Placer};
pub use thought_map::{thought_map, ThoughtMap};
