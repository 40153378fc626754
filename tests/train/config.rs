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
    assert_eq!(
        err,
        format!(
            "{}: unknown key `train.lrr` (did you mean `train.lr`?)",
            bad.display()
        )
    );
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
    assert_eq!(
        err,
        "--set dataset.maxlen=3: unknown key `dataset.maxlen` (did you mean `dataset.max_len`?)"
    );
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

#[test]
fn a_mistyped_key_is_answered_with_the_key_it_most_likely_meant() {
    let hint = |set: &str| {
        let err = ExperimentConfig::load(None, &[set.to_string()])
            .expect_err(set)
            .to_string();
        let (_, hint) = err.split_once(": unknown key ").expect("an unknown key");
        hint.to_string()
    };
    // A sibling spelt alike, first.
    assert_eq!(
        hint("train.epoch=3"),
        "`train.epoch` (did you mean `train.epochs`?)"
    );
    assert_eq!(
        hint("distill.temp=2"),
        "`distill.temp` (did you mean `distill.temperature`?)"
    );
    assert_eq!(
        hint("distill.alhpa=0.3"),
        "`distill.alhpa` (did you mean `distill.alpha`?)"
    );
    // Names as alike as each other are both offered.
    assert_eq!(
        hint("pretrain.mask=0.2"),
        "`pretrain.mask` (did you mean `pretrain.mask_share` or `pretrain.mask_token`?)"
    );
    // The right name in the wrong section, and a mistyped section.
    assert_eq!(
        hint("train.alpha=0.3"),
        "`train.alpha` (did you mean `distill.alpha`?)"
    );
    assert_eq!(hint("trian.epochs=3"), "`trian` (did you mean `train`?)");
    // Nothing alike: no guess.
    assert_eq!(hint("train.zzz=1"), "`train.zzz`");
    assert_eq!(
        hint("train.seeds=1"),
        "`train.seeds` (did you mean `train.seed`?)"
    );
}

/// Nonsense hyperparameters used to start (a negative temperature even finished with a score):
/// every numeric key has a range, checked at load; the error names its origin and the key.
#[test]
fn values_out_of_range_are_refused_naming_origin_and_key() {
    let dir = scratch_dir("config-ranges");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[distill]\ntemperature = -2.0\n").expect("write");
    let err = ExperimentConfig::load(Some(&file), &[])
        .expect_err("T < 0")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: `distill.temperature` = -2 is out of range: it must be > 0",
            file.display()
        )
    );
    // A later --set that fixes it wins.
    assert!(ExperimentConfig::load(Some(&file), &["distill.temperature=2".into()]).is_ok());
    let cases = [
        ("distill.temperature=0", "`distill.temperature` = 0", "> 0"),
        ("distill.alpha=1.5", "`distill.alpha` = 1.5", "in [0, 1]"),
        ("distill.alpha=-0.1", "`distill.alpha` = -0.1", "in [0, 1]"),
        ("train.batch_size=0", "`train.batch_size` = 0", ">= 1"),
        ("train.lr=0", "`train.lr` = 0", "> 0"),
        ("train.lr=-1e-3", "`train.lr` = -0.001", "> 0"),
        (
            "train.warmup_ratio=1.5",
            "`train.warmup_ratio` = 1.5",
            "in [0, 1]",
        ),
        ("distill.hidden_mse=-1", "`distill.hidden_mse` = -1", ">= 0"),
    ];
    for (set, key, range) in cases {
        let err = ExperimentConfig::load(Some(tiny()), &[set.to_string()])
            .expect_err(set)
            .to_string();
        assert_eq!(
            err,
            format!("--set {set}: {key} is out of range: it must be {range}"),
            "the error names --set, not the config file"
        );
    }
    let err = ExperimentConfig::load(Some(tiny()), &["dataset.stride=62".into()])
        .expect_err("stride")
        .to_string();
    assert!(
        err.starts_with("--set dataset.stride=62: `dataset.stride` = 62 must be smaller"),
        "{err}"
    );
    // A stage's values too.
    let staged = dir.join("stages.toml");
    std::fs::write(
        &staged,
        "[distill]\nrecipe = \"stages\"\n[[distill.stages]]\nname = \"only\"\nterms = [{ term = \"response\", temperature = 0.0 }]\n",
    )
    .expect("write");
    let err = ExperimentConfig::load(Some(&staged), &[])
        .expect_err("stage T")
        .to_string();
    assert!(
        err.contains("`distill.stages.only.temperature` = 0 is out of range"),
        "{err}"
    );
}

