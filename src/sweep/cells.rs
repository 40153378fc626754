//! `cells.jsonl`: the sweep's log, one JSON line per change of a cell's state, appended by
//! every worker (one `write` per line with `O_APPEND`, so lines from several processes do not
//! interleave). A cell's state is its last line; a torn last line is ignored.

use super::claim::ClaimInfo;
use crate::store::run_dir::now;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    Running,
    Finished,
    Failed,
    /// Interrupted with a checkpoint: the next worker resumes it.
    Stopped,
    /// A stale claim was taken over (the cell resumes from its checkpoint).
    TakenOver,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellEvent {
    pub cell: usize,
    pub state: CellState,
    /// `alpha=0.5 temperature=4`.
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The previous owner of a claim taken over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ClaimInfo>,
    pub pid: u32,
    pub host: String,
    pub time: f64,
}

impl CellEvent {
    pub fn new(cell: usize, state: CellState, label: &str) -> Self {
        Self {
            cell,
            state,
            label: label.to_string(),
            objective: None,
            error: None,
            previous: None,
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            time: now(),
        }
    }
}

pub fn append(path: &Path, event: &CellEvent) -> std::io::Result<()> {
    let line = serde_json::to_string(event).map_err(std::io::Error::other)? + "\n";
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(line.as_bytes())
}

pub fn read(path: &Path) -> Vec<CellEvent> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Each cell's latest event.
pub fn latest(events: &[CellEvent]) -> BTreeMap<usize, CellEvent> {
    let mut out = BTreeMap::new();
    for e in events {
        out.insert(e.cell, e.clone());
    }
    out
}
