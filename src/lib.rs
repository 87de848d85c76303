//! thinktok: a declarative experiment-spec interpreter for episodic thought-token learning.
//!
//! The pipeline (see `ARCHITECTURE.md`):
//!
//! ```text
//! spec text ──syntax──▶ Ast ──check──▶ Plan ──print──▶ dry-run tree
//!                                        └──engine──▶ runs, metrics, checkpoints
//! ```
//!
//! The engine never sees spec text, only [`plan::Plan`]s; the front end never touches tensors.
//!
//! Front-end stage functions: [`parse_spec`] (text → [`syntax::SpecAst`]), [`compile_str`] / [`compile_file`]
//! (text → imports → [`check::check`] → [`plan::Plan`], or every error as [`diagnostic::Diagnostics`]),
//! [`print_plan`] / [`plan_to_ron`] (plan → text), and [`load_plan`] (a spec or a `.ron` / `.json` plan file).

pub mod check;
pub mod cli;
pub mod cluster;
pub mod diagnostic;
pub mod engine;
pub mod lsp;
pub mod plan;
pub mod plan_diff;
pub mod plan_file;
pub mod pretrained;
pub mod print;
pub mod syntax;

use std::path::Path;

use diagnostic::{Diagnostics, Sources};
pub use plan_file::load_plan;

/// Codes of syntax errors: after them the rest of a file is still checked.
const SYNTAX_CODES: [&str; 2] = ["E0101", "E0102"];

/// The spec `thinktok run` trains with no arguments.
pub const DEFAULT_SPEC: &str = include_str!("../specs/default.think");

/// Stage 1: spec text → spanned AST (the first syntax error, if any). Imports are not followed.
pub fn parse_spec(name: &str, text: &str) -> Result<syntax::SpecAst, Diagnostics> {
    let mut sources = Sources::default();
    let id = sources.add(name, text);
    syntax::parse(&sources, id).map_err(Diagnostics::single)
}

/// Stages 1–3: spec text → checked, fully resolved plan. Imports are resolved relative to `name`'s folder.
pub fn compile_str(name: &str, text: &str) -> Result<plan::Plan, Diagnostics> {
    compile_str_with(name, text, &[])
}

/// [`compile_str`] with `--set KEY=VALUE` overrides applied after imports, as the spec's own last lines (see
/// [`check::overrides`]); the plan records them.
pub fn compile_str_with(name: &str, text: &str, overrides: &[String]) -> Result<plan::Plan, Diagnostics> {
    let mut sources = Sources::default();
    let id = sources.add(name, text);
    let (mut files, mut diags) = check::imports::load(&mut sources, id);
    diags.extend(check::overrides::apply(&mut sources, &mut files, overrides));
    // After syntax errors alone, the lines that parsed are still checked, less the errors that only say something
    // is missing (the broken lines may be what held it); any other loading error stops here.
    let syntax_only = diags.iter().all(|d| SYNTAX_CODES.contains(&d.code));
    if diags.is_empty() || (syntax_only && !files.is_empty()) {
        match check::check(&sources, &files) {
            Ok(mut plan) if diags.is_empty() => {
                plan.overrides = overrides.to_vec();
                return Ok(plan);
            }
            Ok(_) => {}
            Err(semantic) => {
                let after_syntax = !diags.is_empty();
                let missing = ["E0212", "E0213", "E0215"];
                diags.extend(semantic.0.into_iter().filter(|d| !(after_syntax && missing.contains(&d.code))));
            }
        }
    }
    let mut diags = Diagnostics(diags);
    diags.normalise();
    Err(diags)
}

/// Read and compile a spec file (imports relative to it).
pub fn compile_file(path: &Path) -> Result<plan::Plan, Diagnostics> {
    compile_file_with(path, &[])
}

/// [`compile_file`] with `--set` overrides.
pub fn compile_file_with(path: &Path, overrides: &[String]) -> Result<plan::Plan, Diagnostics> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => compile_str_with(&name, &text, overrides),
        Err(err) => Err(Diagnostics::single(diagnostic::Diagnostic::error(
            "E0500",
            format!("cannot read spec `{name}`: {err}"),
        ))),
    }
}

/// Stage 4: a plan as the dry-run text tree.
pub fn print_plan(plan: &plan::Plan, opts: print::PrintOptions) -> String {
    print::print_plan(plan, opts)
}

/// A plan as pretty RON (what `thinktok plan --format ron` writes and `thinktok run plan.ron` reads).
pub fn plan_to_ron(plan: &plan::Plan) -> anyhow::Result<String> {
    let config = ron::ser::PrettyConfig::new().struct_names(true);
    Ok(ron::ser::to_string_pretty(plan, config)?)
}

/// Zero machine-dependent estimates (peak memory), so serialised plans compare across machines and in snapshots.
pub fn mask_volatile(plan: &mut plan::Plan) {
    for run in &mut plan.runs {
        run.estimates.peak_memory_bytes = 0;
    }
}
