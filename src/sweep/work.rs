//! A sweep worker: prepares the teacher once, then claims cells one at a time and runs each as
//! an ordinary distillation run folder, until none is left. Any number of workers (threads of
//! one `--parallel` process, other processes, other machines on a shared filesystem) may work
//! on one sweep; the claims keep them apart. The last worker to see every cell done scores the
//! best cell on test and writes `summary.json`.

use super::SweepError;
use super::cells::{self, CellEvent, CellState};
use super::claim::{Attempt, try_claim};
use super::folder::{CellRun, SweepDir, cell_name};
use super::spec::Cell;
use super::summary;
use crate::distill::teacher::{TeacherPass, prepare};
use crate::pretrain::PretrainOutcome;
use crate::store::{EventSink, RunDir};
use crate::train::Outcome;
use crate::train::checkpoint;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Makes the event sink of one cell's run (the CLI prints, tests collect).
pub type SinkFactory<'a> = dyn Fn(&Cell) -> Box<dyn EventSink> + Sync + 'a;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct WorkReport {
    /// Cells this worker ran to the end (finished or failed).
    pub ran: Vec<usize>,
    /// Whether it stopped on request (Ctrl-C) with work left.
    pub interrupted: bool,
}

/// Prepares the teacher once for the whole sweep (under its lock; later workers find it done)
/// and records how long that took in `teacher.json`.
pub fn prepare_teacher(
    sweep: &SweepDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<Option<TeacherPass>, SweepError> {
    prepare_teacher_on(sweep, sink, stop, &Placement::default())
}

/// [`prepare_teacher`] on the placement's device (this process's `--device`).
pub fn prepare_teacher_on(
    sweep: &SweepDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    placement: &Placement,
) -> Result<Option<TeacherPass>, SweepError> {
    let Some(first) = sweep.spec.cells.first() else {
        return Ok(None);
    };
    // A corpus run has no teacher to fine-tune (general distillation's is a pretrained model).
    if sweep.runs.on_corpus() {
        return Ok(None);
    }
    let mut cfg = sweep.config(first)?;
    cfg.device = placement.device(cfg.device);
    let out = sweep.path.join("cells");
    match prepare(&cfg, &out, sink, stop)? {
        Ok(pass) => {
            // The first pass (a cache miss) is the one worth keeping.
            if TeacherPass::read(&sweep.path).is_err() || !pass.cache_hit {
                pass.write(&sweep.path)
                    .map_err(|e| SweepError::Invalid(e.to_string()))?;
            }
            Ok(Some(pass))
        }
        Err(_) => Ok(None),
    }
}

/// Runs cells until none is left to claim. `only`: just these cells (a Slurm task runs one;
/// `alambic sweep --cells` the part of a grid that fits the time at hand), the others stay
/// pending for a later worker.
pub fn work(
    sweep: &SweepDir,
    only: Option<&[usize]>,
    sinks: &SinkFactory,
    stop: &AtomicBool,
    placement: &Placement,
) -> Result<WorkReport, SweepError> {
    let mut report = WorkReport::default();
    let log = sweep.cells_log();
    let count = sweep.spec.cells.len();
    if let Some(missing) = only.and_then(|wanted| wanted.iter().find(|&&i| i >= count)) {
        return Err(SweepError::Invalid(format!(
            "the sweep has {count} cells (0..{}); there is no cell {missing}",
            count.saturating_sub(1)
        )));
    }
    let chosen: Vec<&Cell> = sweep
        .spec
        .cells
        .iter()
        .filter(|c| only.is_none_or(|wanted| wanted.contains(&c.index)))
        .collect();
    for cell in chosen {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            break;
        }
        if done(&log, cell.index) {
            continue;
        }
        let name = cell_name(cell.index);
        let (claim, previous) = match try_claim(&sweep.claims(), &name, sweep.spec.stale_after)? {
            Attempt::Claimed(c) => (c, None),
            Attempt::TakenOver(c, prev) => (c, Some(prev)),
            Attempt::Held(_) => continue,
        };
        // Another worker may have finished it between our look and our claim.
        if done(&log, cell.index) {
            continue;
        }
        let label = cell.label();
        if let Some(prev) = previous {
            let mut e = CellEvent::new(cell.index, CellState::TakenOver, &label);
            e.previous = prev;
            cells::append(&log, &e)?;
        }
        cells::append(
            &log,
            &CellEvent::new(cell.index, CellState::Running, &label),
        )?;
        let mut sink = sinks(cell);
        let result = run_cell(sweep, cell, sink.as_mut(), stop, placement);
        let mut event = CellEvent::new(cell.index, CellState::Finished, &label);
        match result {
            Ok(CellEnd::Finished { objective }) => {
                event.objective = objective;
                report.ran.push(cell.index);
            }
            Ok(CellEnd::Interrupted) => {
                event.state = CellState::Stopped;
                cells::append(&log, &event)?;
                report.interrupted = true;
                drop(claim);
                break;
            }
            Err(e) => {
                event.state = CellState::Failed;
                event.error = Some(e.to_string());
                report.ran.push(cell.index);
            }
        }
        cells::append(&log, &event)?;
        drop(claim);
    }
    if !report.interrupted {
        summary::finish_if_complete(sweep)?;
    }
    Ok(report)
}

