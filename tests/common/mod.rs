//! Paths to the shared datasets and fixtures, and a reader for golden tensors.

use std::path::{Path, PathBuf};

pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

pub fn cgt_dasp() -> PathBuf {
    shared().join("datasets/cgt_dasp/cgt_dasp.jsonl")
}

pub fn fixture(name: &str) -> PathBuf {
    shared().join("fixtures").join(name)
}

/// A run's (or a sweep's) `summary.json`.
pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
        .expect("json")
}

/// A fresh folder under target/ for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = alambic::testing::target_dir()
        .join("test-scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The rows of an i64 `[batch, seq]` tensor, each cut where its attention mask ends.
pub fn golden_ids(fixture_dir: &Path) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(fixture_dir.join("golden.safetensors")).expect("read golden");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("parse golden");
    let ids = i64_rows(&st, "input_ids");
    let mask = i64_rows(&st, "attention_mask");
    ids.into_iter()
        .zip(mask)
        .map(|(row, m)| {
            row.into_iter()
                .zip(m)
                .filter(|(_, m)| *m == 1)
                .map(|(id, _)| id as u32)
                .collect()
        })
        .collect()
}

fn i64_rows(st: &safetensors::SafeTensors, name: &str) -> Vec<Vec<i64>> {
    let view = st.tensor(name).expect("tensor present");
    assert_eq!(view.dtype(), safetensors::Dtype::I64);
    let shape = view.shape().to_vec();
    let values: Vec<i64> = view
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    values.chunks(shape[1]).map(<[i64]>::to_vec).collect()
}

pub fn golden_texts(fixture_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(fixture_dir.join("golden.json")).expect("golden.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().expect("str").to_string())
        .collect()
}

/// Runs the `alambic` binary from the crate root.
pub fn alambic(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_alambic"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run alambic")
}

/// Asserts that a run of the binary succeeded, showing its stderr when it did not.
pub fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON a successful run of the binary printed.
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    succeeded(out);
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The error a student's training run ends with, `why` saying why one was expected.
pub fn training_error(
    cfg: &alambic::train::ExperimentConfig,
    run: &mut alambic::store::RunDir,
    why: &str,
) -> alambic::train::TrainError {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut events = alambic::store::VecSink::default();
    alambic::train::train(cfg, "student", run, &mut events, &stop, false)
        .err()
        .expect(why)
}

/// The tiny config every training test uses (`tests/configs/tiny.toml`) with `--set`-style
/// overrides, its dataset path made absolute.
pub fn tiny(sets: &[&str]) -> alambic::train::ExperimentConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut cfg =
        alambic::train::ExperimentConfig::load(Some(&root.join("tests/configs/tiny.toml")), &sets)
            .expect("tiny config");
    cfg.dataset.file = root.join(&cfg.dataset.file);
    cfg
}

/// A run summary (the TUI fixtures' teacher) with the given run id.
pub fn summary_with_id(run_id: &str) -> alambic::store::schema::RunSummary {
    let mut s = *crate::tui::fixtures::summary("teacher", 0.5, 0.5, 1, 1.0);
    s.run_id = run_id.into();
    s
}

/// The largest absolute element-wise difference of two tensors of one shape.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("diff")
}
