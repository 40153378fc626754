//! The event stream of a run: what the engine reports, one JSON object per line of
//! `events.jsonl` (field `event`), and the sinks that receive it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        run_id: String,
        role: String,
        total_steps: u64,
        resumed_from: Option<u64>,
    },
    Step {
        step: u64,
        epoch: usize,
        /// The stage's name, in multi-stage runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        loss: f64,
        terms: BTreeMap<String, f64>,
        lr: f64,
        samples_per_s: f64,
    },
    Eval {
        step: u64,
        split: String,
        metrics: serde_json::Value,
    },
    /// Mixture-of-Experts models: each mixture layer's (1-based, as a string key) share of
    /// routed tokens per expert, averaged over the steps since the last step event. The key
    /// stays a string: serde cannot read integer map keys inside an internally tagged enum
    /// (tried: every such line was dropped as unreadable), so readers order layers by number.
    ExpertLoad {
        step: u64,
        layers: BTreeMap<String, Vec<f64>>,
    },
    Checkpoint {
        step: u64,
        kind: String,
    },
    /// The teacher's outputs for distillation: read from the cache (`hit`) or computed.
    /// The transfer set joined the training contracts (soft terms only).
    Transfer {
        file: String,
        kept: usize,
        dropped_leaking: usize,
    },
    TeacherCache {
        hit: bool,
        path: String,
        bytes: u64,
        seconds: f64,
    },
    Finished {
        summary: Box<super::schema::RunSummary>,
    },
    /// A pretraining run's end (`alambic pretrain`): its summary, as `pretrain.json`.
    Pretrained {
        summary: Box<super::schema::PretrainSummary>,
    },
    Failed {
        error: String,
    },
    Heartbeat {
        time: f64,
    },
}

/// Where a run's events go: the run folder, a progress printer, a `Vec` in tests.
pub trait EventSink {
    fn emit(&mut self, event: &TrainEvent);
}

#[derive(Default)]
pub struct VecSink(pub Vec<TrainEvent>);

impl EventSink for VecSink {
    fn emit(&mut self, event: &TrainEvent) {
        self.0.push(event.clone());
    }
}

/// Sends every event to each of several sinks.
pub struct Tee<'a>(pub Vec<&'a mut dyn EventSink>);

impl EventSink for Tee<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        for s in self.0.iter_mut() {
            s.emit(event);
        }
    }
}

/// Reads an `events.jsonl`; a torn last line (a process killed mid-write) and any other
/// unreadable line are skipped.
pub fn read_events(path: &std::path::Path) -> std::io::Result<Vec<TrainEvent>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

impl TrainEvent {
    /// The optimizer step an event is about, for step, eval and expert-load events.
    pub fn step(&self) -> Option<u64> {
        match self {
            Self::Step { step, .. } | Self::Eval { step, .. } | Self::ExpertLoad { step, .. } => {
                Some(*step)
            }
            _ => None,
        }
    }

    /// The step a `started` event rewinds the history to: a resumed run continues from its
    /// checkpoint, so steps logged after it by the killed process are replaced; a run started
    /// afresh (a run killed before its first checkpoint) rewinds to 0.
    pub fn rewinds_to(&self) -> Option<u64> {
        match self {
            Self::Started { resumed_from, .. } => Some(resumed_from.unwrap_or(0)),
            _ => None,
        }
    }
}

/// The run's history as it finally happened: at each `started`, step and eval events past the
/// step it rewinds to are dropped, so a resumed run's curves never run backwards or repeat.
pub fn resolve_rewinds(events: Vec<TrainEvent>) -> Vec<TrainEvent> {
    let mut out: Vec<TrainEvent> = Vec::with_capacity(events.len());
    for e in events {
        if let Some(to) = e.rewinds_to() {
            out.retain(|old| old.step().is_none_or(|s| s <= to));
        }
        out.push(e);
    }
    out
}

/// [`read_events`], rewinds resolved: what readers that draw curves use.
pub fn read_history(path: &std::path::Path) -> std::io::Result<Vec<TrainEvent>> {
    read_events(path).map(resolve_rewinds)
}
