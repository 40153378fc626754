//! `distill` on the tiny config: a fine-tuned child teacher, its cached logits, the terms.

use crate::common::scratch_dir;
use alambic::distill::{cache, distill};
use alambic::store::{RunDir, TrainEvent, VecSink};
use alambic::train::checkpoint;
use alambic::train::{ExperimentConfig, Outcome};
use candle_core::Device;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn config(sets: &[&str]) -> ExperimentConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/tiny.toml");
    let mut all =
        vec!["teacher.model=\"scratch:bert-tiny?tokenizer=data/demo/tokenizer.json\"".to_string()];
    all.extend(sets.iter().map(|s| s.to_string()));
    let mut cfg = ExperimentConfig::load(Some(&path), &all).expect("config");
    cfg.dataset.file = Path::new(env!("CARGO_MANIFEST_DIR")).join(&cfg.dataset.file);
    cfg
}

fn run(cfg: &ExperimentConfig, out: &Path) -> (PathBuf, Vec<TrainEvent>) {
    let mut run = RunDir::create(out, "distill", &cfg.to_toml()).expect("run dir");
    let mut sink = VecSink::default();
    let outcome =
        distill(cfg, &mut run, &mut sink, &AtomicBool::new(false), false).expect("distill");
    assert!(matches!(outcome, Outcome::Finished(_)));
    (run.path.clone(), sink.0)
}

fn cache_event(events: &[TrainEvent]) -> (bool, String) {
    events
        .iter()
        .find_map(|e| match e {
            TrainEvent::TeacherCache { hit, path, .. } => Some((*hit, path.clone())),
            _ => None,
        })
        .expect("a teacher_cache event")
}

fn teacher_runs(out: &Path) -> usize {
    std::fs::read_dir(out.join(".teachers"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|k| std::fs::read_dir(k.path()).map_or(0, |r| r.count()))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn distill_fine_tunes_the_teacher_once_and_caches_its_logits() {
    let out = scratch_dir("distill");
    let cfg = config(&[]);
    let (first, events) = run(&cfg, &out);
    assert_eq!(
        teacher_runs(&out),
        1,
        "the teacher was fine-tuned as a child run"
    );
    let (hit, cache_path) = cache_event(&events);
    assert!(!hit, "first run computes the teacher's logits");
    // The events after the cache's are the student's (before them, the child teacher's).
    let start = events
        .iter()
        .position(|e| matches!(e, TrainEvent::TeacherCache { .. }))
        .expect("cache event");
    let terms: Vec<&std::collections::BTreeMap<String, f64>> = events[start..]
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { terms, .. } => Some(terms),
            _ => None,
        })
        .collect();
    assert!(
        !terms.is_empty()
            && terms
                .iter()
                .all(|t| t.contains_key("soft_kl") && t.contains_key("hard_ce"))
    );

    // Cached numbers are the live teacher's.
    let teacher_dir = std::fs::read_to_string(first.join("teacher.txt")).expect("teacher.txt");
    let (teacher, _) =
        checkpoint::load_model(Path::new(teacher_dir.trim()), 13, &Device::Cpu).expect("teacher");
    let ds = alambic::train::trainer::prepare_data(&cfg).expect("data");
    let live = cache::compute(&cfg, &ds, &teacher).expect("live");
    let cached = cache::load(Path::new(&cache_path)).expect("cached");
    assert_eq!(live.len(), cached.len());
    assert!(live.iter().all(|(r, row)| cached[r] == *row));

    // Second run: the same teacher, a cache hit, the same student.
    let (second, events) = run(&cfg, &out);
    assert_eq!(teacher_runs(&out), 1, "the child teacher is reused");
    assert!(cache_event(&events).0, "second run reads the cache");
    let w = |p: &Path| {
        candle_core::safetensors::load(p.join("checkpoints/last/model.safetensors"), &Device::Cpu)
            .expect("weights")
    };
    let (a, b) = (w(&first), w(&second));
    assert!(a.iter().all(
        |(k, t)| t.to_vec1::<f32>().ok() == b[k].to_vec1::<f32>().ok()
            || t.flatten_all().and_then(|x| x.to_vec1::<f32>()).ok()
                == b[k].flatten_all().and_then(|x| x.to_vec1::<f32>()).ok()
    ));

    // Another max_len changes what the teacher sees: a miss.
    let (_, events) = run(&config(&["dataset.max_len=48"]), &out);
    assert!(!cache_event(&events).0, "max_len is part of the key");
}
