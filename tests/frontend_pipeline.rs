//! Front-end pipeline tests: identities, round trips, imports, diffs, the CLI's exit codes, and the language
//! reference kept in step with the checker's tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use thinktok::plan::Plan;

const BASE: &str = r#"experiment "t" {
  model gpt { layers = 1  width = 32  heads = 2  context = 32 }
  data {
    train = task.sum3(digits = 4, count = 100)
    test = task.sum3(digits = 4, count = 20, seed = 1)
  }
  episode { samples = 4  rounds = 2  thought_budget = 2 }
  learn { steps = 10  batch = 4 }
}
"#;

fn compile(text: &str) -> Plan {
    thinktok::compile_str("t.think", text).unwrap_or_else(|d| panic!("{d}"))
}

fn ids(plan: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = plan.runs.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

/// A fresh folder under cargo's target tmp dir (not the system temp dir) for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("thinktok-frontend-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn identity_ignores_spec_name_and_sweep_order() {
    let a = compile(&format!("{BASE}sweep {{\n  episode.cull = [0.25, 0.5]\n  seed = 0..2\n}}\n"));
    let renamed = BASE.replace("experiment \"t\"", "experiment \"other\"");
    let b = compile(&format!("{renamed}sweep {{\n  seed = [1, 0]\n  episode.cull = [0.5, 0.25]\n}}\n"));
    assert_eq!(a.runs.len(), 4);
    assert_eq!(ids(&a), ids(&b));
    let c = compile(&format!("{BASE}sweep {{\n  episode.cull = [0.25, 0.75]\n  seed = 0..2\n}}\n"));
    assert_ne!(ids(&a), ids(&c));
}

#[test]
fn sweep_algebra_counts() {
    let zip = compile(&format!(
        "{BASE}sweep {{ zip {{ episode.rounds = [1, 2, 3]  episode.samples = [4, 5, 6] }} seed = 0..2 }}"
    ));
    assert_eq!(zip.runs.len(), 6);
    assert_eq!(zip.runs[2].label, "rounds=2 samples=5 seed=0");
    let concat = compile(&format!("{BASE}sweep {{ concat {{ episode.cull = [0.25, 0.75]  episode.rounds = 3..6 }} }}"));
    assert_eq!(concat.runs.len(), 5);
    assert_eq!(concat.runs[4].params.episode.rounds, 5);
    assert_eq!(concat.runs[4].params.episode.cull, 0.5, "a concat part leaves other axes at the base value");
    let sample = compile(&format!("{BASE}sweep {{ sample(count = 5, seed = 3) {{ learn.optimizer.lr = log_uniform(1e-4, 1e-2)  episode.rounds = 1..4 }} }}"));
    assert_eq!(sample.runs.len(), 5);
    for run in &sample.runs {
        let thinktok::plan::Optimizer::AdamW { lr, .. } = run.params.learn.optimizer;
        assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        assert!((1..4).contains(&run.params.episode.rounds));
    }
    let again = compile(&format!("{BASE}sweep {{ sample(count = 5, seed = 3) {{ learn.optimizer.lr = log_uniform(1e-4, 1e-2)  episode.rounds = 1..4 }} }}"));
    assert_eq!(ids(&sample), ids(&again), "sampling is seeded");
}

#[test]
fn every_semantic_error_in_one_pass() {
    let text = BASE.replace("rounds = 2", "rounds = 0  cul = 0.5").replace("heads = 2", "heads = 3");
    let err =
        thinktok::compile_str("t.think", &format!("{text}sweep {{ episode.nope = [1, 2]  seed = [] }}")).unwrap_err();
    let codes: Vec<&str> = err.iter().map(|d| d.code).collect();
    for code in ["E0302", "E0203", "E0402"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(err.len() >= 4, "{err}");
}

#[test]
fn diagnostics_never_name_grammar_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/invalid");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let rendered = thinktok::compile_str("x.think", &text).unwrap_err().render(false);
        for raw in ["named_arg", "string_inner", "block_args", "EOI", "WHITESPACE", "Rule::", "`ident`"] {
            assert!(!rendered.contains(raw), "{}: `{raw}` in\n{rendered}", path.display());
        }
    }
}

