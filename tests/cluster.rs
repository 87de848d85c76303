//! Runs on a cluster: one run of a plan (`--run`), one process per run folder (the lock), a run stopped by SIGTERM
//! resuming bit-exactly, `thinktok status`, and a real Slurm job array (`thinktok submit`) against the in-process
//! run of the same plan — skipped, with a message, where `sbatch` is not on PATH (`scripts/slurm-local.sh start`
//! starts a single-node cluster).

mod engine_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use engine_support::scratch;

fn thinktok() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thinktok"));
    // Bit-exact comparisons need one thread count on both sides.
    cmd.env("RAYON_NUM_THREADS", "1");
    cmd
}

fn output(args: &[&str]) -> Output {
    thinktok().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A sweep of `runs` tiny runs of `steps` steps each (a 1-layer width-16 model on sum3).
fn spec(dir: &Path, steps: usize, seeds: usize) -> PathBuf {
    let path = dir.join("tiny.think");
    let text = format!(
        r#"version = 1
experiment "cluster-test" {{
  model gpt {{
    layers = 1
    width = 16
    heads = 2
    context = 16
  }}
  data {{
    train = task.sum3(digits = 6, count = 400)
    test = task.sum3(digits = 6, count = 40, seed = 1)
  }}
  learn {{
    steps = {steps}
    batch = 8
  }}
  eval {{
    every = {steps}
    checkpoint_every = 100000
  }}
}}
sweep {{
  seed = 0..{seeds}
}}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn weights(out: &Path, id: &str) -> Vec<u8> {
    std::fs::read(out.join(id).join("final").join("model.safetensors")).unwrap()
}

fn run_ids(plan: &Path) -> Vec<String> {
    let out = output(&["plan", plan.to_str().unwrap(), "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// Wait until run `id`'s log shows a training step (the run is under way).
fn wait_for_training(child: &mut Child, out: &Path, id: &str) {
    let started = Instant::now();
    let log = out.join(id).join("metrics.jsonl");
    while std::fs::read_to_string(&log).map_or(true, |t| !t.contains("\"loss\"")) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was signalled");
        assert!(started.elapsed() < Duration::from_secs(120), "the run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_signalled_run_checkpoints_and_resumes_bit_exactly_and_a_second_process_is_refused() {
    let dir = scratch("cluster-signal");
    let spec = spec(&dir, 3000, 1);
    let id = run_ids(&spec).remove(0);
    let straight = dir.join("straight");
    let done = output(&["run", spec.to_str().unwrap(), "--out", straight.to_str().unwrap(), "--quiet"]);
    assert!(done.status.success(), "{}", text(&done.stderr));

    let out = dir.join("out");
    let mut child = thinktok()
        .args(["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--run", "0", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_training(&mut child, &out, &id);
    // The run folder is locked: a second process is refused, naming the first.
    let second = output(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--run", &id, "--quiet"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second.stderr));
    let refusal = text(&second.stderr);
    assert!(refusal.contains(&format!("is being trained by process {}", child.id())), "{refusal}");
    let status = output(&["status", out.to_str().unwrap()]);
    assert!(
        text(&status.stdout).contains(&format!("running on {} (pid {})", host(), child.id())),
        "{}",
        text(&status.stdout)
    );

    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let stopped = child.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(75), "{}", text(&stopped.stderr));
    assert!(text(&stopped.stderr).contains("--resume"), "{}", text(&stopped.stderr));
    assert!(!out.join(&id).join("lock").exists(), "the lock is released");
    let status = output(&["status", out.to_str().unwrap()]);
    assert_eq!(status.status.code(), Some(10), "not finished: {}", text(&status.stdout));
    assert!(text(&status.stdout).contains("stopped at step"), "{}", text(&status.stdout));

    let resumed = output(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume", "--quiet"]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(weights(&out, &id) == weights(&straight, &id), "the resumed run equals the uninterrupted one bit for bit");
    let status = output(&["status", out.to_str().unwrap()]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
}

fn host() -> String {
    thinktok::engine::run::lock::host_name()
}

#[test]
fn run_selects_one_run_by_index_or_id_and_leaves_the_report_to_report() {
    let dir = scratch("cluster-select");
    let spec = spec(&dir, 4, 2);
    let ids = run_ids(&spec);
    let out = dir.join("out");
    let one = output(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--run", "1", "--quiet"]);
    assert!(one.status.success(), "{}", text(&one.stderr));
    assert!(out.join(&ids[1]).join("final").is_dir() && !out.join(&ids[0]).exists());
    assert!(!out.join("results.json").exists(), "one run of several writes no sweep files");
    let by_id = output(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--run", &ids[0], "--quiet"]);
    assert!(by_id.status.success(), "{}", text(&by_id.stderr));
    let report = output(&["report", out.to_str().unwrap()]);
    assert!(report.status.success() && out.join("report.html").is_file(), "{}", text(&report.stderr));
    for bad in ["2", "nope"] {
        let refused = output(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--run", bad]);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains(&format!("`--run {bad}`")), "{}", text(&refused.stderr));
    }
    let dry = output(&["submit", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("(0 of 2 runs unfinished)"), "{}", text(&dry.stdout));
}

/// Slurm's commands on PATH, or why not.
fn slurm() -> Result<(), String> {
    let ok = |cmd: &str| Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok("sbatch") || !ok("squeue") {
        return Err("no `sbatch` on PATH".into());
    }
    let up = Command::new("sinfo").args(["-h", "-o", "%T"]).output().map_err(|e| e.to_string())?;
    let states = text(&up.stdout);
    if !["idle", "mix", "alloc"].iter().any(|s| states.contains(s)) {
        return Err(format!("no Slurm node is up (sinfo: {})", states.trim()));
    }
    Ok(())
}

#[test]
fn a_slurm_job_array_trains_every_run_as_the_in_process_run_does() {
    if let Err(why) = slurm() {
        eprintln!("skipped: {why} (scripts/slurm-local.sh start starts a single-node cluster)");
        return;
    }
    let dir = scratch("cluster-slurm");
    let spec = spec(&dir, 30, 4);
    let ids = run_ids(&spec);
    let out = dir.join("out");
    let started = Instant::now();
    let submitted = output(&["submit", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--cpus-per-run", "1"]);
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let jobs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("slurm/jobs.json")).unwrap()).unwrap();
    let report_job = jobs["report_job"].as_str().unwrap().to_string();
    // Done when the report job has left the queue.
    loop {
        let q = Command::new("squeue").args(["-h", "-j", &report_job]).output().unwrap();
        if text(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the array did not finish in 10 minutes");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "slurm: array job {} and report job {report_job} took {:.1} s",
        jobs["array_job"],
        started.elapsed().as_secs_f64()
    );
    let status = output(&["status", out.to_str().unwrap()]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
    assert!(out.join("report.html").is_file(), "the report job wrote the report");
    let local = dir.join("local");
    let done = output(&["run", spec.to_str().unwrap(), "--out", local.to_str().unwrap(), "--quiet"]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    for id in &ids {
        assert!(weights(&out, id) == weights(&local, id), "run {id}: Slurm's weights equal the in-process run's");
    }
}
