//! Training runs on the tiny config: events, determinism, resume, kill -9, predict, eval.

use crate::common::{alambic, json_of, scratch_dir, tiny, training_error};
use alambic::store::events::read_events;
use alambic::store::runs::{Status, status_of};
use alambic::store::{EventSink, RunDir, TrainEvent, VecSink};
use alambic::train::{ExperimentConfig, Outcome, train};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stops the run (as Ctrl-C would) once it has reported `at` steps.
pub(crate) struct StopAt<'a> {
    pub(crate) at: u64,
    pub(crate) flag: &'a AtomicBool,
    pub(crate) events: Vec<TrainEvent>,
}

impl EventSink for StopAt<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        if let TrainEvent::Step { step, .. } = event
            && *step == self.at
        {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.events.push(event.clone());
    }
}

/// The first run folder under `out` whose events satisfy `seen`, polled for up to 60 s.
fn wait_for_run(out: &Path, seen: impl Fn(&TrainEvent) -> bool) -> Option<PathBuf> {
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let found = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path());
        if let Some(dir) = found
            && read_events(&dir.join("events.jsonl"))
                .unwrap_or_default()
                .iter()
                .any(&seen)
        {
            return Some(dir);
        }
    }
    None
}

pub(crate) fn run_tiny(name: &str, sets: &[&str]) -> (PathBuf, Vec<TrainEvent>) {
    let cfg = tiny(sets);
    let out = scratch_dir(name);
    let mut run = RunDir::create(&out, "student", &cfg.to_toml()).expect("run dir");
    let mut sink = VecSink::default();
    let outcome = train(
        &cfg,
        "student",
        &mut run,
        &mut sink,
        &AtomicBool::new(false),
        false,
    )
    .expect("train");
    assert!(matches!(outcome, Outcome::Finished(_)));
    (run.path.clone(), sink.0)
}

/// A fresh run of `cfg` under `out`, stopped (as Ctrl-C would) once it reported step `at`.
pub(crate) fn interrupted_at(cfg: &ExperimentConfig, out: &Path, at: u64) -> PathBuf {
    let mut run = RunDir::create(out, "student", &cfg.to_toml()).expect("run dir");
    let flag = AtomicBool::new(false);
    let mut sink = StopAt {
        at,
        flag: &flag,
        events: Vec::new(),
    };
    let outcome = train(cfg, "student", &mut run, &mut sink, &flag, false).expect("train");
    assert!(matches!(outcome, Outcome::Interrupted { step } if step == at));
    run.path.clone()
}

/// Resumes the run at `path` to its end; its events.
pub(crate) fn resume_to_end(cfg: &ExperimentConfig, path: &Path) -> Vec<TrainEvent> {
    let mut run = RunDir::open(path, "student", false).expect("reopen");
    let mut sink = VecSink::default();
    let outcome = train(
        cfg,
        "student",
        &mut run,
        &mut sink,
        &AtomicBool::new(false),
        true,
    )
    .expect("resume");
    assert!(matches!(outcome, Outcome::Finished(_)));
    sink.0
}

/// One finished tiny run shared by the tests that only read it.
pub(crate) fn shared_run() -> &'static (PathBuf, Vec<TrainEvent>) {
    static RUN: OnceLock<(PathBuf, Vec<TrainEvent>)> = OnceLock::new();
    RUN.get_or_init(|| run_tiny("shared-tiny-run", &[]))
}

/// A run's last checkpoint's weights, by name.
pub(crate) fn weights(run: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(run.join("checkpoints/last/model.safetensors"), &Device::Cpu)
        .expect("weights")
}

pub(crate) fn max_weight_diff(a: &Path, b: &Path) -> f32 {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    wa.iter()
        .map(|(k, t)| crate::common::max_abs_diff(t, &wb[k]))
        .fold(0.0, f32::max)
}