#[test]
fn imports_merge_key_by_key() {
    let dir = temp_dir("imports");
    std::fs::write(dir.join("base.think"), format!("{BASE}sweep {{ seed = 0..3 }}\n")).unwrap();
    let derived =
        "import \"base.think\"\nexperiment \"derived\" {\n  learn.optimizer.lr = 5e-4\n  episode { cull = 0.25 }\n}\n";
    std::fs::write(dir.join("derived.think"), derived).unwrap();
    let plan = thinktok::compile_file(&dir.join("derived.think")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plan.experiment, "derived");
    assert_eq!(plan.runs.len(), 3, "the base's sweep is kept");
    let p = &plan.runs[0].params;
    assert_eq!(p.episode.cull, 0.25);
    assert_eq!(p.episode.rounds, 2, "keys the derived spec does not mention keep the base's value");
    let thinktok::plan::Optimizer::AdamW { lr, .. } = p.learn.optimizer;
    assert_eq!(lr, 5e-4);
    let own_sweep = format!("{derived}sweep {{ episode.samples = [4, 8] }}\n");
    std::fs::write(dir.join("derived2.think"), own_sweep).unwrap();
    let plan = thinktok::compile_file(&dir.join("derived2.think")).unwrap();
    assert_eq!(plan.axes, ["episode.samples"], "an importing spec's sweep replaces the base's");
}

#[test]
fn diff_reports_added_removed_changed() {
    let old = compile(&format!("{BASE}sweep {{ episode.cull = [0.25, 0.5] }}"));
    let new = compile(&format!("{BASE}sweep {{ episode.cull = [0.5, 0.75] }}"));
    let d = thinktok::plan_diff::diff(&old, &new);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len(), d.unchanged.len()), (1, 1, 0, 1));
    let longer =
        compile(&format!("{}sweep {{ episode.cull = [0.25, 0.5] }}", BASE.replace("steps = 10", "steps = 20")));
    let d = thinktok::plan_diff::diff(&old, &longer);
    assert_eq!(d.changed.len(), 2);
    assert_eq!(d.changed[0].3, vec![("learn.steps".to_string(), "10".to_string(), "20".to_string())]);
    assert!(d.render().ends_with("Diff: 0 added, 0 removed, 2 changed, 0 unchanged\n"));
}

#[test]
fn load_plan_reads_ron_json_and_specs() {
    let dir = temp_dir("load");
    let plan = compile(&format!("{BASE}sweep {{ seed = 0..2 }}"));
    std::fs::write(dir.join("p.ron"), thinktok::plan_to_ron(&plan).unwrap()).unwrap();
    std::fs::write(dir.join("p.json"), serde_json::to_string(&plan).unwrap()).unwrap();
    std::fs::write(dir.join("p.think"), format!("{BASE}sweep {{ seed = 0..2 }}")).unwrap();
    assert_eq!(thinktok::load_plan(&dir.join("p.ron")).unwrap(), plan);
    assert_eq!(thinktok::load_plan(&dir.join("p.json")).unwrap(), plan);
    assert_eq!(ids(&thinktok::load_plan(&dir.join("p.think")).unwrap()), ids(&plan));
    let old = thinktok::plan_to_ron(&plan).unwrap().replace("format_version: 1", "format_version: 0");
    std::fs::write(dir.join("old.ron"), old).unwrap();
    let err = thinktok::load_plan(&dir.join("old.ron")).unwrap_err().to_string();
    assert!(err.contains("format version 0") && err.contains("thinktok plan SPEC --format ron"), "{err}");
    std::fs::write(dir.join("bad.think"), "experiment {").unwrap();
    let err = thinktok::load_plan(&dir.join("bad.think")).unwrap_err().to_string();
    assert!(err.contains("error[E0101]"), "{err}");
}

