//! Crashes at the worst moments: inside the checkpoint swap (twice in a row), before the first
//! checkpoint, and after a checkpoint with steps logged past it.

use super::runs::{interrupted_at, resume_to_end, shared_run};
use crate::common::{scratch_dir, tiny};
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::load_source;
use alambic::store::events::{read_events, read_history, resolve_rewinds};
use alambic::store::faults;
use alambic::store::runs::{Status, status_of};
use alambic::store::{RunDir, TrainEvent};
use alambic::train::checkpoint::{existing, load_model, save};
use alambic::train::swap::POINTS;
use candle_core::Device;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn model(seed: u64) -> Classifier {
    let opts = LoadOptions {
        labels: Some(vec!["safe".into(), "vulnerable".into()]),
        seed,
        ..LoadOptions::default()
    };
    load_source(
        "scratch:bert-tiny?tokenizer=data/demo/tokenizer.json",
        &opts,
        &Device::Cpu,
    )
    .expect("scratch model")
    .0
}

/// A number that tells the versions apart: the sum of the word embeddings.
fn fingerprint(m: &Classifier) -> f32 {
    let vars: BTreeMap<String, _> = m.named_vars().into_iter().collect();
    let (_, v) = vars
        .iter()
        .find(|(k, _)| k.ends_with("word_embeddings.weight"))
        .expect("word embeddings");
    v.as_tensor()
        .sum_all()
        .and_then(|s| s.to_scalar::<f32>())
        .expect("sum")
}

/// The fingerprint of whatever checkpoint a resume would read now.
fn readable(dir: &Path) -> f32 {
    let folder = existing(dir).expect("a whole checkpoint after the crash");
    fingerprint(&load_model(&folder, 0, &Device::Cpu).expect("loads").0)
}

/// Killing the writer at every step of the swap, and again at every step of the next save
/// (the resumed run's), always leaves a whole checkpoint: the old version or the new one.
#[test]
fn the_checkpoint_swap_survives_a_crash_at_every_step_twice() {
    let versions: Vec<Classifier> = (1..=4).map(model).collect();
    let prints: Vec<f32> = versions.iter().map(fingerprint).collect();
    assert!(prints.windows(2).all(|w| w[0] != w[1]), "{prints:?}");
    let mut seconds = POINTS.to_vec();
    seconds.push("swap:recovered");
    for first in POINTS {
        for second in &seconds {
            let dir = scratch_dir("swap-crash").join("last");
            save(&dir, &versions[0], None).expect("first save");
            faults::arm(first);
            assert!(
                save(&dir, &versions[1], None).is_err(),
                "{first} was not hit"
            );
            let after_first = readable(&dir);
            assert!(
                after_first == prints[0] || after_first == prints[1],
                "{first}"
            );
            faults::arm(second);
            let hit = save(&dir, &versions[2], None).is_err();
            faults::disarm();
            let after_second = readable(&dir);
            assert!(
                [prints[0], prints[1], prints[2]].contains(&after_second),
                "{first}, then {second} (hit: {hit})"
            );
            if !hit {
                assert_eq!(after_second, prints[2], "{first}, then a clean save");
            }
            save(&dir, &versions[3], None).expect("a clean save");
            assert_eq!(readable(&dir), prints[3]);
            assert!(!dir.with_extension("new").exists() && !dir.with_extension("old").exists());
        }
    }
}

/// A complete `last.new` left by a crash between the renames is what a resume reads (it is
/// newer than `last.old`), and the next save first puts it in place.
#[test]
fn a_sealed_new_checkpoint_is_recovered() {
    let (a, b) = (model(1), model(2));
    let dir = scratch_dir("swap-recover").join("last");
    save(&dir, &a, None).expect("save");
    faults::arm("swap:current-moved");
    assert!(save(&dir, &b, None).is_err());
    assert!(!dir.exists() && dir.with_extension("new").is_dir());
    assert_eq!(readable(&dir), fingerprint(&b));
}

