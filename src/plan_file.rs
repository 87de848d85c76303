//! Plan files (`.ron`, `.json`) read back and checked as the checker checks a spec.
//!
//! A plan file is text a user can edit, so nothing in it is trusted: each run's parameters are written back as a
//! one-run spec ([`spec_text`]) and compiled, which applies every type, range and relation check a spec gets; the
//! compiled parameters must equal the file's (anything a spec cannot say, such as another vocabulary size, is named);
//! each run's identity is recomputed from its parameters and must equal the id written; the estimates are recomputed.

use std::path::Path;

use anyhow::Context as _;

use crate::engine::error::invalid;
use crate::plan::text::spec_text;
use crate::plan::{self, Estimates, Plan, RunParams, RunPlan};

/// Load a plan from a spec (`.think`, compiled) or a plan file (`.ron` / `.json`: format version, then
/// [`validate`]). Every problem is invalid input (exit code 1).
pub fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "think" {
        return crate::compile_file(path).map_err(|d| invalid(d.render(false)));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read plan `{}`", path.display()))?;
    if ext != "ron" && ext != "json" {
        return Err(invalid(format!("`{}`: expected a spec (`.think`) or a plan (`.ron`, `.json`)", path.display())));
    }
    // Read the version first, so an old plan gets a clear message rather than a field-by-field parse error.
    if let Some(v) = format_version_of(&text) {
        if v != plan::FORMAT_VERSION {
            return Err(invalid(format!(
                "`{}` is a plan of format version {v}, but this thinktok reads format version {}: recompile it from \
                 its spec with `thinktok plan SPEC --format {ext}`",
                path.display(),
                plan::FORMAT_VERSION
            )));
        }
    }
    parse_plan(&path.display().to_string(), &text, ext == "json")
}

/// A plan file's text (`json`: JSON, else RON) parsed and [`validate`]d; `name` names it in messages.
pub fn parse_plan(name: &str, text: &str, json: bool) -> anyhow::Result<Plan> {
    let parsed: Result<Plan, String> = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        ron::from_str(text).map_err(|e| e.to_string())
    };
    let kind = if json { "JSON" } else { "RON" };
    let plan = parsed.map_err(|e| invalid(format!("`{name}` is not a valid {kind} plan: {e}")))?;
    validate(name, plan).map_err(invalid)
}

/// `plan` (read from `name`) checked run by run, with recomputed estimates; or every problem found, each naming
/// the run and the key, with how to fix it.
pub fn validate(name: &str, mut plan: Plan) -> Result<Plan, String> {
    let mut problems: Vec<String> = Vec::new();
    if plan.format_version != plan::FORMAT_VERSION {
        problems.push(format!(
            "format version {} (this thinktok reads {}): recompile the plan from its spec",
            plan.format_version,
            plan::FORMAT_VERSION
        ));
    }
    if plan.runs.is_empty() {
        problems.push("the plan has no runs".into());
    }
    let n = plan.runs.len();
    let mut seen: Vec<String> = Vec::new();
    for (i, run) in plan.runs.iter_mut().enumerate() {
        let which = format!("run {}/{n} (`{}`)", i + 1, run.id);
        match validate_run(name, &which, run) {
            Ok(estimates) => run.estimates = estimates,
            Err(found) => {
                problems.extend(found);
                continue;
            }
        }
        if seen.contains(&run.id) {
            problems.push(format!("{which}: the same parameters as an earlier run; remove one of them"));
        }
        seen.push(run.id.clone());
    }
    if problems.is_empty() {
        return Ok(plan);
    }
    let count = problems.len();
    Err(format!(
        "the plan `{name}` has {count} problem{} (fix {}, or recompile the plan from its spec with `thinktok plan \
         SPEC --format ron`):\n\n{}",
        if count == 1 { "" } else { "s" },
        if count == 1 { "it" } else { "them" },
        problems.join("\n")
    ))
}

/// One run read from `name` (a plan file, or a checkpoint's `meta.json`), called `which` in messages, checked as a
/// spec's run: its recomputed estimates, or every problem found.
pub fn validate_run(name: &str, which: &str, run: &RunPlan) -> Result<Estimates, Vec<String>> {
    let source = format!("{name}, {which}, as spec text");
    let compiled = crate::compile_str(&source, &spec_text(&run.params))
        .map_err(|diags| diags.0.iter().map(|d| d.render(false)).collect::<Vec<_>>())?;
    let back =
        compiled.runs.into_iter().next().ok_or_else(|| vec![format!("{which}: its parameters compile to no run")])?;
    if back.params != run.params {
        let json = |p: &RunParams| serde_json::to_value(p).unwrap_or(serde_json::Value::Null);
        let mut keys = Vec::new();
        crate::check::redundant::differing(&json(&run.params), &json(&back.params), String::new(), &mut keys);
        // Name keys as a spec does (`model.vocab_size`, not serde's `model.Gpt.vocab_size`).
        let keys: Vec<String> = keys.iter().map(|k| k.replacen("model.Gpt.", "model.", 1)).collect();
        return Err(vec![format!(
            "{which}: `{}` cannot have this value (a spec cannot give it; the spec text of this run gives \
             another): restore the value `thinktok plan` wrote, or change the spec and recompile",
            keys.join("`, `")
        )]);
    }
    let identity = run.params.identity();
    if run.id != identity {
        return Err(vec![format!(
            "{which}: the id is not the identity of the run's parameters (`{identity}`): the plan was edited \
             after it was compiled; recompile it from its spec (`thinktok plan SPEC --format ron`) so that finished \
             runs, resumes and reports never mix runs of different parameters"
        )]);
    }
    Ok(back.estimates)
}

/// The `format_version` field of a RON or JSON plan, found by a plain text scan (both spell it the same way).
fn format_version_of(text: &str) -> Option<u32> {
    let at = text.find("format_version")?;
    let rest =
        text[at + "format_version".len()..].trim_start_matches(|c: char| c == '"' || c == ':' || c.is_whitespace());
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