#[test]
fn cli_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_thinktok");
    let root = env!("CARGO_MANIFEST_DIR");
    let code = |args: &[&str]| Command::new(bin).args(args).current_dir(root).output().unwrap();
    let ok = code(&["check", "specs/sum3-episodic.think"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "specs/sum3-episodic.think: ok (36 runs, 3 axes)\n");
    let bad = code(&["check", "specs/invalid/unknown_key.think"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean `cull`?"));
    assert_eq!(code(&["plan", "specs/invalid/heads_not_dividing.think"]).status.code(), Some(1));
    assert_eq!(code(&["check"]).status.code(), Some(2));
    assert_eq!(code(&["plan", "specs/default.think", "--format", "yaml"]).status.code(), Some(2));
    let plan = code(&["plan", "specs/default.think", "--mask-volatile"]);
    assert_eq!(plan.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&plan.stdout).ends_with("└── Plan: 1 run, 0 axes, 5.3e12 FLOPs, peak <masked>\n"));
    let diff = code(&["plan", "specs/ablate-thoughts.think", "--diff", "specs/ablate-unroll.think"]);
    assert_eq!(diff.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("Diff: 4 added, 2 removed, 2 changed, 2 unchanged"));
}

#[test]
fn language_reference_matches_the_tables() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let generated = format!(
        "{}\n\n{}\n{}",
        thinktok::check::reference::START,
        thinktok::check::reference::reference(),
        thinktok::check::reference::END
    );
    let start = doc.find(thinktok::check::reference::START);
    let end = doc.find(thinktok::check::reference::END).map(|e| e + thinktok::check::reference::END.len());
    let current = match (start, end) {
        (Some(s), Some(e)) => &doc[s..e],
        _ => "",
    };
    if current != generated && std::env::var_os("THINKTOK_UPDATE_DOCS").is_some() {
        let updated = match (start, end) {
            (Some(s), Some(e)) => format!("{}{generated}{}", &doc[..s], &doc[e..]),
            _ => format!("{doc}{generated}\n"),
        };
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(current, generated, "docs/language.md drifted from the tables: rerun with THINKTOK_UPDATE_DOCS=1");
}

#[test]
fn every_error_code_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/language.md")).unwrap();
    let mut files = vec![root.join("src/lib.rs")];
    for dir in ["src/check", "src/syntax"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("\"E0") {
            let code = &text[i + 1..i + 6];
            assert!(
                doc.contains(&format!("| {code} |")),
                "{code} (used in {}) is not in docs/language.md",
                file.display()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A plan written as RON (and JSON) reads back equal, whatever the sweep.
    #[test]
    fn plan_round_trips(
        culls in proptest::collection::btree_set(1u32..99, 1..4),
        seeds in 1i64..4,
        insertion in 0usize..4,
        zip_len in 1usize..3,
        lr_points in 0usize..3,
    ) {
        let culls: Vec<String> = culls.iter().map(|c| format!("{:?}", f64::from(*c) / 100.0)).collect();
        let insertions = ["fast_forward(fallback = sample(temperature = 0.7))", "none()", "random(per_sequence = 2)", "dit(count = 1)"];
        let budgets: Vec<String> = (1..=zip_len).map(|b| b.to_string()).collect();
        let rounds: Vec<String> = (1..=zip_len).map(|r| (r + 1).to_string()).collect();
        let sample = if lr_points > 0 {
            format!("sample(count = {lr_points}, seed = 1) {{ learn.optimizer.lr = log_uniform(1e-4, 1e-2) }}")
        } else {
            String::new()
        };
        let spec = format!(
            "{BASE}sweep {{\n  episode.cull = [{}]\n  episode.insertion = [{}]\n  zip {{ episode.thought_budget = [{}]  episode.rounds = [{}] }}\n  {sample}\n  seed = 0..{seeds}\n}}\n",
            culls.join(", "), insertions[insertion], budgets.join(", "), rounds.join(", "),
        );
        let plan = compile(&spec);
        let expected = culls.len() * zip_len * seeds as usize * lr_points.max(1);
        prop_assert_eq!(plan.runs.len(), expected);
        let ron_text = thinktok::plan_to_ron(&plan).unwrap();
        let back: Plan = ron::from_str(&ron_text).unwrap();
        prop_assert_eq!(&back, &plan);
        let json: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        prop_assert_eq!(&json, &plan);
    }
}

/// The plan's parameter estimate is the engine's real parameter count (so FLOPs and memory estimates start right).
#[test]
fn parameter_estimate_matches_the_engine_gpt() {
    use candle_core::Device;
    use candle_nn::VarMap;
    use thinktok::plan::{GptConfig, VOCAB_SIZE};
    let cfg = GptConfig { layers: 2, width: 16, heads: 2, context: 24, vocab_size: VOCAB_SIZE };
    let varmap = VarMap::new();
    thinktok::engine::model::Gpt::new_seeded(&cfg, &varmap, &Device::Cpu, 0).unwrap();
    let real: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    assert_eq!(thinktok::check::estimate::gpt_parameters(&cfg), real as u64);
}

/// The plan's task lengths (used for the context check and token estimates) are the engine's.
#[test]
fn task_lengths_match_the_engine() {
    use thinktok::plan::TaskKind;
    for task in [
        TaskKind::Sum3 { digits: 6 },
        TaskKind::Multiply { digits: 3 },
        TaskKind::Addition { terms: 2, digits: 3 },
        TaskKind::Addition { terms: 11, digits: 1 },
    ] {
        assert_eq!(thinktok::check::estimate::task_tokens(&task), thinktok::engine::data::tasks::max_tokens(&task));
    }
}
