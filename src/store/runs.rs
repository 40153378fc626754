//! Listing run folders with their status: running, finished, failed, stopped (resumable), or
//! dead (the process is gone without a final event).

use super::events::{TrainEvent, read_events};
use super::run_dir::{RunInfo, read_info};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Finished,
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM, a stop request) after saving a checkpoint: resumable.
    Stopped,
    Dead,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunListing {
    pub path: PathBuf,
    pub info: RunInfo,
    pub status: Status,
    pub best: Option<f64>,
    pub steps: u64,
}

pub fn pid_alive(pid: u32) -> bool {
    // Linux: a live process (or zombie) has a /proc entry; a zombie counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

pub fn status_of(path: &Path) -> Option<RunListing> {
    let info = read_info(path)?;
    let events = read_events(&path.join("events.jsonl")).unwrap_or_default();
    let mut status = None;
    let mut steps = 0;
    for e in &events {
        match e {
            TrainEvent::Finished { .. } => status = Some(Status::Finished),
            TrainEvent::Failed { .. } => status = Some(Status::Failed),
            TrainEvent::Started { .. } => status = None,
            TrainEvent::Step { step, .. } => steps = *step,
            TrainEvent::Checkpoint { kind, .. } if kind == "interrupted" => {
                status = Some(Status::Stopped)
            }
            _ => {}
        }
    }
    let status = status.unwrap_or(if pid_alive(info.pid) && info.pid != 0 {
        Status::Running
    } else {
        Status::Dead
    });
    let best = std::fs::read_to_string(path.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["best_valid_macro_f1"].as_f64());
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
