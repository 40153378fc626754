//! Pretraining runs end to end: a gzipped corpus streamed, events and summary, resume that
//! ends with the same weights, the run as a model source, and the masked-LM export.

use crate::common::{fixture, scratch_dir, tiny};
use crate::train::runs::StopAt;
use alambic::pretrain::{PretrainOutcome, pretrain};
use alambic::store::runs::{Status, status_of};
use alambic::store::schema::PretrainSummary;
use alambic::store::{RunDir, TrainEvent, VecSink};
use alambic::train::ExperimentConfig;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The first 24 demo contracts, gzipped: an epoch of a few steps.
pub(crate) fn corpus(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("data/demo/contracts.jsonl")).expect("demo");
    let path = dir.join("corpus.jsonl.gz");
    let file = std::fs::File::create(&path).expect("create");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    for line in text.lines().take(24) {
        writeln!(gz, "{line}").expect("write");
    }
    gz.finish().expect("finish");
    path
}

pub(crate) fn config(corpus: &Path) -> ExperimentConfig {
    let model = fixture("tiny-bert").display().to_string();
    let corpus = corpus.display().to_string();
    tiny(&[
        &format!("teacher.model={model:?}"),
        &format!("pretrain.corpus={corpus:?}"),
        "train.max_steps=0",
        "train.epochs=2",
        "train.batch_size=4",
        "pretrain.valid_share=0.1",
        "pretrain.valid_windows=8",
        "pretrain.shuffle_buffer=16",
    ])
}

fn run(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    resume: bool,
) -> (PretrainOutcome, Vec<TrainEvent>) {
    let mut sink = VecSink::default();
    let out = pretrain(cfg, run, &mut sink, &AtomicBool::new(false), resume).expect("pretrain");
    (out, sink.0)
}

fn last_weights(run: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(run.join("checkpoints/last/model.safetensors"), &Device::Cpu)
        .expect("weights")
}

