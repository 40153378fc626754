//! Expanding `[sweep]` into cells: order, `--grid` overrides, the default grid, random trials.

use alambic::sweep::spec::{DEFAULT_GRID, SweepSpec, parse_grid_arg};
use toml::Table;

fn table(text: &str) -> Table {
    toml::from_str(text).expect("toml")
}

#[test]
fn grid_expands_row_major_and_grid_arguments_replace_or_add_axes() {
    let spec = SweepSpec::from_table(
        &table(
            r#"
objective = "valid.accuracy"
[grid]
"distill.alpha" = [0.1, 0.9]
"distill.temperature" = [1, 2, 4]
"#,
        ),
        &[
            "distill.temperature=2,8".into(),
            "train.pooling=max,mean".into(),
        ],
    )
    .expect("spec");
    let labels: Vec<String> = spec.cells.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        [
            "alpha=0.1 temperature=2 pooling=max",
            "alpha=0.1 temperature=2 pooling=mean",
            "alpha=0.1 temperature=8 pooling=max",
            "alpha=0.1 temperature=8 pooling=mean",
            "alpha=0.9 temperature=2 pooling=max",
            "alpha=0.9 temperature=2 pooling=mean",
            "alpha=0.9 temperature=8 pooling=max",
            "alpha=0.9 temperature=8 pooling=mean",
        ]
    );
    assert_eq!(
        spec.cells[5].sets(),
        [
            "distill.alpha=0.9",
            "distill.temperature=2",
            "train.pooling=\"mean\""
        ]
    );
    assert_eq!(spec.objective, "valid.accuracy");
    assert!(spec.maximize);
    assert_eq!(
        spec.cells.iter().map(|c| c.index).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
}

#[test]
fn no_grid_means_alpha_by_temperature_and_mistakes_name_the_key() {
    let spec = SweepSpec::from_table(&Table::new(), &[]).expect("default");
    assert_eq!(spec.cells.len(), 20);
    assert_eq!(spec.axes.len(), DEFAULT_GRID.len());
    assert_eq!(spec.cells[0].label(), "alpha=0.1 temperature=1.0");
    assert_eq!(spec.cells[19].label(), "alpha=0.9 temperature=8.0");
    assert_eq!(spec.objective, "valid.macro_f1");

    let err = |t: &str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        SweepSpec::from_table(&table(t), &args).expect_err(t)
    };
    assert_eq!(
        err("objectif = \"x\"", &[]),
        "sweep.objectif: unknown key (expected one of command, grid, random, objective, direction, stale_after, parallel)"
    );
    assert_eq!(
        err("command = \"pretrian\"", &[]),
        "sweep.command: must be \"distill\" or \"pretrain\""
    );
    assert!(
        err("command = \"pretrain\"", &[]).starts_with(
            "sweep.grid: a sweep on the corpus (pretraining or general distillation) needs a grid"
        ),
        "no default grid for pretraining"
    );
    assert_eq!(
        err("direction = \"up\"", &[]),
        "sweep.direction: must be \"max\" or \"min\""
    );
    assert_eq!(
        err("[grid]\n\"distill.alpha\" = []", &[]),
        "sweep.grid.\"distill.alpha\": must be a non-empty list"
    );
    assert_eq!(
        parse_grid_arg("distill.alpha").expect_err("no ="),
        "--grid distill.alpha: expected KEY=V1,V2,…"
    );
}

#[test]
fn random_trials_are_seeded_and_stay_in_range() {
    let text = r#"
[random]
trials = 6
seed = 3
log = ["train.lr"]
[random.ranges]
"distill.alpha" = [0.0, 1.0]
"train.lr" = [1e-5, 1e-3]
"#;
    let a = SweepSpec::from_table(&table(text), &[]).expect("random");
    let b = SweepSpec::from_table(&table(text), &[]).expect("random");
    assert_eq!(a.cells, b.cells, "the same seed draws the same trials");
    assert_eq!(a.cells.len(), 6);
    for c in &a.cells {
        let alpha = c.values[0].1.as_float().expect("alpha");
        let lr = c.values[1].1.as_float().expect("lr");
        assert!((0.0..=1.0).contains(&alpha), "{alpha}");
        assert!((1e-5..=1e-3).contains(&lr), "{lr}");
    }
    // The resolved table reproduces the same trials (what sweep.toml stores).
    let again = SweepSpec::from_table(&a.to_table(table(text).get("random")), &[]).expect("again");
    assert_eq!(again.cells, a.cells);
}

#[test]
fn grid_keys_may_name_a_stage() {
    use alambic::distill::LossSpec;
    use alambic::sweep::SweepDir;
    use alambic::train::ExperimentConfig;
    let cfg = ExperimentConfig::load(None, &["distill.recipe=tinybert".into()]).expect("cfg");
    let dir = crate::common::scratch_dir("sweep-stage-keys");
    let grid = [
        "distill.stages.prediction.lr=1e-3,2e-3".to_string(),
        "distill.stages.intermediate.hidden_mse=0.5".to_string(),
        "distill.stages.prediction.alpha=0.9".to_string(),
    ];
    let sweep = SweepDir::create(&dir, &cfg, &grid).expect("sweep");
    assert_eq!(sweep.spec.cells.len(), 2);
    let c = sweep.config(&sweep.spec.cells[1]).expect("cell config");
    assert_eq!(c.distill.recipe, alambic::distill::Recipe::Stages);
    let names: Vec<&str> = c.distill.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["intermediate", "prediction"]);
    assert_eq!(c.distill.stages[1].lr, 2e-3);
    assert!(
        c.distill.stages[0]
            .terms
            .contains(&LossSpec::HiddenMse { weight: 0.5 })
    );
    assert_eq!(
        c.distill.stages[1].terms[0],
        LossSpec::Response {
            alpha: Some(0.9),
            temperature: None
        }
    );
    let err = SweepDir::create(&dir, &cfg, &["distill.stages.final.lr=1e-3".to_string()])
        .err()
        .expect("no such stage")
        .to_string();
    assert!(
        err.contains("no stage `final` (stages: intermediate, prediction)"),
        "{err}"
    );
}
