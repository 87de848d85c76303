//! The command line: argument parsing and dispatch to one module per subcommand.
//!
//! Exit codes: 0 success, 1 invalid input (a spec, plan, data or checkpoint that is wrong), 2 usage error (clap's own),
//! 3 runtime failure (an I/O or engine error during a run), 75 a run stopped by SIGTERM or SIGINT with a checkpoint
//! written (`--resume` continues it), 10 from `status`: not every run has finished. A closed stdout
//! (`thinktok plan | head`) is not an error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod bench;
mod bench_episode;
mod bench_model;
mod bench_plan;
mod bench_pretrained;
mod check;
mod debug;
mod eval;
mod generate;
mod model_source;
mod plan;
mod report;
mod run;
mod status;
mod submit;

/// Experiment specs for episodic thought-token learning: check, plan, run, evaluate, benchmark.
#[derive(Debug, Parser)]
#[command(name = "thinktok", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a spec and report every error in it (exit 1 if any).
    Check(CheckArgs),
    /// Print the execution plan of a spec (a dry run), or the difference between two.
    Plan(PlanArgs),
    /// Run every run of a spec or plan file (the built-in default spec without one).
    Run(RunArgs),
    /// Evaluate a checkpoint on held-out data.
    Eval(EvalArgs),
    /// Continue prompts with a checkpoint or a pretrained model, its own thoughts hidden (or shown).
    Generate(GenerateArgs),
    /// Rebuild results.json, report.md and report.html from output folders (several: one combined report).
    Report(ReportArgs),
    /// What became of each run of an output folder (exit 10 unless every run finished).
    Status(StatusArgs),
    /// Send a plan's unfinished runs to Slurm as a job array, with a dependent report job.
    Submit(SubmitArgs),
    /// Measure speed: planning, the model, or the episode phase.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Views of the pipeline's intermediate stages (prone to change).
    #[command(subcommand)]
    Debug(DebugCommand),
    /// A language server for spec files over stdio (diagnostics, completion, hover, go to import).
    Lsp,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The spec file (`.think`).
    pub spec: PathBuf,
    /// Override a setting as the spec's own last line: `KEY=VALUE` in spec syntax (`learn.steps=100`,
    /// `'episode.insertion=random(per_sequence = 4)'`); a list or a range (`seed=0..3`) is a sweep axis. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Ron,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The spec file (`.think`); with `--diff`, the old spec or plan.
    pub spec: PathBuf,
    /// Compare SPEC (old) with this spec or plan (new), run by run.
    #[arg(long, value_name = "NEW")]
    pub diff: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Replace machine-dependent figures with `<masked>` (for snapshot tests).
    #[arg(long)]
    pub mask_volatile: bool,
    /// Override a setting as the spec's own last line: `KEY=VALUE` in spec syntax (`learn.steps=100`,
    /// `'episode.insertion=random(per_sequence = 4)'`); a list or a range (`seed=0..3`) is a sweep axis. Repeatable; with `--diff`, applied to NEW.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A spec (`.think`) or a plan (`.ron`, `.json`); the built-in default spec if omitted.
    pub input: Option<PathBuf>,
    /// Override a setting as the spec's own last line: `KEY=VALUE` in spec syntax (`learn.steps=100`,
    /// `'episode.insertion=random(per_sequence = 4)'`); a list or a range (`seed=0..3`) is a sweep axis. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder: one sub-folder per run, `results.json` and `report.md`.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override the plan's device: `cpu` or `cuda:N`.
    #[arg(long)]
    pub device: Option<String>,
    /// Continue unfinished runs from their last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Rerun runs that already finished in OUT.
    #[arg(long)]
    pub force: bool,
    /// Stop each run after this many steps (a checkpoint is written), as if interrupted.
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only this run of the plan: its id, or its index from 0 in plan order (what one array task of
    /// `thinktok submit` runs). results.json and the reports are then left to `thinktok report`.
    #[arg(long, value_name = "ID|INDEX")]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// A spec (`.think`) or a plan (`.ron`, `.json`).
    pub input: PathBuf,
    /// Override a setting of a spec (`KEY=VALUE`, as for `run`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder, on storage every node sees: plan.ron, one folder per run, slurm/ (scripts, logs, job ids).
    #[arg(long)]
    pub out: PathBuf,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per run (`4:00:00`, `1-00:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// GPUs per run (`--gpus-per-task`).
    #[arg(long)]
    pub gpus_per_run: Option<u32>,
    /// CPU cores per run (also the run's thread count).
    #[arg(long, default_value_t = 1)]
    pub cpus_per_run: u32,
    /// At most this many runs at once.
    #[arg(long)]
    pub throttle: Option<u32>,
    /// A further `#SBATCH` argument (`--sbatch-arg=--account=ml`). Repeatable.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// Print the scripts and the sbatch commands; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// An output folder of `thinktok run` or `thinktok submit`.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output folders of `thinktok run` (each with its `plan.ron` and run folders).
    #[arg(required = true, value_name = "OUT")]
    pub out: Vec<PathBuf>,
    /// Where the report goes (needed for several folders; default: the one folder).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

/// Where `eval` and `generate` get their model: a thinktok checkpoint, or a pretrained model as published.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A checkpoint folder (`model.safetensors` + `meta.json`).
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub ckpt: Option<PathBuf>,
    /// A pretrained model as published, instead of a checkpoint: a `.gguf` file or a Hugging Face folder.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Positions per sequence with `--model` (default: 256 for `eval`, 512 for `generate`, or the model's own context
    /// if shorter).
    #[arg(long, requires = "model")]
    pub context: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model (with `--model`, text is cut into sequences of `--context` tokens; default 256).
    #[command(flatten)]
    pub source: ModelArgs,
    /// Data to evaluate on: `jsonl:PATH`, `text:PATH` or `task:NAME`; the run's test data if omitted.
    #[arg(long)]
    pub data: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// `cpu` or `cuda:N`.
    #[arg(long)]
    pub device: Option<String>,
    /// Who places thoughts, instead of the run's `eval.placement`: `own`, `threshold:P`, `fit_threshold[:N]`
    /// (fitted on N of the run's training sequences, default 500), `none` or `oracle` (peeks; a diagnostic).
    #[arg(long)]
    pub placement: Option<String>,
    /// Also write where the model puts its thoughts (the run folder's `thoughts.json` format, for report.html)
    /// to this file: held-out examples per group with their thoughts, and the thought rate by position.
    #[arg(long, value_name = "FILE")]
    pub thoughts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The model (with `--model`, `--context` is prompt plus generated tokens plus thoughts; default 512).
    #[command(flatten)]
    pub source: ModelArgs,
    /// A prompt (repeat for several; they are generated as one batch).
    #[arg(long, short = 'p')]
    pub prompt: Vec<String>,
    /// A file of prompts, one per line (empty lines skipped).
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Real tokens to generate per prompt, at most.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// 0 for greedy decoding; otherwise sample at this temperature.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Thoughts per prompt, at most (default: the run's `thought_budget`).
    #[arg(long)]
    pub thoughts: Option<usize>,
    /// Print `<|thought|>` where the model thought.
    #[arg(long)]
    pub show_thoughts: bool,
    /// Print one JSON object per prompt.
    #[arg(long)]
    pub json: bool,
    /// `cpu` or `cuda:N`.
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchSize {
    /// 4 layers, width 256, 16 sequences of 256 (the CPU's figures).
    Small,
    /// 6 layers, width 384, 32 sequences of 256.
    Medium,
    /// GPT-2's 124M shape (12 layers, width 768, 12 heads), 16 sequences of 1,024: for GPUs.
    Gpt2,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Check and plan a generated spec whose sweep expands to 1,000 runs.
    Plan {
        #[arg(long)]
        json: bool,
    },
    /// No-grad forward and training-step throughput of the benchmark GPT.
    Model {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        device: Option<String>,
        /// Timed repeats per figure (the median is reported).
        #[arg(long, default_value_t = 5, value_parser = at_least_one)]
        repeats: usize,
        /// A pretrained checkpoint (`.gguf` or Hugging Face folder) instead of the benchmark GPT.
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// Sequences per batch with `--model`.
        #[arg(long, default_value_t = 4, value_parser = at_least_one, requires = "model")]
        batch: usize,
        /// Tokens per sequence with `--model`.
        #[arg(long, default_value_t = 128, value_parser = at_least_one, requires = "model")]
        seq: usize,
        /// The device's peak for MFU: TFLOP/s, or a known GPU (h200, h100, a100, l40s: its peak in `--dtype`).
        #[arg(long, value_parser = bench_model::parse_peak, conflicts_with = "model")]
        peak: Option<bench_model::Peak>,
        /// What the matmuls and attention compute in: `f32`, or `bf16` / `f16` on CUDA (weights stay f32).
        #[arg(long, value_parser = bench_model::parse_dtype, default_value = "f32", conflicts_with = "model")]
        dtype: crate::plan::Precision,
    },
    /// Fast-forward and episode cost relative to one plain forward pass.
    Episode {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        device: Option<String>,
        #[arg(long, value_enum, default_value_t = BenchSize::Small)]
        size: BenchSize,
        /// Timed repeats per figure (the median is reported).
        #[arg(long, default_value_t = 3, value_parser = at_least_one)]
        repeats: usize,
        /// Positions per row per model call of the fast-forward (default: the engine's, 8 on the CPU, 32 on GPUs).
        #[arg(long, value_parser = at_least_one)]
        chunk: Option<usize>,
    },
}

/// A count of at least 1 (clap reports anything else as a usage error, exit code 2).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected an integer ≥ 1".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// The spanned syntax tree of a spec.
    Ast { spec: PathBuf },
    /// The resolved plan as RON, without estimates masked.
    Resolved { spec: PathBuf },
    /// The examples a run's built-in task generates, one JSON object per line (`prompt`, `answer`, `group`): what
    /// the model sees, and a JSONL file to edit and feed back as `jsonl("…")`.
    Examples {
        spec: PathBuf,
        /// Which run of the plan (as numbered by `thinktok plan`).
        #[arg(long, default_value_t = 0)]
        run: usize,
        /// The held-out source instead of the training one.
        #[arg(long)]
        test: bool,
        /// How many examples (the first of the source's, in order).
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// The token ids a pretrained model's tokenizer gives a text file (its own ids, as JSON).
    Tokens {
        /// A `.gguf` file or a Hugging Face folder.
        #[arg(long)]
        model: PathBuf,
        file: PathBuf,
    },
}

/// Parse arguments, dispatch, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    quiet_library_backtraces();
    pin_thread_count();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Submit(args) => submit::run(&args),
        Command::Bench(cmd) => bench::run(&cmd),
        Command::Debug(cmd) => debug::run(&cmd),
        Command::Lsp => crate::lsp::serve(),
    };
    match outcome {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(3)
        }
    }
}

