//! MobileBERT's progressive knowledge transfer (`recipe = "progressive"`) and one-layer
//! stages: which terms each stage reads, which weights it leaves alone, and resume inside a
//! layer's stage.

use super::run::{config, interrupted_and_resumed, run, student_steps};
use crate::common::scratch_dir;
use crate::train::runs::{max_weight_diff, weights};
use alambic::model::load::LoadOptions;
use alambic::model::load_source;
use candle_core::{Device, Tensor};

/// A bottleneck student of the teacher's shape (2 layers × 128, 2 heads) at inner width 64:
/// hidden states and attention maps match the teacher's without a projection.
const STUDENT: &str =
    "student.model=\"bottleneck:scratch:bert-tiny?tokenizer=data/demo/tokenizer.json?inner=64\"";

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
        .expect("diff")
}

/// One stage per student layer, then the prediction stage; each layer's stage reads only its
/// own pair (the embeddings only with layer 1); interrupted inside layer 2's stage and
/// resumed, the run ends with the weights of an uninterrupted one.
#[test]
fn progressive_trains_layer_by_layer_and_resumes_inside_a_layer() {
    let out = scratch_dir("distill-progressive");
    let cfg = config(&[
        STUDENT,
        "distill.recipe=\"progressive\"",
        "train.max_steps=2",
    ]);
    let (whole, events) = run(&cfg, &out);
    let steps = student_steps(&events);
    let stages: Vec<&str> = steps.iter().filter_map(|(s, _)| s.as_deref()).collect();
    assert_eq!(
        stages,
        [
            "layer-1",
            "layer-1",
            "layer-2",
            "layer-2",
            "prediction",
            "prediction"
        ]
    );
    let keys = |i: usize| steps[i].1.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(0),
        ["attention_prob_kl.1", "embedding_mse", "hidden_mse.1"]
    );
    assert_eq!(keys(2), ["attention_prob_kl.2", "hidden_mse.2"]);
    assert_eq!(keys(5), ["hard_ce", "soft_kl"]);

    let resumed = interrupted_and_resumed(&cfg, &out, 3);
    let diff = max_weight_diff(&whole, &resumed);
    assert_eq!(diff, 0.0, "resumed weights differ by {diff}");
}

/// A stage of `layer = 2` trains layer 2 alone: the embeddings, layer 1 and the head keep
/// their initial values exactly, layer 2 moves.
#[test]
fn a_one_layer_stage_leaves_every_other_weight_alone() {
    let out = scratch_dir("distill-one-layer");
    let file = out.join("one-layer.toml");
    std::fs::write(
        &file,
        "[distill]\nrecipe = \"stages\"\n[[distill.stages]]\nname = \"second\"\nlayer = 2\n\
         terms = [{ term = \"hidden_mse\", weight = 1.0 }, { term = \"embedding_mse\", weight = 1.0 }]\n",
    )
    .expect("write");
    let mut cfg = config(&[STUDENT, "train.max_steps=3"]);
    let stages = alambic::train::ExperimentConfig::load(Some(&file), &[]).expect("stages");
    cfg.distill.recipe = stages.distill.recipe;
    cfg.distill.stages = stages.distill.stages;
    let (path, events) = run(&cfg, &out);
    let steps = student_steps(&events);
    // The embeddings do not train in a layer-2 stage, so their term is dropped.
    assert_eq!(
        steps[0].1.keys().cloned().collect::<Vec<_>>(),
        ["hidden_mse.2"]
    );
    let trained = weights(&path);
    let (last, _) = alambic::train::checkpoint::load_model(
        &path.join("checkpoints/last"),
        cfg.train.seed,
        &Device::Cpu,
    )
    .expect("trained student");
    let (initial, _) = load_source(
        &cfg.student.source(),
        &LoadOptions {
            seed: cfg.train.seed,
            labels: Some(last.labels.clone()),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("initial student");
    let mut moved = 0;
    for (name, var) in initial.named_vars() {
        let diff = max_diff(var.as_tensor(), &trained[&name]);
        if name.starts_with("bert.encoder.layer.1.") {
            moved += usize::from(diff > 0.0);
        } else {
            assert_eq!(diff, 0.0, "{name} changed in a layer-2 stage");
        }
    }
    assert!(moved > 10, "only {moved} tensors of layer 2 moved");
}