#[test]
fn events_come_in_order_and_the_run_folder_is_complete() {
    let (path, events) = shared_run();
    assert!(matches!(
        events.first(),
        Some(TrainEvent::Started {
            total_steps: 18,
            ..
        })
    ));
    assert!(matches!(events.last(), Some(TrainEvent::Finished { .. })));
    let steps: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, (1..=18).collect::<Vec<u64>>());
    let evals = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Eval { .. }))
        .count();
    assert!(evals >= 3, "one per epoch and at the end: {evals}");
    // The validation loss (mean cross-entropy of the pooled probabilities) for the curves:
    // with 8 classes, between a perfect 0 and far worse than chance (ln 8 ≈ 2.08).
    for e in events {
        if let TrainEvent::Eval { metrics, .. } = e {
            let loss = metrics["loss"].as_f64().expect("validation loss");
            assert!(loss > 0.0 && loss < 10.0, "{loss}");
        }
    }
    for f in [
        "config.toml",
        "events.jsonl",
        "run.json",
        "summary.json",
        "checkpoints/last/optimizer.safetensors",
        "checkpoints/last/state.json",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/tokenizer.json",
    ] {
        assert!(path.join(f).is_file(), "{f} missing");
    }
    // The file holds the same events as the sink.
    assert_eq!(
        &read_events(&path.join("events.jsonl")).expect("events"),
        events
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["steps"], 18);
    assert!(summary["test"]["accuracy_ci"]["low"].as_f64().is_some());
    assert_eq!(status_of(path).expect("status").status, Status::Finished);
}

#[test]
fn one_seed_gives_identical_weights() {
    let (a, _) = shared_run();
    let (b, _) = run_tiny("same-seed", &[]);
    assert_eq!(max_weight_diff(a, &b), 0.0);
}

#[test]
fn interrupted_and_resumed_equals_uninterrupted() {
    let (full, _) = shared_run();
    let cfg = tiny(&[]);
    let path = interrupted_at(&cfg, &scratch_dir("resume"), 7);
    assert_eq!(status_of(&path).expect("status").status, Status::Stopped);
    let events = resume_to_end(&cfg, &path);
    assert!(matches!(
        events.first(),
        Some(TrainEvent::Started {
            resumed_from: Some(7),
            ..
        })
    ));
    let diff = max_weight_diff(full, &path);
    assert!(diff <= 1e-6, "resumed weights differ by {diff}");
}

#[test]
fn torn_last_line_of_events_is_ignored() {
    let (path, events) = shared_run();
    let dir = scratch_dir("torn");
    let mut text = std::fs::read_to_string(path.join("events.jsonl")).expect("events");
    text.push_str("{\"event\":\"step\",\"step\":19,\"ep");
    std::fs::write(dir.join("events.jsonl"), text).expect("write");
    assert_eq!(
        read_events(&dir.join("events.jsonl")).expect("read").len(),
        events.len()
    );
}

