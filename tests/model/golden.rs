//! Our encoder against PyTorch + transformers (`../shared/fixtures`, see its README).

use crate::common::{fixture, golden_ids};
use alambic::model::encoder::Batch;
use alambic::model::heads::mean_pool;
use alambic::model::load::{Classifier, LoadOptions, Output};
use alambic::model::{Mode, load_source};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

pub fn golden(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("golden.safetensors"), &Device::Cpu).expect("golden")
}

/// Ids padded with `pad` to the golden length, and the mask.
pub fn padded(dir: &Path, pad: u32) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let rows = golden_ids(dir);
    let len = rows.iter().map(Vec::len).max().unwrap_or(0);
    let ids = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.resize(len, pad);
            r
        })
        .collect();
    let mask = rows
        .iter()
        .map(|r| (0..len).map(|i| u32::from(i < r.len())).collect())
        .collect();
    (ids, mask)
}

pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .expect("sub")
        .abs()
        .expect("abs")
        .flatten_all()
        .expect("flat")
        .max(0)
        .expect("max")
        .to_scalar::<f32>()
        .expect("scalar")
}

/// The model on a fixture's golden inputs (ids padded with `pad`), attention maps kept.
pub fn forward_fixture(
    model: &Classifier,
    fixture_name: &str,
    pad: u32,
    mode: &mut Mode,
) -> Output {
    forward_fixture_with(model, fixture_name, pad, mode, true)
}

/// As `forward_fixture`; without the scores, inference takes the block attention path.
fn forward_fixture_with(
    model: &Classifier,
    fixture_name: &str,
    pad: u32,
    mode: &mut Mode,
    want_scores: bool,
) -> Output {
    let (ids, mask) = padded(&fixture(fixture_name), pad);
    model
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            mode,
            want_scores,
        )
        .expect("forward")
}

fn check(model: &Classifier, fixture_name: &str, pad: u32, with_logits: bool, tol: f32) {
    let dir = fixture(fixture_name);
    let want = golden(&dir);
    let out = forward_fixture(model, fixture_name, pad, &mut Mode::Eval);
    for (i, h) in out.encoder.hidden_states.iter().enumerate() {
        let d = max_diff(h, &want[&format!("hidden_states.{i}")]);
        assert!(d < tol, "{fixture_name} hidden_states.{i}: max diff {d}");
    }
    if want.contains_key("attentions.0") {
        assert_eq!(out.encoder.attentions.len(), model.encoder.num_layers());
        for (i, a) in out.encoder.attentions.iter().enumerate() {
            let d = max_diff(a, &want[&format!("attentions.{i}")]);
            assert!(d < tol, "{fixture_name} attentions.{i}: max diff {d}");
        }
    }
    if with_logits {
        let d = max_diff(&out.logits, &want["logits"]);
        assert!(d < tol, "{fixture_name} logits: max diff {d}");
    }
    // Inference without attention maps (block attention, padding masked inside the block)
    // reaches the same hidden states.
    let fast = forward_fixture_with(model, fixture_name, pad, &mut Mode::Eval, false);
    assert!(fast.encoder.attentions.is_empty());
    for (i, h) in fast.encoder.hidden_states.iter().enumerate() {
        let d = max_diff(h, &want[&format!("hidden_states.{i}")]);
        assert!(
            d < tol,
            "{fixture_name} block attention hidden_states.{i}: max diff {d}"
        );
    }
}

fn load(dir: &Path) -> (Classifier, alambic::model::LoadReport) {
    Classifier::from_folder(dir, &LoadOptions::default(), &Device::Cpu).expect("load")
}

#[test]
fn tiny_bert_from_safetensors_and_from_zip_bin() {
    let dir = fixture("tiny-bert");
    let (model, report) = load(&dir);
    assert!(
        report
            .weights
            .as_ref()
            .is_some_and(|p| p.ends_with("model.safetensors"))
    );
    assert!(report.initialised.is_empty(), "{:?}", report.initialised);
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    check(&model, "tiny-bert", 0, true, 1e-4);
    // The same weights from the PyTorch zip format only.
    let only_bin = crate::common::scratch_dir("tiny-bert-bin");
    for f in ["config.json", "pytorch_model.bin", "tokenizer.json"] {
        std::fs::copy(dir.join(f), only_bin.join(f)).expect("copy");
    }
    let (model, report) = load(&only_bin);
    assert!(
        report
            .weights
            .as_ref()
            .is_some_and(|p| p.ends_with("pytorch_model.bin"))
    );
    assert!(report.initialised.is_empty() && report.unused.is_empty());
    check(&model, "tiny-bert", 0, true, 1e-4);
}

#[test]
fn tiny_roberta_from_legacy_bin_and_vocab_merges() {
    let (model, report) = load(&fixture("tiny-roberta"));
    assert!(report.initialised.is_empty(), "{:?}", report.initialised);
    assert_eq!(model.labels.len(), 2);
    assert_eq!(model.tokenizer.as_ref().map(|t| t.kind()), Some("bpe"));
    check(&model, "tiny-roberta", 1, true, 1e-4);
}

#[test]
fn tiny_bert_legacy_gamma_beta_fit_dense_no_head() {
    let (model, report) = load(&fixture("tiny-bert-legacy"));
    assert_eq!(report.unused, vec!["fit_dense.bias", "fit_dense.weight"]);
    assert!(
        report.notes.iter().any(|n| n.contains("fit_dense")),
        "{:?}",
        report.notes
    );
    assert!(report.fresh_head(), "no classifier in the checkpoint");
    assert!(
        report.notes.iter().any(|n| n.contains("fresh")),
        "{:?}",
        report.notes
    );
    check(&model, "tiny-bert", 0, false, 1e-4);
}

#[test]
fn real_minilm_hidden_states_and_sentence_embedding() {
    let folder = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let (model, report) = load_source(
        folder.to_str().expect("path"),
        &LoadOptions::default(),
        &Device::Cpu,
    )
    .expect("load MiniLM");
    assert!(
        report
            .initialised
            .iter()
            .all(|k| k.starts_with("classifier")),
        "{:?}",
        report.initialised
    );
    check(&model, "minilm-golden", 0, false, 1e-4);
    let dir = fixture("minilm-golden");
    let out = forward_fixture(&model, "minilm-golden", 0, &mut Mode::Eval);
    let pooled = mean_pool(out.encoder.last().expect("last"), &out.encoder.mask).expect("pool");
    let norm = pooled
        .sqr()
        .and_then(|s| s.sum_keepdim(1))
        .and_then(|s| s.sqrt())
        .expect("norm");
    let embedding = pooled.broadcast_div(&norm).expect("normalise");
    let d = max_diff(&embedding, &golden(&dir)["sentence_embedding"]);
    assert!(d < 1e-5, "sentence_embedding: max diff {d}");
}
