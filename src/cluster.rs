//! Sweeps on a Slurm cluster: a plan becomes a job array, one array task per unfinished run (the task index is the
//! run's index in the plan, so each task runs `thinktok run PLAN --out DIR --run $SLURM_ARRAY_TASK_ID`), and a
//! dependent job writes the report once every task has ended (`afterany`).
//!
//! Preemption: Slurm sends SIGTERM to the batch shell (`--signal=B:TERM@120`) before it stops a job; the script
//! forwards it to thinktok, which writes a checkpoint at the end of its step and exits with
//! [`crate::engine::stop::EXIT_PREEMPTED`]; the script then requeues its own task (`--requeue`), and the restart
//! continues with `--resume`, bit-exactly. Nothing here touches tensors: only text and the `sbatch` command.

use std::path::Path;

/// What a cluster needs to know, from `thinktok submit`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Time limit per run, in Slurm's syntax (`4:00:00`, `1-00:00:00`).
    pub time: Option<String>,
    pub gpus_per_run: Option<u32>,
    pub cpus_per_run: u32,
    /// At most this many array tasks at once (`--array=…%N`).
    pub throttle: Option<u32>,
    /// Further `#SBATCH` arguments, as written (`--account=ml`, `--qos=low`).
    pub extra: Vec<String>,
}

/// A shell word: quoted unless it is plain.
pub fn quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,%@+".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Slurm's `--array` list for run indices: `0-3,5,7-8`, with `%N` for a throttle.
pub fn array_spec(indices: &[usize], throttle: Option<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if end == start { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    let list = parts.join(",");
    match throttle {
        Some(n) => format!("{list}%{n}"),
        None => list,
    }
}

fn header(name: &str, output: &Path, opts: &SlurmOptions) -> String {
    let mut out = String::from("#!/bin/bash\n");
    let mut line = |arg: String| out.push_str(&format!("#SBATCH {arg}\n"));
    line(format!("--job-name={}", quote(name)));
    line(format!("--output={}", quote(&output.display().to_string())));
    line(format!("--cpus-per-task={}", opts.cpus_per_run.max(1)));
    if let Some(p) = &opts.partition {
        line(format!("--partition={}", quote(p)));
    }
    if let Some(t) = &opts.time {
        line(format!("--time={}", quote(t)));
    }
    for extra in &opts.extra {
        line(extra.clone());
    }
    out
}

/// The job-array script: each task runs one run of `dir`'s plan, forwards Slurm's SIGTERM to it, and requeues
/// itself when the run stopped with a checkpoint.
pub fn array_script(thinktok: &Path, dir: &Path, experiment: &str, indices: &[usize], opts: &SlurmOptions) -> String {
    let slurm = dir.join("slurm");
    let mut out = header(&format!("thinktok-{experiment}"), &slurm.join("%A_%a.out"), opts);
    out.push_str(&format!("#SBATCH --array={}\n", array_spec(indices, opts.throttle)));
    if let Some(g) = opts.gpus_per_run {
        out.push_str(&format!("#SBATCH --gpus-per-task={g}\n"));
    }
    out.push_str("#SBATCH --requeue\n#SBATCH --signal=B:TERM@120\n");
    let (bin, dir_q) = (quote(&thinktok.display().to_string()), quote(&dir.display().to_string()));
    let plan = quote(&dir.join("plan.ron").display().to_string());
    out.push_str(&format!(
        r#"
# One run of the plan per array task (the task index is the run's index in the plan). Written by `thinktok submit`.
set -u
export RAYON_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-1}}"
{bin} run {plan} --out {dir_q} --run "$SLURM_ARRAY_TASK_ID" --resume --quiet &
child=$!
# Slurm signals this shell before a preemption or the time limit: pass it on, so the run checkpoints and stops.
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
rc=$?
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  rc=$?
done
if [ "$rc" -eq {code} ]; then
  echo "thinktok: stopped with a checkpoint; requeueing ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
  scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
fi
exit "$rc"
"#,
        code = crate::engine::stop::EXIT_PREEMPTED
    ));
    out
}

/// The report job's script: run after every array task has ended (`--dependency=afterany:ARRAY`).
pub fn report_script(thinktok: &Path, dir: &Path, experiment: &str, opts: &SlurmOptions) -> String {
    let opts = SlurmOptions { gpus_per_run: None, cpus_per_run: 1, throttle: None, ..opts.clone() };
    let mut out = header(&format!("thinktok-{experiment}-report"), &dir.join("slurm").join("report.out"), &opts);
    out.push_str(&format!(
        "\n# Written by `thinktok submit`: the sweep's results.json, report.md and report.html from its run folders.\n\
         {} report {}\n",
        quote(&thinktok.display().to_string()),
        quote(&dir.display().to_string())
    ));
    out
}

/// The job id in `sbatch --parsable`'s output (`1234` or `1234;cluster`).
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_ranges_and_the_throttle() {
        assert_eq!(array_spec(&[0, 1, 2, 3], None), "0-3");
        assert_eq!(array_spec(&[0, 2, 3, 4, 7], Some(2)), "0,2-4,7%2");
        assert_eq!(array_spec(&[5], None), "5");
    }

    #[test]
    fn job_ids_come_from_parsable_output() {
        assert_eq!(parse_job_id("1234\n").as_deref(), Some("1234"));
        assert_eq!(parse_job_id("99;cluster\n").as_deref(), Some("99"));
        assert_eq!(parse_job_id("sbatch: error: …"), None);
    }

    /// The array script runs the task's run with `--resume`, forwards SIGTERM, requeues on the preemption code,
    /// and carries every cluster option; paths with spaces are quoted.
    #[test]
    fn the_array_script_runs_one_run_per_task_and_requeues_after_a_stop() {
        let opts = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("4:00:00".into()),
            gpus_per_run: Some(1),
            cpus_per_run: 8,
            throttle: Some(4),
            extra: vec!["--account=ml".into()],
        };
        let s = array_script(Path::new("/opt/thinktok"), Path::new("/data/my runs"), "abl", &[0, 1, 3], &opts);
        for line in [
            "#SBATCH --array=0-1,3%4",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=4:00:00",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --account=ml",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:TERM@120",
            "#SBATCH --output='/data/my runs/slurm/%A_%a.out'",
            "/opt/thinktok run '/data/my runs/plan.ron' --out '/data/my runs' --run \"$SLURM_ARRAY_TASK_ID\" --resume",
            "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT",
            "if [ \"$rc\" -eq 75 ]; then",
        ] {
            assert!(s.contains(line), "missing `{line}` in\n{s}");
        }
        let r = report_script(Path::new("/opt/thinktok"), Path::new("/data/my runs"), "abl", &opts);
        assert!(r.contains("/opt/thinktok report '/data/my runs'") && !r.contains("--gpus"), "{r}");
    }
}
