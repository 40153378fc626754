//! Validation during training and the final report: the best checkpoint scored on validation
//! (choosing the binary threshold there) and on test, with bootstrap intervals.

use super::TrainError;
use super::checkpoint::{self, TrainState};
use super::config::ExperimentConfig;
use super::evaluate::{Pooling, Scores, argmax, predict, score};
use super::samples::Target;
use super::trainer::{Data, emit};
use crate::data::Task;
use crate::eval::best_threshold;
use crate::model::Classifier;
use crate::store::schema::{Agreement, Prediction, Predictions, RunSummary, SCHEMA, SplitSizes};
use crate::store::{EventSink, RunDir, TrainEvent};
use serde_json::json;

/// Validation macro-F1; returns whether it is the best so far.
pub(crate) fn validate(
    model: &Classifier,
    data: &Data,
    cfg: &ExperimentConfig,
    pooling: Pooling,
    state: &mut TrainState,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
) -> Result<bool, TrainError> {
    if data.valid.is_empty() {
        return Ok(true);
    }
    let probs = predict(
        model,
        &data.valid,
        data.ds.task,
        cfg.train.batch_size,
        pooling,
    )?;
    let scores = score(
        &data.valid,
        &probs,
        &data.ds.classes,
        data.ds.task,
        None,
        false,
    );
    let f1 = scores.metrics.macro_f1;
    let mut metrics = serde_json::to_value(&scores).unwrap_or_default();
    if let Some(loss) = label_loss(&data.valid, &probs) {
        metrics["loss"] = json!(loss);
    }
    emit(
        run,
        sink,
        &TrainEvent::Eval {
            step: state.step,
            split: "valid".into(),
            metrics,
        },
    );
    let improved = state.best_macro_f1.is_none_or(|b| f1 > b);
    if improved {
        state.best_macro_f1 = Some(f1);
        state.best_step = state.step;
        state.stale_evals = 0;
    } else {
        state.stale_evals += 1;
    }
    Ok(improved)
}

/// Test metrics for the best checkpoint only, with bootstrap intervals. The binary threshold
/// is chosen on validation unless one is given (`quantize` keeps the threshold of the run it
/// quantises: the same model, the same calibration).
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    last: &Classifier,
    data: &Data,
    cfg: &ExperimentConfig,
    role: &str,
    pooling: Pooling,
    state: &TrainState,
    run: &RunDir,
    fixed_threshold: Option<f64>,
) -> Result<RunSummary, TrainError> {
    let best_dir = checkpoint::existing(&run.checkpoint_dir("best"));
    let best = match &best_dir {
        Some(dir) => Some(checkpoint::load_model(dir, cfg.train.seed, last.device())?.0),
        None => None,
    };
    let model = best.as_ref().unwrap_or(last);
    let task = data.ds.task;
    let valid_probs = predict(model, &data.valid, task, cfg.train.batch_size, pooling)?;
    let chosen = fixed_threshold.filter(|_| task == Task::Binary);
    let threshold = chosen.or_else(|| {
        (task == Task::Binary && !data.valid.is_empty()).then(|| {
            let s: Vec<f64> = valid_probs
                .iter()
                .map(|p| p.get(1).copied().unwrap_or(0.0) as f64)
                .collect();
            let pos: Vec<bool> = data
                .valid
                .iter()
                .map(|x| x.target == Target::Class(1))
                .collect();
            best_threshold(&s, &pos)
        })
    });
    let valid: Scores = score(
        &data.valid,
        &valid_probs,
        &data.ds.classes,
        task,
        threshold,
        false,
    );
    let clock = std::time::Instant::now();
    let (test, test_probs) = if cfg.train.test {
        let probs = predict(model, &data.test, task, cfg.train.batch_size, pooling)?;
        let scores = score(&data.test, &probs, &data.ds.classes, task, threshold, true);
        (Some(scores), probs)
    } else {
        (None, Vec::new())
    };
    let info = crate::model::info::info(model, &Default::default());
    let counts = info.parameters;
    let active_parameters = info
        .moe
        .as_ref()
        .map(|_| (counts.total - counts.encoder + info.active.encoder_parameters) as u64);
    // Inference time per contract on the test split (all windows, batched): the speed column
    // of the teacher-vs-student comparison.
    let latency_ms = (!data.test.is_empty() && cfg.train.test)
        .then(|| clock.elapsed().as_secs_f64() * 1e3 / data.test.len() as f64);
    write_predictions(
        data,
        &[
            ("valid", &data.valid, &valid_probs),
            ("test", &data.test, &test_probs),
        ],
        threshold,
        run,
    )?;
    let model_source = if role == "teacher" {
        cfg.teacher.source()
    } else {
        cfg.student.source()
    };
    let teacher_agreement = data.teacher_votes.as_ref().map(|votes| Agreement {
        valid: agreement(&data.valid, &valid_probs, votes, threshold),
        test: test
            .as_ref()
            .and_then(|_| agreement(&data.test, &test_probs, votes, threshold)),
    });
    let summary = RunSummary {
        schema: SCHEMA,
        run_id: run.info.run_id.clone(),
        role: role.to_string(),
        model: model_source.clone(),
        task,
        classes: data.ds.classes.clone(),
        parameters: counts.total as u64,
        active_parameters,
        size_mb: Some(info.size_mb),
        latency_ms_per_contract: latency_ms,
        steps: state.step,
        best_step: state.best_step,
        best_valid_macro_f1: state.best_macro_f1,
        train_seconds: state.train_seconds,
        contracts: SplitSizes {
            train: data.train.len(),
            valid: data.valid.len(),
            test: data.test.len(),
        },
        valid,
        test,
        teacher_agreement,
    };
    Ok(summary)
}

