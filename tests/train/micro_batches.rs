//! Batches of long contracts run in parts within a token budget: where the parts fall, and
//! that a run so split trains like the unsplit one.

use super::runs::{run_tiny, shared_run};
use alambic::store::TrainEvent;
use alambic::train::batches::micro_batches;
use alambic::train::samples::{Sample, Target};

fn sample(windows: usize, len: usize) -> Sample {
    Sample {
        record: 0,
        windows: vec![vec![1; len]; windows],
        spans: vec![(0, 0); windows],
        target: Target::Class(0),
    }
}

#[test]
fn parts_stay_within_the_token_budget_and_never_split_a_contract() {
    let samples = [sample(2, 64), sample(1, 30), sample(4, 64), sample(1, 64)];
    let refs: Vec<&Sample> = samples.iter().collect();
    // 2×64 + 1 window → 3×64 = 192; the third contract would make 7×64 = 448 > 256, and
    // with the fourth 5×64 = 320 > 256.
    assert_eq!(micro_batches(&refs, 256), vec![0..2, 2..3, 3..4]);
    // A contract larger than the budget is a part of its own.
    assert_eq!(micro_batches(&refs, 100), vec![0..1, 1..2, 2..3, 3..4]);
    assert_eq!(micro_batches(&refs, 0), vec![0..4]);
    assert_eq!(micro_batches(&refs, 10_000), vec![0..4]);
}

fn first_loss(events: &[TrainEvent]) -> f64 {
    events
        .iter()
        .find_map(|e| match e {
            TrainEvent::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .expect("a step")
}

#[test]
fn a_run_in_one_contract_parts_takes_the_same_steps_and_the_batch_mean_loss() {
    // max_len 64: every part holds one contract (its windows of 64 already fill the budget).
    let (_, split) = run_tiny("micro-batches", &["train.max_batch_tokens=64"]);
    let (_, whole) = shared_run();
    let steps = |ev: &[TrainEvent]| {
        ev.iter()
            .filter(|e| matches!(e, TrainEvent::Step { .. }))
            .count()
    };
    assert_eq!(steps(&split), steps(whole));
    // The parts' losses are weighted by their share of the batch: the step's loss is the
    // batch mean (≈ ln 8 at initialisation), not a sum over parts. Dropout draws differ
    // between the two runs, so the values agree only closely.
    let (a, b) = (first_loss(&split), first_loss(whole));
    assert!((a - b).abs() < 0.05, "split {a} vs whole {b}");
    assert!(matches!(split.last(), Some(TrainEvent::Finished { .. })));
}
