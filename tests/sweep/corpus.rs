//! Sweeps of runs on the unlabelled corpus: pretraining cells judged by their held-out loss
//! (lower is better), no teacher prepared, no test split; general distillation without a grid
//! refused.

use crate::common::{fixture, scratch_dir, summary};
use crate::pretrain::runs::{config, corpus};
use alambic::store::schema::PretrainSummary;
use alambic::store::{EventSink, VecSink};
use alambic::sweep::summary::status;
use alambic::sweep::{Cell, CellRun, Placement, SweepDir, prepare_teacher, work};
use std::sync::atomic::AtomicBool;

fn quiet(_: &Cell) -> Box<dyn EventSink> {
    Box::new(VecSink::default())
}

#[test]
fn a_pretraining_sweep_picks_the_cell_with_the_lowest_held_out_loss() {
    let dir = scratch_dir("sweep-pretrain");
    let mut cfg = config(&corpus(&dir));
    cfg.train.max_steps = 2;
    cfg.train.epochs = 1;
    cfg.sweep.insert("command".into(), "pretrain".into());
    let grid = ["train.lr=1e-5,1e-3".to_string()];
    let sweep = SweepDir::create(&dir.join("sweeps"), &cfg, &grid).expect("sweep");
    assert_eq!(sweep.runs, CellRun::Pretrain);
    assert_eq!(
        (sweep.spec.objective.as_str(), sweep.spec.maximize),
        ("best.loss", false)
    );
    let stop = AtomicBool::new(false);
    let pass = prepare_teacher(&sweep, &mut VecSink::default(), &stop).expect("teacher");
    assert!(pass.is_none(), "a pretraining sweep fine-tunes no teacher");
    let report = work(&sweep, None, &quiet, &stop, &Placement::default()).expect("work");
    assert_eq!(report.ran, [0, 1]);
    let losses: Vec<f64> = (0..2)
        .map(|i| {
            PretrainSummary::read(&sweep.cell_dir(i))
                .expect("a pretraining cell")
                .best
                .loss
        })
        .collect();
    let s = status(&sweep);
    let objectives: Vec<Option<f64>> = s.cells.iter().map(|c| c.objective).collect();
    assert_eq!(objectives, [Some(losses[0]), Some(losses[1])]);
    let lowest = if losses[0] <= losses[1] { 0 } else { 1 };
    assert_eq!(s.best, Some(lowest), "{losses:?}");
    let summary = summary(&sweep.path);
    assert_eq!(summary["direction"], "min");
    assert_eq!(summary["best"]["cell"].as_u64(), Some(lowest as u64));
    assert_eq!(
        summary["best"]["held_out"]["loss"].as_f64(),
        Some(losses[lowest])
    );
    assert!(summary["best"]["test"].is_null(), "{summary}");
    assert!(
        !sweep.path.join("cells/.teachers").exists(),
        "no teacher was trained"
    );
    // The report names its best cell by the held-out loss, not by a test score it lacks.
    let report = alambic::report::collect(std::slice::from_ref(&sweep.path)).expect("report");
    let html = alambic::report::html::render(&report, "sweep");
    let expected = format!("held-out {:.4}", losses[lowest]);
    assert!(html.contains(&expected), "{expected} not in the report");
    assert!(html.contains("no test split"));
    // Reopened from its folder, the sweep still knows what its cells run.
    let again = SweepDir::open(&sweep.path).expect("open");
    assert_eq!(again.runs, CellRun::Pretrain);
    assert!(!again.spec.maximize);
}

#[test]
fn a_general_distillation_sweep_needs_a_grid_and_minimises_its_loss() {
    let dir = scratch_dir("sweep-general");
    let mut cfg = config(&corpus(&dir));
    let tok = fixture("tiny-bert").display().to_string();
    cfg.student.model = format!("scratch:bert-tiny?tokenizer={tok}&heads=4");
    cfg.distill.recipe = alambic::distill::Recipe::General;
    let err = SweepDir::create(&dir.join("a"), &cfg, &[])
        .err()
        .expect("no grid refused")
        .to_string();
    assert!(err.contains("sweep.grid"), "{err}");
    let grid = ["distill.hidden_mse=0.5,1".to_string()];
    let sweep = SweepDir::create(&dir.join("b"), &cfg, &grid).expect("sweep");
    assert_eq!(sweep.runs, CellRun::GeneralDistill);
    assert_eq!(
        (sweep.spec.objective.as_str(), sweep.spec.maximize),
        ("best.loss", false)
    );
}
