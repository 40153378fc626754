//! Experiment configs: defaults, the user's file, `--set`, and errors that name file and key.

use crate::common::scratch_dir;
use alambic::train::ExperimentConfig;
use std::path::Path;

fn tiny() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/configs/tiny.toml"
    ))
}

#[test]
fn tiny_config_over_defaults_with_overrides() {
    let cfg = ExperimentConfig::load(
        Some(tiny()),
        &[
            "train.lr=0.3".into(),
            "dataset.task=binary".into(),
            "student.model=\"scratch:bert-mini\"".into(),
            "train.epochs=7".into(),
        ],
    )
    .expect("load");
    assert_eq!(cfg.dataset.max_len, 64);
    assert_eq!(cfg.train.lr, 0.3);
    assert_eq!(cfg.train.epochs, 7);
    assert_eq!(cfg.train.weight_decay, 0.01, "from the defaults");
    assert_eq!(cfg.dataset.task, alambic::data::Task::Binary);
    assert_eq!(cfg.student.model, "scratch:bert-mini");
    // The resolved config reads back to itself (a run folder's config.toml).
    let dir = scratch_dir("config-roundtrip");
    std::fs::write(dir.join("c.toml"), cfg.to_toml()).expect("write");
    assert_eq!(
        ExperimentConfig::load(Some(&dir.join("c.toml")), &[]).expect("reload"),
        cfg
    );
}

#[test]
fn unknown_keys_and_wrong_types_name_the_file_and_key() {
    let dir = scratch_dir("config-errors");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[train]\nlrr = 0.1\n").expect("write");
    let err = ExperimentConfig::load(Some(&bad), &[])
        .expect_err("unknown")
        .to_string();
    assert_eq!(err, format!("{}: unknown key `train.lrr`", bad.display()));
    std::fs::write(&bad, "[train]\nepochs = \"three\"\n").expect("write");
    let err = ExperimentConfig::load(Some(&bad), &[])
        .expect_err("type")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: key `train.epochs` must be an integer, got a string",
            bad.display()
        )
    );
    let err = ExperimentConfig::load(None, &["dataset.maxlen=3".into()])
        .expect_err("set")
        .to_string();
    assert_eq!(err, "--set dataset.maxlen=3: unknown key `dataset.maxlen`");
    std::fs::write(&bad, "[dataset]\ntask = \"regression\"\n").expect("write");
    let err = ExperimentConfig::load(Some(&bad), &[])
        .expect_err("variant")
        .to_string();
    assert!(err.contains("unknown variant `regression`"), "{err}");
    // Free-form sections take any key.
    std::fs::write(&bad, "[dataset.merge]\ntx_origin = \"access_control\"\n").expect("write");
    let cfg = ExperimentConfig::load(Some(&bad), &[]).expect("merge map");
    assert_eq!(cfg.dataset.merge["tx_origin"], "access_control");
}