#[test]
fn kill_9_leaves_a_dead_run_that_resumes() {
    let out = scratch_dir("kill9");
    let mut child = Command::new(env!("CARGO_BIN_EXE_alambic"))
        .args([
            "train",
            "--config",
            "tests/configs/tiny.toml",
            "--out",
            out.to_str().expect("p"),
            "--set",
            "train.eval_every=2",
            "--set",
            "train.max_steps=60",
            "--set",
            "train.epochs=30",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait for the first saved checkpoint, then kill without warning.
    let run_dir = wait_for_run(&out, |e| matches!(e, TrainEvent::Checkpoint { .. }));
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let dir = run_dir.expect("a checkpoint within 60 s");
    assert_eq!(status_of(&dir).expect("status").status, Status::Dead);
    let listing = alambic(&["runs", out.to_str().expect("p")]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains("dead"));
    let resumed = alambic(&["train", "--resume", dir.to_str().expect("p")]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(status_of(&dir).expect("status").status, Status::Finished);
}

#[test]
fn predict_and_eval_commands_on_the_run() {
    let (path, _) = shared_run();
    let dir = scratch_dir("predict");
    let sol = dir.join("a.sol");
    std::fs::write(&sol, "pragma solidity ^0.4.24;\ncontract A {\n  mapping(address => uint) b;\n  function w(uint x) public {\n    require(b[msg.sender] >= x);\n    msg.sender.call.value(x)();\n    b[msg.sender] -= x;\n  }\n}\n").expect("write");
    let out = alambic(&[
        "predict",
        "--model",
        path.to_str().expect("p"),
        sol.to_str().expect("p"),
        "--json",
    ]);
    let v = json_of(&out);
    let probs = v[0]["probabilities"].as_object().expect("probabilities");
    let total: f64 = probs.values().map(|p| p.as_f64().expect("p")).sum();
    assert!((total - 1.0).abs() < 1e-4);
    assert!(probs.contains_key(v[0]["verdict"].as_str().expect("verdict")));
    assert_eq!(v[0]["lines"][0], 1);
    // A run folder is a model source for `model info` (and `model export`).
    let out = alambic(&["model", "info", path.to_str().expect("p"), "--json"]);
    let info = json_of(&out);
    assert_eq!(info["labels"].as_array().map(Vec::len), Some(8));

    let out = alambic(&[
        "eval",
        "--model",
        path.to_str().expect("p"),
        "--data",
        "data/demo/contracts.jsonl",
        "--split",
        "all",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["overall"]["n"], 480);
    let confusion: u64 = v["overall"]["confusion"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("n"))
        })
        .sum();
    assert_eq!(confusion, 480);
}

#[test]
fn bad_setups_fail_before_training_with_clear_errors() {
    // Unwritable run folder (a path under a regular file).
    let out = alambic(&[
        "train",
        "--config",
        "tests/configs/tiny.toml",
        "--out",
        "data/demo/contracts.jsonl/runs",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create a run folder under data/demo/contracts.jsonl/runs"),
        "{err}"
    );
    // A model that cannot hold the dataset's labels: the 8-class demo run on a binary task.
    let (path, _) = shared_run();
    let cfg = tiny(&[
        "dataset.task=\"binary\"",
        &format!("student.model=\"{}\"", path.display()),
    ]);
    let dir = scratch_dir("wrong-labels");
    let mut run = RunDir::create(&dir, "student", &cfg.to_toml()).expect("run dir");
    let err = training_error(&cfg, &mut run, "label mismatch").to_string();
    assert_eq!(
        err,
        "config: the model predicts 8 classes, the dataset has 2 (safe, vulnerable)"
    );
    assert_eq!(status_of(&run.path).expect("status").status, Status::Failed);
}

#[test]
fn a_diverging_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let cfg = tiny(&[
        "train.lr=1e12",
        "train.eval_every=1",
        "train.max_grad_norm=0.0",
        "train.warmup_ratio=0.0",
    ]);
    let dir = scratch_dir("nan");
    let mut run = RunDir::create(&dir, "student", &cfg.to_toml()).expect("run dir");
    let err = training_error(&cfg, &mut run, "diverges");
    let msg = err.to_string();
    assert!(
        msg.starts_with("the loss became") && msg.contains("the last good checkpoint (step "),
        "{msg}"
    );
    assert!(
        run.path
            .join("checkpoints/last/model.safetensors")
            .is_file()
    );
    let events = read_events(&run.path.join("events.jsonl")).expect("events");
    assert!(matches!(events.last(), Some(TrainEvent::Failed { .. })));
}

#[test]
fn scratch_bert_tiny_learns_the_demo() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo.toml");
    let sets: Vec<String> = LEARN_SETTINGS.iter().map(|s| s.to_string()).collect();
    let mut cfg = ExperimentConfig::load(Some(&path), &sets).expect("demo config");
    cfg.dataset.file = Path::new(env!("CARGO_MANIFEST_DIR")).join(&cfg.dataset.file);
    let out = scratch_dir("learns-demo");
    let mut run = RunDir::create(&out, "teacher", &cfg.to_toml()).expect("run dir");
    let mut sink = VecSink::default();
    let Outcome::Finished(summary) = train(
        &cfg,
        "teacher",
        &mut run,
        &mut sink,
        &AtomicBool::new(false),
        false,
    )
    .expect("train") else {
        panic!("not finished");
    };
    let losses: Vec<f64> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .collect();
    let third = losses.len() / 3;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (
        mean(&losses[..third]),
        mean(&losses[losses.len() - third..]),
    );
    assert!(
        last < first,
        "training loss did not fall: {first:.3} -> {last:.3}"
    );
    let valid = &summary.valid.metrics;
    let rows: Vec<u64> = valid
        .confusion
        .iter()
        .map(|r| r.iter().map(|&x| x as u64).sum())
        .collect();
    let n: u64 = rows.iter().sum();
    // Macro-F1 of always answering the majority class: its F1 over the classes, the others 0.
    let majority = *rows.iter().max().expect("rows") as f64 / n as f64;
    let majority_f1 = 2.0 * majority / (1.0 + majority) / rows.len() as f64;
    let f1 = valid.macro_f1;
    assert!(
        f1 >= majority_f1 + 0.15,
        "validation macro-F1 {f1:.3} vs majority-class baseline {majority_f1:.3}"
    );
}

/// Over data/demo.toml: the demo teacher (scratch bert-tiny), shortened to fit the CI budget.
const LEARN_SETTINGS: [&str; 2] = ["train.epochs=8", "train.log_every=6"];

#[test]
fn eval_breaks_metrics_down_by_a_field() {
    let (path, _) = shared_run();
    let dir = scratch_dir("eval-by");
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/contracts.jsonl"),
    )
    .expect("demo");
    let lines: String = demo
        .lines()
        .take(30)
        .enumerate()
        .map(|(i, l)| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            // A list of `<set>:<id>` entries, as cgt_dasp's `origin`.
            v["origin"] =
                serde_json::json!([format!("{}:{i}", if i % 3 == 0 { "Zeus" } else { "eThor" })]);
            format!("{v}\n")
        })
        .collect();
    let file = dir.join("with-origin.jsonl");
    std::fs::write(&file, lines).expect("write");
    let out = alambic(&[
        "eval",
        "--model",
        path.to_str().expect("p"),
        "--data",
        file.to_str().expect("p"),
        "--split",
        "all",
        "--by",
        "origin",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["overall"]["n"], 30);
    assert_eq!(v["by"]["Zeus"]["n"], 10);
    assert_eq!(v["by"]["eThor"]["n"], 20);
}

