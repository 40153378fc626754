//! A run folder: `config.toml`, `events.jsonl` (append-only, flushed per event), `run.json`
//! (pid, host, start, heartbeat), `checkpoints/{last,best}/`, `summary.json` (atomic).

use super::events::{EventSink, TrainEvent};
use super::write_atomic;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub role: String,
    pub pid: u32,
    pub host: String,
    pub started: f64,
    pub heartbeat: f64,
    /// The device the run computes on (`cpu`, `cuda:0`), once it has opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The largest GPU memory the process held, in bytes (GPU runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_memory_bytes: Option<u64>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub struct RunDir {
    pub path: PathBuf,
    pub info: RunInfo,
    events: File,
    last_heartbeat_write: f64,
    /// The first write error with the file it hit, reported once rather than on every event.
    pub write_error: Option<String>,
}

impl RunDir {
    /// A new folder `<time>-<role>-<hash>` under `out`; fails before any training if it
    /// cannot be written.
    pub fn create(out: &Path, role: &str, config_toml: &str) -> std::io::Result<Self> {
        let stamp = now();
        let hash = xxhash_rust::xxh3::xxh3_64(
            format!("{config_toml}{stamp}{}", std::process::id()).as_bytes(),
        );
        let name = format!("{}-{role}-{:06x}", time_label(stamp), hash & 0xff_ffff);
        Self::create_at(&out.join(name), role, config_toml)
    }

    /// A new run folder at `path` (a sweep names its cells' folders itself).
    pub fn create_at(path: &Path, role: &str, config_toml: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(path.join("checkpoints"))?;
        write_atomic(&path.join("config.toml"), config_toml.as_bytes())?;
        Self::open(path, role, true)
    }

    /// Opens an existing run folder to continue it (resume).
    pub fn open(path: &Path, role: &str, fresh: bool) -> std::io::Result<Self> {
        let events = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join("events.jsonl"))?;
        let run_id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = if fresh {
            now()
        } else {
            read_info(path).map_or(now(), |i| i.started)
        };
        let info = RunInfo {
            run_id,
            role: role.to_string(),
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            started,
            heartbeat: now(),
            device: None,
            peak_gpu_memory_bytes: None,
        };
        write_atomic(
            &path.join("run.json"),
            serde_json::to_string_pretty(&info)?.as_bytes(),
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            info,
            events,
            last_heartbeat_write: 0.0,
            write_error: None,
        })
    }

    /// Records the run's device in `run.json` (viewers show it).
    pub fn set_device(&mut self, device: &str) {
        self.info.device = Some(device.to_string());
        self.last_heartbeat_write = 0.0;
        if let Err(e) = self.beat() {
            self.write_error.get_or_insert(format!(
                "cannot write {}: {e}",
                self.path.join("run.json").display()
            ));
        }
    }

    pub fn checkpoint_dir(&self, kind: &str) -> PathBuf {
        self.path.join("checkpoints").join(kind)
    }

    fn beat(&mut self) -> std::io::Result<()> {
        let t = now();
        self.info.heartbeat = t;
        // run.json is rewritten at most once a second: viewers need liveness, not precision.
        if t - self.last_heartbeat_write >= 1.0 {
            self.last_heartbeat_write = t;
            write_atomic(
                &self.path.join("run.json"),
                serde_json::to_string_pretty(&self.info)?.as_bytes(),
            )?;
        }
        Ok(())
    }
}

impl EventSink for RunDir {
    fn emit(&mut self, event: &TrainEvent) {
        let events = self.path.join("events.jsonl");
        let written = serde_json::to_string(event)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                self.events.write_all(format!("{line}\n").as_bytes())?;
                self.events.flush()
            });
        // The first failure is kept with the file it hit (a full disk names its path).
        if let Err(e) = written {
            self.write_error
                .get_or_insert(format!("cannot write {}: {e}", events.display()));
            return;
        }
        if let Err(e) = self.beat() {
            let info = self.path.join("run.json");
            self.write_error
                .get_or_insert(format!("cannot write {}: {e}", info.display()));
        }
    }
}

pub fn read_info(path: &Path) -> Option<RunInfo> {
    serde_json::from_str(&std::fs::read_to_string(path.join("run.json")).ok()?).ok()
}

/// UTC `YYYYMMDD-HHMMSS` without a date library.
pub fn time_label(t: f64) -> String {
    let secs = t as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
