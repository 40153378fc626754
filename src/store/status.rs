//! The one rule for a run's state, used by `alambic runs`, the TUI and sweeps alike: the last
//! ending event decides (finished, failed, stopped); a `summary.json` means finished even if the
//! final event line was torn; otherwise the run lives while its process does — checked by pid
//! on this host, by a recent heartbeat for a run on another host (a shared filesystem), where
//! a pid says nothing.

use super::events::TrainEvent;
use super::run_dir::{RunInfo, now};
use serde::Serialize;
use std::path::Path;

/// A heartbeat younger than this keeps another host's run alive (runs beat every second or so
/// while they log; evaluation of a large split can take a minute).
pub const REMOTE_HEARTBEAT_S: f64 = 120.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Finished,
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM, a stop request) after saving a checkpoint: resumable.
    Stopped,
    /// The process is gone without a final event: resumable from its last checkpoint.
    Dead,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
            Self::Dead => "dead",
        }
    }

    /// The state an event leaves the run in: `Some` for an ending, `None` for a (re)start.
    pub fn after(event: &TrainEvent, current: Option<Status>) -> Option<Status> {
        match event {
            TrainEvent::Finished { .. } | TrainEvent::Pretrained { .. } => Some(Self::Finished),
            TrainEvent::Failed { .. } => Some(Self::Failed),
            TrainEvent::Checkpoint { kind, .. } if kind == "interrupted" => Some(Self::Stopped),
            TrainEvent::Started { .. } => None,
            _ => current,
        }
    }
}

pub fn local_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
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

/// Whether the process that wrote `info` is still at work.
pub fn process_alive(info: &RunInfo) -> bool {
    if info.host == local_host() {
        info.pid != 0 && pid_alive(info.pid)
    } else {
        now() - info.heartbeat < REMOTE_HEARTBEAT_S
    }
}

/// The run's state from its last ending event (`ended`, from [`Status::after`] over its
/// events), its folder and its `run.json`.
pub fn decide(run: &Path, ended: Option<Status>, info: Option<&RunInfo>) -> Status {
    if let Some(s) = ended {
        return s;
    }
    if run.join("summary.json").is_file() || run.join(super::schema::PRETRAIN_FILE).is_file() {
        return Status::Finished;
    }
    match info {
        Some(i) if process_alive(i) => Status::Running,
        _ => Status::Dead,
    }
}