/// Errors never carry a backtrace, whatever `RUST_BACKTRACE` says: candle (and anyhow) capture one into every error
/// they create when it is set, and candle's errors print theirs as part of their message, so a user's bad shape
/// would read as a crash. `RUST_LIB_BACKTRACE=0` turns off those captures while panics (bugs) keep the backtrace
/// `RUST_BACKTRACE` asks for; a user who sets `RUST_LIB_BACKTRACE` themselves gets what they set.
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists, so nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// Fix the thread count once: candle asks for it on every matmul, and without `RAYON_NUM_THREADS` it re-derives
/// it each time from `/proc` and `/sys` (a few file reads per op: 5–10% of a small inference chunk's time).
/// Setting the variable to that same default changes no count, only how it is found.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        // SAFETY: called first thing in `main`, before any thread exists (as above).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}

/// `--set` given with a plan file: a plan is already resolved, so the override has nothing to apply to.
fn set_on_plan_file(path: &std::path::Path) -> anyhow::Error {
    crate::engine::error::invalid(format!(
        "`--set` applies to specs, and `{}` is a plan file (already resolved): compile its spec with `--set` \
         instead (`thinktok plan SPEC --set KEY=VALUE --format ron`)",
        path.display()
    ))
}

/// Exit code for invalid user input (spec, plan, data, checkpoint).
pub const EXIT_INVALID: u8 = 1;

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
