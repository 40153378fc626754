//! General distillation on the unlabelled corpus: a wider scratch student (so a projection is
//! learned) from the tiny BERT, resumed to the same weights, and `tinybert-full` chaining it
//! into the task stages.

use super::runs::{config, corpus};
use crate::common::{fixture, scratch_dir};
use crate::train::runs::StopAt;
use alambic::pretrain::{PretrainOutcome, general_distill};
use alambic::store::schema::PretrainSummary;
use alambic::store::{RunDir, TrainEvent, VecSink};
use alambic::train::ExperimentConfig;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn general_config(corpus: &Path) -> ExperimentConfig {
    let mut cfg = config(corpus);
    let tok = fixture("tiny-bert").display().to_string();
    cfg.student.model = format!("scratch:bert-tiny?tokenizer={tok}&heads=4");
    cfg.distill.recipe = alambic::distill::Recipe::General;
    cfg
}

fn checkpoint_tensors(run: &Path, file: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(run.join("checkpoints/last").join(file), &Device::Cpu)
        .expect("tensors")
}

#[test]
fn general_distillation_learns_the_teacher_and_resumes_to_the_same_weights() {
    let dir = scratch_dir("pretrain-general");
    let cfg = general_config(&corpus(&dir));
    let mut full = RunDir::create(&dir.join("full"), "distill", &cfg.to_toml()).expect("run");
    let mut sink = VecSink::default();
    let outcome =
        general_distill(&cfg, &mut full, &mut sink, &AtomicBool::new(false), false).expect("run");
    let PretrainOutcome::Finished(summary) = outcome else {
        panic!("not finished")
    };
    assert_eq!(summary.objective, "general");
    let before = summary.before.as_ref().expect("before");
    assert!(
        summary.best.loss < 0.8 * before.loss,
        "{} vs {}",
        summary.best.loss,
        before.loss
    );
    assert_eq!(summary.best.perplexity, None);
    assert_eq!(PretrainSummary::read(&full.path).expect("read"), *summary);
    // Every term is logged: the embedding output, both student layers, both attention maps.
    let Some(TrainEvent::Step { terms, .. }) =
        sink.0.iter().find(|e| matches!(e, TrainEvent::Step { .. }))
    else {
        panic!("no step event")
    };
    let names: Vec<&str> = terms.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "attention_score_mse.1",
            "attention_score_mse.2",
            "embedding_mse",
            "hidden_mse.1",
            "hidden_mse.2"
        ]
    );

    let mut part = RunDir::create(&dir.join("resumed"), "distill", &cfg.to_toml()).expect("run");
    let flag = AtomicBool::new(false);
    let mut stop = StopAt {
        at: 5,
        flag: &flag,
        events: Vec::new(),
    };
    let outcome = general_distill(&cfg, &mut part, &mut stop, &flag, false).expect("run");
    assert!(matches!(outcome, PretrainOutcome::Interrupted { step: 5 }));
    let mut again = RunDir::open(&part.path, "distill", false).expect("reopen");
    let outcome = general_distill(
        &cfg,
        &mut again,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        true,
    )
    .expect("resume");
    assert!(matches!(outcome, PretrainOutcome::Finished(ref s) if s.steps == summary.steps));
    for file in ["model.safetensors", "extra.safetensors"] {
        let (a, b) = (
            checkpoint_tensors(&full.path, file),
            checkpoint_tensors(&part.path, file),
        );
        assert_eq!(a.len(), b.len(), "{file}");
        for (k, t) in &a {
            let d = crate::common::max_abs_diff(t, &b[k]);
            assert!(d <= 1e-6, "{file}: {k} differs by {d} after resume");
        }
    }
    let extra = checkpoint_tensors(&full.path, "extra.safetensors");
    assert_eq!(extra["distill.projection.weight"].dims(), &[32, 128]);
}

#[test]
fn tinybert_full_distils_on_the_corpus_then_on_the_labels() {
    let dir = scratch_dir("pretrain-tinybert-full");
    let mut cfg = general_config(&corpus(&dir));
    cfg.distill.recipe = alambic::distill::Recipe::TinybertFull;
    // The task stages: the tiny teacher fine-tuned as usual (a child run), a few steps each.
    cfg.train.max_steps = 3;
    cfg.train.epochs = 1;
    // The general stage has its own budget, the corpus being another set than the labels.
    cfg.distill.general_steps = 4;
    cfg.distill.general_epochs = 2;
    cfg.distill.general_lr = 2e-4;
    let mut run = RunDir::create(&dir.join("runs"), "distill", &cfg.to_toml()).expect("run");
    let outcome = alambic::distill::distill(
        &cfg,
        &mut run,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .expect("tinybert-full");
    assert!(matches!(outcome, alambic::train::Outcome::Finished(_)));
    let general = PretrainSummary::read(&run.path.join("general")).expect("general stage");
    assert_eq!(general.objective, "general");
    assert_eq!(general.steps, 4);
    let general_cfg = ExperimentConfig::load(Some(&run.path.join("general/config.toml")), &[])
        .expect("the general stage's config");
    assert_eq!(
        (general_cfg.train.max_steps, general_cfg.train.epochs),
        (4, 2)
    );
    assert_eq!(general_cfg.train.lr, 2e-4);
    let summary = crate::common::summary(&run.path);
    assert_eq!(
        summary["model"].as_str(),
        Some(run.path.join("general").display().to_string().as_str())
    );
    let events =
        alambic::store::events::read_events(&run.path.join("events.jsonl")).expect("events");
    let stages: std::collections::BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { stage, .. } => stage.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        stages.into_iter().collect::<Vec<_>>(),
        ["intermediate", "prediction"]
    );
}