/// A split's name, its samples and their predicted probabilities.
type ScoredSplit<'a> = (&'a str, &'a [super::samples::Sample], &'a Vec<Vec<f32>>);

/// `predictions.json`: per split, each scored contract's predicted (`p`) and true (`t`) class
/// by id, so views can join a teacher's and a student's verdicts contract by contract.
fn write_predictions(
    data: &Data,
    splits: &[ScoredSplit],
    threshold: Option<f64>,
    run: &RunDir,
) -> Result<(), TrainError> {
    if data.ds.task == Task::Multilabel {
        return Ok(());
    }
    let mut out = Predictions {
        schema: SCHEMA,
        ..Predictions::default()
    };
    for (name, samples, probs) in splits {
        let verdicts = samples
            .iter()
            .zip(probs.iter())
            .map(|(s, p)| {
                let t = match &s.target {
                    Target::Class(c) => Some(*c),
                    _ => None,
                };
                let id = data.ds.records[s.record].id.clone();
                (
                    id,
                    Prediction {
                        p: verdict(p, threshold),
                        t,
                    },
                )
            })
            .collect();
        out.splits.insert((*name).to_string(), verdicts);
    }
    Ok(out.write(&run.path)?)
}

/// The validation loss the curves show: mean cross-entropy of the contracts' pooled
/// probabilities (binary cross-entropy per label for multi-label tasks); `None` without targets.
fn label_loss(samples: &[super::samples::Sample], probs: &[Vec<f32>]) -> Option<f64> {
    let eps = 1e-7f64;
    let losses: Vec<f64> = samples
        .iter()
        .zip(probs)
        .filter_map(|(s, p)| match &s.target {
            Target::Class(c) => Some(-(p.get(*c).copied().unwrap_or(0.0) as f64).max(eps).ln()),
            Target::Labels(y) => {
                let n = y.len().max(1) as f64;
                Some(
                    y.iter()
                        .zip(p)
                        .map(|(&y, &q)| {
                            let q = (q as f64).clamp(eps, 1.0 - eps);
                            -(y as f64 * q.ln() + (1.0 - y as f64) * (1.0 - q).ln())
                        })
                        .sum::<f64>()
                        / n,
                )
            }
            Target::Unlabeled => None,
        })
        .collect();
    (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64)
}

/// A verdict: the class over the binary threshold, else the most probable class.
pub(crate) fn verdict(p: &[f32], threshold: Option<f64>) -> usize {
    match threshold {
        Some(t) => usize::from(p.get(1).copied().unwrap_or(0.0) as f64 >= t),
        None => argmax(p),
    }
}

/// The share of contracts on which the model's verdict (at its own threshold) is the
/// teacher's (at the teacher's).
fn agreement(
    samples: &[super::samples::Sample],
    probs: &[Vec<f32>],
    votes: &std::collections::HashMap<usize, usize>,
    threshold: Option<f64>,
) -> Option<f64> {
    let pairs: Vec<(usize, usize)> = samples
        .iter()
        .zip(probs)
        .filter_map(|(s, p)| Some((votes.get(&s.record).copied()?, verdict(p, threshold))))
        .collect();
    crate::eval::agreement(&pairs)
}