/// A grid value that is bad for one cell fails the sweep's creation, naming the cell and the
/// key, and leaves no sweep folder behind.
#[test]
fn a_sweep_with_a_bad_cell_fails_at_creation_and_leaves_nothing() {
    let dir = scratch_dir("sweep-bad-cell");
    let cfg = ExperimentConfig::load(Some(tiny()), &[]).expect("cfg");
    let grid = ["distill.temperature=4,0".to_string()];
    let err = alambic::sweep::SweepDir::create(&dir, &cfg, &grid)
        .err()
        .expect("T = 0 in cell 1")
        .to_string();
    assert!(err.contains("cell 1 (temperature=0)"), "{err}");
    assert!(
        err.contains("`distill.temperature` = 0 is out of range"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert!(left.is_empty(), "the failed sweep left {left:?}");
}

/// `[student.moe]` keys wrap the student's source in `moe:` (what summaries record and the
/// loader reads), are range-checked, and a sweep over them checks every cell at creation.
#[test]
fn moe_keys_wrap_the_source_and_are_checked_per_cell() {
    let sets = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cfg = ExperimentConfig::load(
        Some(tiny()),
        &sets(&[
            "student.moe.experts=4",
            "student.moe.layers=[2]",
            "student.moe.init=\"split\"",
        ]),
    )
    .expect("cfg");
    assert_eq!(
        cfg.student.source(),
        "moe:scratch:bert-tiny?tokenizer=data/demo/tokenizer.json?experts=4&top_k=1&layers=2&init=split"
    );
    let dense = ExperimentConfig::load(Some(tiny()), &[]).expect("cfg");
    assert_eq!(dense.student.source(), dense.student.model);
    let err = ExperimentConfig::load(
        Some(tiny()),
        &sets(&["student.moe.experts=4", "student.moe.top_k=5"]),
    )
    .expect_err("top-5 of 4")
    .to_string();
    assert!(
        err.contains("`student.moe.top_k` = 5 is out of range: it must be in [1, 4]"),
        "{err}"
    );
    let dir = scratch_dir("sweep-bad-moe-cell");
    let cfg = ExperimentConfig::load(Some(tiny()), &sets(&["student.moe.top_k=2"])).expect("cfg");
    let grid = ["student.moe.experts=4,1".to_string()];
    let err = alambic::sweep::SweepDir::create(&dir, &cfg, &grid)
        .err()
        .expect("one expert in cell 1")
        .to_string();
    assert!(err.contains("cell 1 (experts=1)"), "{err}");
    assert!(
        err.contains("`student.moe.experts` = 1 is out of range"),
        "{err}"
    );
}

/// `[student.bottleneck]` keys wrap the student's source in `bottleneck:` (inside `moe:` when
/// both are asked, so the loader says the two do not combine), and 0 leaves it dense.
#[test]
fn bottleneck_keys_wrap_the_source() {
    let sets = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cfg = ExperimentConfig::load(
        Some(tiny()),
        &sets(&[
            "student.bottleneck.inner=64",
            "student.bottleneck.layers=[1,2]",
        ]),
    )
    .expect("cfg");
    assert_eq!(
        cfg.student.source(),
        "bottleneck:scratch:bert-tiny?tokenizer=data/demo/tokenizer.json?inner=64&layers=1,2"
    );
    let both = ExperimentConfig::load(
        Some(tiny()),
        &sets(&["student.bottleneck.inner=64", "student.moe.experts=2"]),
    )
    .expect("cfg");
    let err = alambic::model::load_source(
        &both.student.source(),
        &alambic::model::load::LoadOptions::default(),
        &candle_core::Device::Cpu,
    )
    .err()
    .expect("moe of a bottleneck")
    .to_string();
    assert!(
        err.contains("already a Mixture of Experts or a bottleneck"),
        "{err}"
    );
    let err = ExperimentConfig::load(Some(tiny()), &sets(&["student.bottleneck.iner=64"]))
        .expect_err("typo")
        .to_string();
    assert!(err.contains("iner"), "{err}");
}

/// `[student.embeddings]` keys wrap the student's source in `prune:` then `factor:`, outside
/// the layer rewrites; the defaults leave it as it is.
#[test]
fn embedding_keys_wrap_the_source() {
    let sets = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let load = |s: &[&str]| ExperimentConfig::load(Some(tiny()), &sets(s)).expect("cfg");
    let base = "scratch:bert-tiny?tokenizer=data/demo/tokenizer.json";
    assert_eq!(load(&[]).student.source(), base);
    assert!(!load(&[]).student.rewrites());
    let cfg = load(&[
        "student.embeddings.prune=true",
        "student.embeddings.min_count=3",
        "student.embeddings.size=64",
        "student.moe.experts=2",
    ]);
    assert_eq!(
        cfg.student.source(),
        format!("factor:prune:moe:{base}?experts=2&top_k=1&init=upcycle?min_count=3?size=64")
    );
    assert!(cfg.student.rewrites());
    assert_eq!(
        load(&["student.embeddings.size=32"]).student.source(),
        format!("factor:{base}?size=32")
    );
    let err = ExperimentConfig::load(Some(tiny()), &sets(&["student.embeddings.sise=64"]))
        .expect_err("typo")
        .to_string();
    assert!(err.contains("sise"), "{err}");
}

/// `DataConfig::default()` (what a `[dataset]` without a key falls back to through serde, and
/// what the library's callers start from) and `defaults.toml`'s `[dataset]` (what every command
/// reads) must be the same settings.
#[test]
fn the_dataset_defaults_are_the_same_with_and_without_a_config() {
    let from_toml = ExperimentConfig::load(None, &[]).expect("defaults").dataset;
    assert_eq!(
        from_toml,
        alambic::data::DataConfig {
            file: from_toml.file.clone(),
            ..alambic::data::DataConfig::default()
        }
    );
}
