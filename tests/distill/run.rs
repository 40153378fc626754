//! `distill` on the tiny config: a fine-tuned child teacher, its cached logits, the terms.

use crate::common::scratch_dir;
use alambic::distill::{cache, distill};
use alambic::store::{RunDir, TrainEvent, VecSink};
use alambic::train::checkpoint;
use alambic::train::{ExperimentConfig, Outcome};
use candle_core::Device;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

pub(crate) fn config(sets: &[&str]) -> ExperimentConfig {
    let mut all = vec!["teacher.model=\"scratch:bert-tiny?tokenizer=data/demo/tokenizer.json\""];
    all.extend_from_slice(sets);
    crate::common::tiny(&all)
}

pub(crate) fn run(cfg: &ExperimentConfig, out: &Path) -> (PathBuf, Vec<TrainEvent>) {
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

/// The first teacher run a distillation under `out` fine-tuned.
pub(crate) fn teacher_run(out: &Path) -> PathBuf {
    std::fs::read_dir(out.join(".teachers"))
        .expect("teachers")
        .filter_map(Result::ok)
        .flat_map(|k| {
            std::fs::read_dir(k.path())
                .expect("runs")
                .filter_map(Result::ok)
        })
        .map(|e| e.path())
        .next()
        .expect("a teacher run")
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

/// The student's step events (after the teacher's cache events): (stage, terms).
pub(crate) fn student_steps(events: &[TrainEvent]) -> Vec<(Option<String>, BTreeMap<String, f64>)> {
    let start = events
        .iter()
        .position(|e| matches!(e, TrainEvent::TeacherCache { .. }))
        .unwrap_or(0);
    events[start..]
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { stage, terms, .. } => Some((stage.clone(), terms.clone())),
            _ => None,
        })
        .collect()
}

fn cache_hits(events: &[TrainEvent]) -> Vec<(bool, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::TeacherCache { hit, path, .. } => Some((*hit, path.clone())),
            _ => None,
        })
        .collect()
}

fn keys(terms: &BTreeMap<String, f64>) -> Vec<&str> {
    terms.keys().map(String::as_str).collect()
}

const TINY_TEACHER: &str = "teacher.model=\"scratch:bert-tiny?tokenizer=data/demo/tokenizer.json\"";
const MINI_TEACHER: &str = "teacher.model=\"scratch:bert-mini?tokenizer=data/demo/tokenizer.json\"";