/// A run killed before its first checkpoint resumes from step 0 with the same config and seed,
/// and ends with the weights of a run that never stopped; its history shows each step once.
#[test]
fn a_run_killed_before_its_first_checkpoint_restarts_from_step_0() {
    let (full, _) = shared_run();
    let cfg = tiny(&[]);
    let out = scratch_dir("resume-no-checkpoint");
    let run = RunDir::create(&out, "student", &cfg.to_toml()).expect("run dir");
    let path = run.path.clone();
    drop(run);
    // What the killed process had logged: a start and three steps, then nothing.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(path.join("events.jsonl"))
        .expect("events");
    for step in 1..=3u64 {
        let e = step_event(step, 9.0);
        writeln!(log, "{}", serde_json::to_string(&e).expect("json")).expect("write");
    }
    drop(log);
    // Its process is gone.
    let mut info = alambic::store::run_dir::read_info(&path).expect("run.json");
    info.pid = 0;
    std::fs::write(
        path.join("run.json"),
        serde_json::to_string(&info).expect("json"),
    )
    .expect("w");
    assert_eq!(status_of(&path).expect("status").status, Status::Dead);
    resume_to_end(&cfg, &path);
    let a = std::fs::read(full.join("checkpoints/last/model.safetensors")).expect("a");
    let b = std::fs::read(path.join("checkpoints/last/model.safetensors")).expect("b");
    assert!(
        a == b,
        "restarted weights differ from an uninterrupted run's"
    );
    let steps = step_numbers(&read_history(&path.join("events.jsonl")).expect("history"));
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert!(
        !steps.is_empty()
            && !read_history(&path.join("events.jsonl"))
                .expect("h")
                .iter()
                .any(|e| matches!(e, TrainEvent::Step { loss, .. } if *loss == 9.0))
    );
}

/// A step event as a run logs it, with a loss the test can recognise.
fn step_event(step: u64, loss: f64) -> TrainEvent {
    TrainEvent::Step {
        step,
        epoch: 0,
        stage: None,
        loss,
        terms: BTreeMap::new(),
        lr: 1e-4,
        samples_per_s: 1.0,
    }
}

fn step_numbers(events: &[TrainEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

/// kill -9 after the checkpoint at step 7, with steps 8 and 9 already logged: the resumed run
/// logs them again, and every reader (history, runs, the TUI) keeps the last occurrence.
#[test]
fn resumed_runs_do_not_repeat_steps_for_readers() {
    let cfg = tiny(&[]);
    let path = interrupted_at(&cfg, &scratch_dir("resume-repeats"), 7);
    // The killed process got two steps further than its checkpoint before dying.
    let mut text = std::fs::read_to_string(path.join("events.jsonl")).expect("events");
    text = text.replace(
        "{\"event\":\"checkpoint\",\"step\":7,\"kind\":\"interrupted\"}\n",
        "",
    );
    for step in 8..=9u64 {
        let e = step_event(step, 99.0);
        text.push_str(&serde_json::to_string(&e).expect("json"));
        text.push('\n');
    }
    std::fs::write(path.join("events.jsonl"), text).expect("write");
    resume_to_end(&cfg, &path);
    let raw = step_numbers(&read_events(&path.join("events.jsonl")).expect("raw"));
    assert_eq!(
        raw.iter().filter(|&&s| s == 8).count(),
        2,
        "the raw log has step 8 twice"
    );
    let history = read_history(&path.join("events.jsonl")).expect("history");
    let steps = step_numbers(&history);
    assert_eq!(steps, (1..=18).collect::<Vec<u64>>());
    assert!(
        !history
            .iter()
            .any(|e| matches!(e, TrainEvent::Step { loss, .. } if *loss == 99.0))
    );
    assert_eq!(status_of(&path).expect("status").steps, 18);
    let mut view = alambic::tui::store::RunView::new(&path);
    view.poll();
    let xs: Vec<f64> = view.loss.points.iter().map(|p| p.0).collect();
    assert_eq!(xs, (1..=18).map(|s| s as f64).collect::<Vec<f64>>());
    // The rule itself, on a written-out history: a rewind to 35 replaces 36..38.
    let step = |s: u64| step_event(s, s as f64);
    let started = |from: Option<u64>| TrainEvent::Started {
        run_id: "r".into(),
        role: "student".into(),
        total_steps: 40,
        resumed_from: from,
    };
    let mut events = vec![started(None)];
    events.extend((1..=38).map(step));
    events.push(started(Some(35)));
    events.extend((36..=40).map(step));
    assert_eq!(
        step_numbers(&resolve_rewinds(events)),
        (1..=40).collect::<Vec<u64>>()
    );
}