#[test]
fn multilabel_task_trains_with_per_label_scores() {
    let (path, events) = run_tiny(
        "multilabel",
        &["dataset.task=\"multilabel\"", "train.max_steps=4"],
    );
    assert!(matches!(events.last(), Some(TrainEvent::Finished { .. })));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.join("summary.json")).expect("summary"))
            .expect("json");
    let per_label = summary["test"]["multilabel"]["per_label_f1"]
        .as_array()
        .expect("per-label F1");
    assert_eq!(per_label.len(), 7, "the seven weaknesses; safe is no label");
    assert!(
        summary["test"]["multilabel"]["hamming_loss"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn a_device_this_build_lacks_is_refused_before_any_run_folder() {
    let out_dir = scratch_dir("no-cuda");
    let out = alambic(&[
        "train",
        "--config",
        "tests/configs/tiny.toml",
        "--out",
        out_dir.to_str().expect("p"),
        "--set",
        "device=\"cuda:0\"",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this build has no cuda support"), "{err}");
    assert_eq!(std::fs::read_dir(&out_dir).expect("dir").count(), 0);
}

#[test]
fn sigterm_checkpoints_and_exits_130_with_the_resume_command() {
    let out = scratch_dir("sigterm");
    let child = Command::new(env!("CARGO_BIN_EXE_alambic"))
        .args([
            "train",
            "--config",
            "tests/configs/tiny.toml",
            "--out",
            out.to_str().expect("p"),
            "--set",
            "train.max_steps=400",
            "--set",
            "train.epochs=100",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until it trains, then ask it to stop as a scheduler or `kill` would.
    let dir = wait_for_run(&out, |e| matches!(e, TrainEvent::Step { .. }));
    let dir = dir.expect("training started within 60 s");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("alambic train --resume {}", dir.display())),
        "{err}"
    );
    assert_eq!(status_of(&dir).expect("status").status, Status::Stopped);
    assert!(dir.join("checkpoints/last/state.json").is_file());
}
