//! Running a plan: [`runner`] runs every run into its output folder, [`results`] holds what a run returns and the
//! summary table, [`report`] writes `results.json`, `report.md` and `curves.png` (drawn by [`plot`]).

pub mod plot;
pub mod report;
pub mod results;
pub mod runner;
mod summary;

pub use results::{table, write_atomic, Results, RichResults, RunRecord, RunResult};
pub use runner::{check_supported, run_plan, RunOptions};