#[test]
fn multi_level_terms_read_the_same_teacher_outputs_from_cache_and_live() {
    let out = scratch_dir("distill-multi");
    // bert-mini (4 layers × 256, 4 heads) teaches bert-tiny (2 × 128, 2 heads), which takes the
    // teacher's tokenizer since it names none.
    let sets = [
        MINI_TEACHER,
        "student.model=\"scratch:bert-tiny\"",
        "distill.hidden_mse=1.0",
        "distill.embedding_mse=1.0",
        "distill.cosine=0.5",
        "train.max_steps=4",
    ];
    let cfg = config(&sets);
    let (first, events) = run(&cfg, &out);
    let hits = cache_hits(&events);
    assert_eq!(hits.len(), 2, "logits and window outputs: {hits:?}");
    assert!(hits.iter().all(|(hit, _)| !hit));
    assert!(hits[1].1.contains("-tokens-"), "{}", hits[1].1);
    let steps = student_steps(&events);
    assert_eq!(steps.len(), 4);
    for (stage, terms) in &steps {
        assert_eq!(*stage, None, "one stage carries no stage name");
        assert_eq!(
            keys(terms),
            [
                "cosine",
                "embedding_mse",
                "hard_ce",
                "hidden_mse.1",
                "hidden_mse.2",
                "soft_kl"
            ]
        );
    }
    // The projection 128 → 256 trains with the student and is kept for resuming.
    let extra = candle_core::safetensors::load(
        first.join("checkpoints/last/extra.safetensors"),
        &Device::Cpu,
    )
    .expect("projection saved");
    assert_eq!(extra["distill.projection.weight"].dims(), &[256, 128]);

    // From the cache again: both files hit, the same numbers bit for bit.
    let (_, again) = run(&cfg, &out);
    assert!(cache_hits(&again).iter().all(|(hit, _)| *hit));
    assert_eq!(student_steps(&again), steps);

    // From the live teacher: no cache, the same terms within f16's precision.
    let mut live_sets = sets.to_vec();
    live_sets.push("distill.cache=false");
    let (_, live) = run(&config(&live_sets), &out);
    assert!(cache_hits(&live).is_empty());
    let (_, live_first) = &student_steps(&live)[0];
    for (name, cached) in &steps[0].1 {
        let l = live_first[name];
        assert!(
            (l - cached).abs() <= 2e-3 * cached.abs().max(1.0),
            "{name}: live {l} vs cached {cached}"
        );
    }

    // Attention terms compare heads one to one: 2 student heads cannot match 4.
    let mut att = sets.to_vec();
    att.push("distill.attention_score_mse=1.0");
    let mut dir = RunDir::create(&out, "distill", "").expect("run dir");
    let err = distill(
        &config(&att),
        &mut dir,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .err()
    .expect("heads differ")
    .to_string();
    assert!(
        err.contains("pair [1, 2] compares 2 student heads with 4 teacher heads"),
        "{err}"
    );
}

/// TinyBERT's recipe on a student derived from the fine-tuned teacher's layers 2 and 4:
/// stage 1 on embeddings, hidden states and attention scores, stage 2 on the logits; stopped
/// inside stage 2 and resumed, it ends with the weights of an uninterrupted run.
#[test]
fn tinybert_two_stages_resume_across_the_stage_boundary() {
    let out = scratch_dir("distill-tinybert");
    // A fine-tuned teacher run folder to derive from and distil from.
    let (_, events) = run(&config(&[MINI_TEACHER, "train.max_steps=2"]), &out);
    assert!(!cache_hits(&events).is_empty());
    let teacher_run = teacher_run(&out);
    let teacher = format!("teacher.model=\"{}\"", teacher_run.display());
    let best = teacher_run.join("checkpoints/best");
    let student = format!(
        "student.model=\"derive:{}?layers=2,4&pooler=false\"",
        best.display()
    );
    let sets = [
        teacher.as_str(),
        student.as_str(),
        "distill.recipe=\"tinybert\"",
        "train.max_steps=3",
    ];
    let cfg = config(&sets);
    let (whole, events) = run(&cfg, &out);
    let started = events.iter().find_map(|e| match e {
        TrainEvent::Started { total_steps, .. } => Some(*total_steps),
        _ => None,
    });
    assert_eq!(started, Some(6), "two stages of 3 steps");
    let steps = student_steps(&events);
    let stages: Vec<&str> = steps.iter().filter_map(|(s, _)| s.as_deref()).collect();
    assert_eq!(
        stages,
        [
            "intermediate",
            "intermediate",
            "intermediate",
            "prediction",
            "prediction",
            "prediction"
        ]
    );
    assert_eq!(
        keys(&steps[0].1),
        [
            "attention_score_mse.1",
            "attention_score_mse.2",
            "embedding_mse",
            "hidden_mse.1",
            "hidden_mse.2"
        ]
    );
    assert_eq!(keys(&steps[5].1), ["hard_ce", "soft_kl"]);

    let resumed = interrupted_and_resumed(&cfg, &out, 4);
    let diff = crate::train::runs::max_weight_diff(&whole, &resumed);
    assert_eq!(diff, 0.0, "resumed weights differ by {diff}");
}

/// A fresh distillation of `cfg` under `out`, stopped (as Ctrl-C would) once it reported step
/// `at`, then resumed to its end; its run folder.
pub(crate) fn interrupted_and_resumed(cfg: &ExperimentConfig, out: &Path, at: u64) -> PathBuf {
    let flag = AtomicBool::new(false);
    let mut stopper = crate::train::runs::StopAt {
        at,
        flag: &flag,
        events: Vec::new(),
    };
    let mut dir = RunDir::create(out, "distill", &cfg.to_toml()).expect("run dir");
    let outcome = distill(cfg, &mut dir, &mut stopper, &flag, false).expect("first part");
    assert!(matches!(outcome, Outcome::Interrupted { step } if step == at));
    let resumed = distill(
        cfg,
        &mut dir,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        true,
    )
    .expect("resume");
    assert!(matches!(resumed, Outcome::Finished(_)));
    dir.path.clone()
}

/// The point of distillation: the student learns the teacher's verdicts, not only the labels.
/// The teacher (bert-tiny, seed 1) is fine-tuned first; the students (bert-tiny, seed 13) share
/// everything but alpha: 0 is training on labels alone, 1 on the teacher alone. Validation is
/// 35 % of the slice so that the rates rest on 77 contracts.
#[test]
fn a_distilled_student_agrees_with_its_teacher_more_than_one_trained_on_labels() {
    let out = scratch_dir("distill-agreement");
    let common = [
        "dataset.limit=240",
        "dataset.split.fractions=[0.6, 0.35, 0.05]",
        "train.max_steps=0",
        "train.epochs=6",
        "train.lr=2e-3",
        "teacher.head=\"mean\"",
        "student.head=\"mean\"",
    ];
    let mut teacher_sets = common.to_vec();
    teacher_sets.extend(["train.seed=1", TINY_TEACHER]);
    let teacher_cfg = config(&teacher_sets);
    let mut dir = RunDir::create(&out, "teacher", &teacher_cfg.to_toml()).expect("run dir");
    let outcome = alambic::train::train(
        &teacher_cfg,
        "teacher",
        &mut dir,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .expect("teacher");
    assert!(matches!(outcome, Outcome::Finished(_)));
    let teacher = format!("teacher.model=\"{}\"", dir.path.display());
    let agreement = |alpha: &str| {
        let mut sets = common.to_vec();
        sets.extend([teacher.as_str(), "distill.temperature=1.0", alpha]);
        let (run_dir, _) = run(&config(&sets), &out);
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"),
        )
        .expect("json");
        summary["teacher_agreement"]["valid"]
            .as_f64()
            .expect("agreement in the summary")
    };
    let labels_only = agreement("distill.alpha=0.0");
    let distilled = agreement("distill.alpha=1.0");
    assert!(
        distilled > labels_only,
        "validation agreement with the teacher: distilled {distilled:.3}, labels only {labels_only:.3}"
    );
    eprintln!("agreement: distilled {distilled:.3}, labels only {labels_only:.3}");
}
