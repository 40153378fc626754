//! Listing run folders with their status: running, finished, failed, stopped (resumable), or
//! dead (the process is gone without a final event).

use super::events::{TrainEvent, read_history};
use super::run_dir::{RunInfo, read_info};
pub use super::status::{Status, pid_alive};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
pub struct RunListing {
    pub path: PathBuf,
    pub info: RunInfo,
    pub status: Status,
    pub best: Option<f64>,
    pub steps: u64,
}

pub fn status_of(path: &Path) -> Option<RunListing> {
    let info = read_info(path)?;
    let events = read_history(&path.join("events.jsonl")).unwrap_or_default();
    let mut ended = None;
    let mut steps = 0;
    for e in &events {
        ended = Status::after(e, ended);
        if let TrainEvent::Step { step, .. } = e {
            steps = *step;
        }
    }
    let status = super::status::decide(path, ended, Some(&info));
    let best = super::schema::RunSummary::read(path)
        .ok()
        .and_then(|s| s.best_valid_macro_f1);
    Some(RunListing {
        path: path.to_path_buf(),
        info,
        status,
        best,
        steps,
    })
}

/// Every run folder directly under `dir`, newest first.
pub fn list(dir: &Path) -> std::io::Result<Vec<RunListing>> {
    let mut out: Vec<RunListing> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| status_of(&e.path()))
        .collect();
    out.sort_by(|a, b| b.info.started.total_cmp(&a.info.started));
    Ok(out)
}
