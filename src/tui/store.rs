//! What the TUI knows about a run: it follows the run folder (tails `events.jsonl` from the
//! last byte read, reads `run.json` for liveness and `summary.json` once finished), so it works
//! the same for runs it started, runs started by hand, and runs on this machine reached over
//! SSH. Series are bounded: past `cap` points they are halved (pairs averaged), so a run with
//! 100,000 steps costs a few thousand points, and the whole history stays drawable.

use crate::store::TrainEvent;
use crate::store::run_dir::{RunInfo, read_info};
use crate::store::schema::{Predictions, RunSummary};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Points kept per series before halving.
pub const SERIES_CAP: usize = 2048;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn push(&mut self, x: f64, y: f64) {
        if !y.is_finite() {
            return;
        }
        self.points.push((x, y));
        if self.points.len() > SERIES_CAP {
            self.points = self
                .points
                .chunks(2)
                .map(|c| {
                    let n = c.len() as f64;
                    (
                        c.iter().map(|p| p.0).sum::<f64>() / n,
                        c.iter().map(|p| p.1).sum::<f64>() / n,
                    )
                })
                .collect();
        }
    }

    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }

    /// Drops the points past `x` (a resumed run rewinds to its checkpoint's step).
    pub fn truncate_after(&mut self, x: f64) {
        let keep = self.points.partition_point(|p| p.0 <= x);
        self.points.truncate(keep);
    }

    /// The points with x ≥ `from`.
    pub fn since(&self, from: f64) -> &[(f64, f64)] {
        let i = self.points.partition_point(|p| p.0 < from);
        &self.points[i..]
    }
}

/// The run's state: the store's one rule (`store::status`).
pub use crate::store::status::Status as RunState;

#[derive(Clone, Debug)]
pub struct RunView {
    pub path: PathBuf,
    pub info: Option<RunInfo>,
    pub role: String,
    /// From the events; `None` while running.
    pub ended: Option<RunState>,
    pub error: Option<String>,
    pub total_steps: u64,
    pub step: u64,
    pub epoch: usize,
    pub stage: Option<String>,
    pub samples_per_s: f64,
    pub loss: Series,
    pub terms: BTreeMap<String, Series>,
    pub lr: Series,
    pub valid_f1: Series,
    pub valid_accuracy: Series,
    pub valid_loss: Series,
    /// A Mixture-of-Experts run's latest share of tokens per expert, by layer (1-based).
    pub expert_load: BTreeMap<String, Vec<f64>>,
    pub summary: Option<RunSummary>,
    pub predictions: Option<Predictions>,
    pub events_read: u64,
    offset: u64,
    partial: Vec<u8>,
}

impl RunView {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            info: None,
            role: String::new(),
            ended: None,
            error: None,
            total_steps: 0,
            step: 0,
            epoch: 0,
            stage: None,
            samples_per_s: 0.0,
            loss: Series::default(),
            terms: BTreeMap::new(),
            lr: Series::default(),
            valid_f1: Series::default(),
            valid_accuracy: Series::default(),
            valid_loss: Series::default(),
            expert_load: BTreeMap::new(),
            summary: None,
            predictions: None,
            events_read: 0,
            offset: 0,
            partial: Vec::new(),
        }
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn ingest(&mut self, event: &TrainEvent) {
        self.events_read += 1;
        match event {
            TrainEvent::Started {
                role, total_steps, ..
            } => {
                self.role = role.clone();
                self.total_steps = *total_steps;
                self.rewind(event.rewinds_to().unwrap_or(0) as f64);
            }
            TrainEvent::Step {
                step,
                epoch,
                stage,
                loss,
                terms,
                lr,
                samples_per_s,
            } => {
                let x = *step as f64;
                self.step = *step;
                self.epoch = *epoch;
                self.stage = stage.clone();
                self.samples_per_s = *samples_per_s;
                self.loss.push(x, *loss);
                self.lr.push(x, *lr);
                for (name, v) in terms {
                    self.terms.entry(name.clone()).or_default().push(x, *v);
                }
            }
            TrainEvent::Eval {
                step,
                split,
                metrics,
            } if split == "valid" => {
                let x = *step as f64;
                if let Some(f1) = metrics["macro_f1"].as_f64() {
                    self.valid_f1.push(x, f1);
                }
                // A pretraining run's masked-token accuracy takes the accuracy curve.
                let accuracy = metrics["accuracy"].as_f64();
                if let Some(a) = accuracy.or(metrics["masked_accuracy"].as_f64()) {
                    self.valid_accuracy.push(x, a);
                }
                if let Some(l) = metrics["loss"].as_f64() {
                    self.valid_loss.push(x, l);
                }
            }
            TrainEvent::ExpertLoad { layers, .. } => {
                self.expert_load = layers.clone();
            }
            TrainEvent::Finished { summary } => {
                self.summary = Some((**summary).clone());
            }
            TrainEvent::Failed { error } => {
                self.error = Some(error.clone());
            }
            _ => {}
        }
        self.ended = RunState::after(event, self.ended);
    }

    /// Steps past `x` were redone by a resumed run: their points go.
    fn rewind(&mut self, x: f64) {
        for s in [
            &mut self.loss,
            &mut self.lr,
            &mut self.valid_f1,
            &mut self.valid_accuracy,
            &mut self.valid_loss,
        ] {
            s.truncate_after(x);
        }
        for s in self.terms.values_mut() {
            s.truncate_after(x);
        }
    }

    /// Reads what was appended since the last poll; true if anything changed.
    pub fn poll(&mut self) -> bool {
        self.info = read_info(&self.path);
        if self.role.is_empty()
            && let Some(info) = &self.info
        {
            self.role = info.role.clone();
        }
        let Ok(mut file) = std::fs::File::open(self.path.join("events.jsonl")) else {
            return false;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        // In chunks, so following a long history never holds all of it in memory at once.
        let mut chunk = vec![0u8; 1 << 20];
        let mut changed = false;
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            self.partial.extend_from_slice(&chunk[..n]);
            // Only complete lines: a line being written stays for the next read.
            let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let rest = self.partial.split_off(end + 1);
            let lines = std::mem::replace(&mut self.partial, rest);
            for line in lines.split(|&b| b == b'\n') {
                if let Ok(event) = serde_json::from_slice::<TrainEvent>(line) {
                    self.ingest(&event);
                    changed = true;
                }
            }
        }
        changed |= self.read_results();
        changed
    }

    /// `summary.json` (also when the final event line was torn) and `predictions.json`, once.
    fn read_results(&mut self) -> bool {
        let mut changed = false;
        if self.summary.is_none()
            && let Ok(s) = RunSummary::read(&self.path)
        {
            self.summary = Some(s);
            changed = true;
        }
        if self.summary.is_some() && self.predictions.is_none() {
            self.predictions = Predictions::read(&self.path).ok();
            changed |= self.predictions.is_some();
        }
        changed
    }

    pub fn state(&self) -> RunState {
        crate::store::status::decide(&self.path, self.ended, self.info.as_ref())
    }

    /// Seconds left at the recent pace, while running.
    pub fn eta_seconds(&self) -> Option<f64> {
        let info = self.info.as_ref()?;
        if self.step == 0 || self.total_steps <= self.step || self.state() != RunState::Running {
            return None;
        }
        let elapsed = info.heartbeat - info.started;
        Some(elapsed / self.step as f64 * (self.total_steps - self.step) as f64)
    }

    pub fn summary_number(&self, path: &str) -> Option<f64> {
        self.summary.as_ref()?.number(path)
    }
}