#[test]
fn pretraining_resumes_to_the_same_weights_and_becomes_a_model_source() {
    let dir = scratch_dir("pretrain-runs");
    let cfg = config(&corpus(&dir));
    let mut full = RunDir::create(&dir.join("full"), "pretrain", &cfg.to_toml()).expect("run");
    let (outcome, events) = run(&cfg, &mut full, false);
    let PretrainOutcome::Finished(summary) = outcome else {
        panic!("not finished")
    };
    let steps = summary.steps;
    assert_eq!(summary.epochs, 2);
    assert_eq!(
        steps,
        2 * summary.train_windows.div_ceil(4),
        "every training window once an epoch, in batches of 4"
    );
    assert!(steps >= 8, "{steps} steps");
    let before = summary.before.as_ref().expect("scored before training");
    assert!(
        summary.best.loss < before.loss,
        "{} !< {}",
        summary.best.loss,
        before.loss
    );
    assert!((summary.best.perplexity.expect("perplexity") - summary.best.loss.exp()).abs() < 1e-9);
    assert_eq!(
        PretrainSummary::read(&full.path).expect("pretrain.json"),
        *summary
    );
    assert_eq!(
        status_of(&full.path).expect("status").status,
        Status::Finished
    );
    let evals = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Eval { .. }))
        .count();
    assert_eq!(evals, 3, "before training and after each epoch");

    // Stopped at step 3 (inside the first epoch), then resumed.
    let out = dir.join("resumed");
    let mut part = RunDir::create(&out, "pretrain", &cfg.to_toml()).expect("run");
    let flag = AtomicBool::new(false);
    let mut stop = StopAt {
        at: 3,
        flag: &flag,
        events: Vec::new(),
    };
    let outcome = pretrain(&cfg, &mut part, &mut stop, &flag, false).expect("pretrain");
    assert!(matches!(outcome, PretrainOutcome::Interrupted { step: 3 }));
    assert_eq!(
        status_of(&part.path).expect("status").status,
        Status::Stopped
    );
    let mut again = RunDir::open(&part.path, "pretrain", false).expect("reopen");
    let (outcome, _) = run(&cfg, &mut again, true);
    assert!(matches!(outcome, PretrainOutcome::Finished(ref s) if s.steps == steps));
    let (a, b) = (last_weights(&full.path), last_weights(&part.path));
    assert_eq!(a.len(), b.len());
    assert!(a.contains_key("cls.predictions.transform.dense.weight"));
    assert!(
        !a.keys().any(|k| k.starts_with("classifier.")),
        "a classifier was saved"
    );
    for (k, t) in &a {
        let d = crate::common::max_abs_diff(t, &b[k]);
        assert!(d <= 1e-6, "{k} differs by {d} after resume");
    }

    // The run is a model source: fine-tuning starts from its encoder with a fresh classifier.
    let source = full.path.display().to_string();
    let ft = tiny(&[&format!("student.model={source:?}"), "train.max_steps=2"]);
    let mut ft_run = RunDir::create(&dir.join("ft"), "student", &ft.to_toml()).expect("run");
    let outcome = alambic::train::train(
        &ft,
        "student",
        &mut ft_run,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .expect("fine-tune from the pretraining run");
    assert!(matches!(outcome, alambic::train::Outcome::Finished(_)));
    let (tuned, _) = alambic::train::checkpoint::load_model(
        &ft_run.path.join("checkpoints/best"),
        0,
        &Device::Cpu,
    )
    .expect("load");
    assert_eq!(tuned.labels.len(), 8, "{:?}", tuned.labels);

    // A student derived from the run's layers starts as those layers of its checkpoint.
    let derived = alambic::train::setup::with_run_checkpoints(&format!("derive:{source}?layers=2"));
    assert!(derived.contains("checkpoints"), "{derived}");
    let (student, _) = alambic::model::load_source(
        &derived,
        &alambic::model::load::LoadOptions::default(),
        &Device::Cpu,
    )
    .expect("derive from the pretraining run");
    let layer = |weights: &HashMap<String, Tensor>, n: usize| {
        let suffix = format!("encoder.layer.{n}.attention.self.query.weight");
        weights
            .iter()
            .find(|(k, _)| k.ends_with(&suffix))
            .map(|(_, t)| t.clone())
            .expect("query weight")
    };
    let student_weights: HashMap<String, Tensor> = student
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let best = candle_core::safetensors::load(
        full.path.join("checkpoints/best/model.safetensors"),
        &Device::Cpu,
    )
    .expect("best");
    let d = crate::common::max_abs_diff(&layer(&student_weights, 0), &layer(&best, 1));
    assert!(
        d == 0.0,
        "the derived layer differs from the run's layer 2 by {d}"
    );

    // Exported for transformers' BertForMaskedLM: no pooler, the head under its names.
    let export = dir.join("export");
    let keys =
        alambic::pretrain::export::export_masked_lm(&full.path.join("checkpoints/best"), &export)
            .expect("export");
    assert!(keys.contains(&"cls.predictions.bias".to_string()));
    assert!(keys.contains(&"cls.predictions.transform.LayerNorm.weight".to_string()));
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("pooler") || k.contains("decoder")),
        "{keys:?}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["architectures"][0], "BertForMaskedLM");
}

#[test]
fn a_report_shows_a_pretraining_run_with_its_held_out_scores() {
    let dir = scratch_dir("pretrain-report");
    let cfg = tiny(&[
        &format!(
            "teacher.model={:?}",
            fixture("tiny-bert").display().to_string()
        ),
        &format!("pretrain.corpus={:?}", corpus(&dir).display().to_string()),
        "train.max_steps=3",
        "train.batch_size=4",
        "train.log_every=1",
        "train.eval_every=0",
        "pretrain.valid_share=0.1",
        "pretrain.valid_windows=8",
    ]);
    let mut run_dir = RunDir::create(&dir.join("runs"), "pretrain", &cfg.to_toml()).expect("run");
    let (outcome, _) = run(&cfg, &mut run_dir, false);
    let PretrainOutcome::Finished(summary) = outcome else {
        panic!("not finished")
    };
    let report = alambic::report::collect(std::slice::from_ref(&run_dir.path)).expect("collect");
    assert_eq!((report.runs.len(), report.corpus_runs.len()), (0, 1));
    let corpus_run = &report.corpus_runs[0];
    assert_eq!(corpus_run.valid_loss.len(), 2, "before and at the end");
    assert_eq!(corpus_run.loss.len(), 3, "one point a step");
    let html = alambic::report::html::render(&report, "pretraining");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts).expect("the page parses");
    let section = doc
        .descendants()
        .find(|n| n.has_tag_name("section") && n.attribute("id") == Some("corpus"))
        .expect("a corpus section");
    let text: String = section
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ");
    let before = summary.before.as_ref().expect("before");
    let expected = format!(
        "{:.1} → {:.1}",
        before.perplexity.expect("perplexity"),
        summary.best.perplexity.expect("perplexity")
    );
    assert!(text.contains(&expected), "{expected} not in {text}");
    assert!(text.contains("masked LM"), "{text}");
}
