//! Evaluation: [`figures`] computes held-out figures under a fixed placement (none, or one given); [`placer`]
//! places thoughts honestly (the model's own policy, a fitted threshold, a baseline's rule, the labelled oracle)
//! and evaluates a run's model under it.

pub mod figures;
pub mod placer;

pub use figures::{evaluate, EvalReport, GroupFigures, ThoughtFigures, EVAL_BATCH};
pub use placer::{evaluate_run, evaluate_with, own_policy, Placer};
