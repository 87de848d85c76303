//! The learning phase and the training loop: [`layout`] turns a placement into inputs, targets and loss masks,
//! [`episodic`] is one learning step of a run with thoughts, [`trainer`] one optimiser step, [`train`] the loop of
//! a run; [`unroll`] the learning forward through continuous thoughts; [`optim`] (AdamW with checkpointable moments) and [`checkpoint`] (atomic save and load).

pub mod checkpoint;
pub mod episodic;
pub mod layout;
pub mod optim;
pub mod train;
pub mod trainer;
pub mod unroll;

pub use train::{describe, train_run, Outcome, TrainOptions, THOUGHT_EXAMPLES_PER_GROUP};
pub use trainer::{
    build_model, build_run_model, global_norm, learning_rate, weighted_nll_sum, Built, StepStats, Trainer,
};
