//! The sweep report as a reader sees it: `thinktok run` writes report.html (labelled charts, every group in every
//! legend, where the thoughts go, nothing fetched), `thinktok report` rebuilds it from the run folders and combines
//! output folders, and headless Chromium renders it (skipped, with a message, where no Chromium is installed).

mod engine_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use engine_support::scratch;

fn thinktok(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thinktok")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tiny sweep on `task.hops` (its examples carry difficulty groups): no thoughts against the episodic method,
/// two seeds each, 16 steps of a 1-layer model.
const SPEC: &str = r#"version = 1
experiment "report-test" {
  seed = 0
  model gpt {
    layers = 1
    width = 16
    heads = 2
    context = 24
  }
  data {
    train = task.hops(letters = 5, hops = 1..3, order = sorted, count = 200, seed = 0)
    test = task.hops(letters = 5, hops = 1..3, order = sorted, count = 40, seed = 1)
  }
  episode {
    insertion = none()
    samples = 4
    rounds = 2
    thought_budget = 2
  }
  learn {
    steps = 16
    batch = 8
    optimizer = adamw(lr = 3e-3, warmup = 2)
  }
  eval.every = 8
}
sweep {
  episode.insertion = [none(), fast_forward()]
  seed = 0..2
}
"#;

/// Run `spec` (with `--set`s) into `dir/out`; returns the output folder.
fn run_sweep(dir: &Path, name: &str, set: &[&str]) -> PathBuf {
    let spec = dir.join(format!("{name}.think"));
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.join(name);
    let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
    for s in set {
        args.extend(["--set", s]);
    }
    let done = thinktok(&args);
    assert!(done.status.success(), "{}", text(&done.stderr));
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What every report.html of the sweep must show a reader.
fn assert_readable(html: &str, groups: &[&str], runs: &[String]) {
    for heading in [
        "Held-out NLL against training steps",
        "Held-out NLL against training compute",
        "optimiser steps",
        "held-out NLL (nats per real token)",
        "training positions processed",
        "Episode phase: thoughts the model placed itself",
        "Where thoughts go",
        "Thoughts by position",
        "Per difficulty",
    ] {
        assert!(html.contains(heading), "report.html lacks `{heading}`");
    }
    // Every group in both learning-curve legends (SVG text) and in the tables.
    for g in groups {
        // plotters writes SVG text on a line of its own.
        let in_legends = html.matches(&format!(">\n{g}\n</text>")).count();
        assert!(in_legends >= 2, "`{g}` is in {in_legends} chart legends");
        assert!(html.contains(&format!("<td>{g}</td>")), "`{g}` has no table row");
    }
    for id in runs {
        assert!(html.contains(id.as_str()), "run `{id}` is missing");
    }
    for fetch in ["<script", "<link", "<img", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(fetch), "report.html fetches something: `{fetch}`");
    }
    // A thought drawn in place in a held-out example.
    assert!(html.contains("<span class=\"th\""), "no thought marker");
}

fn run_ids(out: &Path) -> Vec<String> {
    let results: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    results["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn run_writes_a_readable_report_and_report_rebuilds_and_combines_it() {
    let dir = scratch("report");
    let out = run_sweep(&dir, "a", &[]);
    let groups = ["insertion=none()", "insertion=fast_forward()"];
    let ids = run_ids(&out);
    assert_eq!(ids.len(), 4);
    let written = read(&out.join("report.html"));
    assert_readable(&written, &groups, &ids);
    assert!(read(&out.join("curves.svg")).contains("insertion=fast_forward()"));

    // `eval --thoughts` on a final checkpoint writes the thoughts.json its run wrote (same placement, same data).
    let with_thoughts: Vec<&String> = ids.iter().filter(|id| out.join(id).join("thoughts.json").is_file()).collect();
    assert_eq!(with_thoughts.len(), 2, "the two episodic runs place thoughts, the plain ones none");
    let again = dir.join("again.json");
    let ckpt = out.join(with_thoughts[0]).join("final");
    let eval = thinktok(&["eval", "--ckpt", ckpt.to_str().unwrap(), "--thoughts", again.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    assert_eq!(read(&again), read(&out.join(with_thoughts[0]).join("thoughts.json")));

    // Rebuilt from the run folders alone: the same page.
    for name in ["report.html", "report.md", "results.json"] {
        std::fs::remove_file(out.join(name)).unwrap();
    }
    let rebuilt = thinktok(&["report", out.to_str().unwrap()]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
    assert!(text(&rebuilt.stderr).contains("4 of 4 runs finished"), "{}", text(&rebuilt.stderr));
    assert_eq!(read(&out.join("report.html")), written);

    // Two output folders (a second sweep of other seeds) make one report with every run of both.
    let other = run_sweep(&dir, "b", &["seed=2..3"]);
    let both = dir.join("both");
    let combined =
        thinktok(&["report", out.to_str().unwrap(), other.to_str().unwrap(), "--to", both.to_str().unwrap()]);
    assert!(combined.status.success(), "{}", text(&combined.stderr));
    let mut all = ids.clone();
    all.extend(run_ids(&other));
    assert_eq!(run_ids(&both), all);
    let html = read(&both.join("report.html"));
    assert_readable(&html, &groups, &all);
    assert!(
        html.contains("<td>insertion=none()</td><td style=\"text-align: right\">3</td>"),
        "three seeds of a group: {html}"
    );

    // Several folders without `--to`, and a folder that is not an output folder: one message each, exit 1.
    let refused = thinktok(&["report", out.to_str().unwrap(), other.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("--to DIR"), "{}", text(&refused.stderr));
    let not_out = thinktok(&["report", dir.to_str().unwrap()]);
    assert_eq!(not_out.status.code(), Some(1));
    assert!(text(&not_out.stderr).contains("has no `plan.ron`"), "{}", text(&not_out.stderr));

    screenshot(&out.join("report.html"), &dir.join("report.png"));
}

/// The first Chromium on PATH.
fn chromium() -> Option<&'static str> {
    ["chromium-headless-shell", "chromium", "google-chrome", "chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// Render `html` in headless Chromium to `png` and check that the page rendered: the window's size, mostly white
/// (a page, not a blank or black frame), with the charts' blue lines and the thought markers' red in it.
fn screenshot(html: &Path, png: &Path) {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no Chromium on PATH (install `chromium-headless-shell` to render report.html)");
        return;
    };
    let (width, height) = (1400u32, 3200u32);
    let shot = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(shot.status.success() && png.is_file(), "{browser}: {}", text(&shot.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (width, height), "the screenshot has the window's size");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let rgb: Vec<[u8; 3]> = pixels[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    let share = |f: &dyn Fn(&[u8; 3]) -> bool| rgb.iter().filter(|p| f(p)).count() as f64 / rgb.len() as f64;
    let white = share(&|p| p.iter().all(|&c| c > 245));
    let near = |p: &[u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(&a, b)| a.abs_diff(b) < 24);
    let blue = share(&|p| near(p, [31, 119, 180]));
    let red = share(&|p| near(p, [214, 39, 40]));
    let dark = share(&|p| p.iter().all(|&c| c < 90));
    assert!((0.5..0.995).contains(&white), "a page is mostly white background: {white:.4}");
    assert!(dark > 0.001, "text is drawn: {dark:.5}");
    assert!(blue > 1e-5, "the first group's chart lines are drawn: {blue:.6}");
    assert!(red > 1e-5, "thought markers are drawn: {red:.6}");
    eprintln!(
        "rendered with {browser}: {} ({white:.3} white, {dark:.4} text, {blue:.5} blue, {red:.5} red)",
        png.display()
    );
}