fn done(log: &Path, index: usize) -> bool {
    cells::latest(&cells::read(log))
        .get(&index)
        .is_some_and(|e| matches!(e.state, CellState::Finished | CellState::Failed))
}

/// Where a worker's cells compute: worker `k` of a `--parallel` sweep takes the k-th GPU
/// after the configured (or overriding) one, so N workers fill N GPUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement {
    /// This process's `--device`, over the sweep's own.
    pub device: Option<crate::train::device::DeviceSpec>,
    pub worker: usize,
}

impl Placement {
    pub fn device(
        &self,
        configured: crate::train::device::DeviceSpec,
    ) -> crate::train::device::DeviceSpec {
        self.device.unwrap_or(configured).for_worker(self.worker)
    }
}

/// How a cell's run ended.
enum CellEnd {
    /// With the sweep's objective read from its summary (none when the path names nothing).
    Finished {
        objective: Option<f64>,
    },
    Interrupted,
}

/// One cell's run (a distillation, or a run on the corpus): a new run folder, or the existing
/// one resumed from its checkpoint.
fn run_cell(
    sweep: &SweepDir,
    cell: &Cell,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    placement: &Placement,
) -> Result<CellEnd, SweepError> {
    let mut cfg = sweep.config(cell)?;
    cfg.device = placement.device(cfg.device);
    let dir = sweep.cell_dir(cell.index);
    let role = sweep.runs.role();
    let resumable = checkpoint::existing(&dir.join("checkpoints").join("last")).is_some();
    let mut run = if resumable {
        RunDir::open(&dir, role, false)?
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        RunDir::create_at(&dir, role, &cfg.to_toml())?
    };
    let objective = &sweep.spec.objective;
    let corpus = |outcome: PretrainOutcome| match outcome {
        PretrainOutcome::Finished(summary) => CellEnd::Finished {
            objective: serde_json::to_value(&summary)
                .ok()
                .and_then(|v| super::summary::lookup(&v, objective)),
        },
        PretrainOutcome::Interrupted { .. } => CellEnd::Interrupted,
    };
    Ok(match sweep.runs {
        CellRun::Distill => match crate::distill::distill(&cfg, &mut run, sink, stop, resumable)? {
            Outcome::Finished(summary) => CellEnd::Finished {
                objective: summary.number(objective),
            },
            Outcome::Interrupted { .. } => CellEnd::Interrupted,
        },
        CellRun::GeneralDistill => corpus(crate::pretrain::general_distill(
            &cfg, &mut run, sink, stop, resumable,
        )?),
        CellRun::Pretrain => corpus(crate::pretrain::pretrain(
            &cfg, &mut run, sink, stop, resumable,
        )?),
    })
}
