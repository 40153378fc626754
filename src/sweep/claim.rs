//! Claiming a cell so that no two workers (threads, processes, or machines sharing the sweep
//! folder) run it at once.
//!
//! A claim is `claims/<name>.lock`, holding its owner (pid, host) and a heartbeat. It appears
//! atomically: written and `flock`ed under a temporary name, then hard-linked into place, which
//! fails if the name exists (the O_EXCL of link). The owner keeps the `flock` while it works
//! and rewrites the heartbeat every few seconds. A claim is stale when nobody holds its lock (the
//! kernel drops it with the process) and its heartbeat is older than `stale_after`; a worker
//! that finds a stale claim takes the lock, rewrites the owner and says so (the takeover is
//! logged by the caller).

use crate::store::run_dir::now;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimInfo {
    pub pid: u32,
    pub host: String,
    pub claimed: f64,
    pub heartbeat: f64,
}

impl ClaimInfo {
    fn mine() -> Self {
        let t = now();
        Self {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            claimed: t,
            heartbeat: t,
        }
    }
}

/// A held claim: released (the lock dropped) when it goes out of scope.
pub struct Claim {
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    beat: Option<JoinHandle<()>>,
    file: File,
    info: ClaimInfo,
}

impl Drop for Claim {
    /// A claim let go in good order is marked released (heartbeat 0), so the cell can be
    /// claimed again at once (an interrupted cell resumes); only a crashed owner's claim has
    /// to wait out `stale_after`.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(beat) = self.beat.take() {
            let _ = beat.join();
        }
        self.info.heartbeat = 0.0;
        let _ = write_info(&mut self.file, &self.info);
    }
}

pub enum Attempt {
    Claimed(Claim),
    /// Someone else holds it (their claim).
    Held(Option<ClaimInfo>),
    /// It was stale; now it is ours. The previous owner, for the log.
    TakenOver(Claim, Option<ClaimInfo>),
}

fn write_info(file: &mut File, info: &ClaimInfo) -> std::io::Result<()> {
    let text = serde_json::to_string(info).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

fn read_info(file: &mut File) -> Option<ClaimInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl Claim {
    fn start(file: File, path: PathBuf, info: ClaimInfo, every: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut beat_file = file.try_clone()?;
        let flag = stop.clone();
        let mut beating = info.clone();
        let beat = std::thread::spawn(move || {
            let info = &mut beating;
            let tick = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= every {
                    waited = Duration::ZERO;
                    info.heartbeat = now();
                    let _ = write_info(&mut beat_file, info);
                }
            }
        });
        Ok(Self {
            path,
            stop,
            beat: Some(beat),
            file,
            info,
        })
    }
}

/// Tries to claim `name` in `dir`.
pub fn try_claim(dir: &Path, name: &str, stale_after: f64) -> std::io::Result<Attempt> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.lock"));
    // Heartbeats well inside the stale window.
    let every = Duration::from_secs_f64((stale_after / 4.0).clamp(0.2, 30.0));
    let info = ClaimInfo::mine();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        info.pid,
        xxhash_rust::xxh3::xxh3_64(
            format!("{:?}{}", std::thread::current().id(), now()).as_bytes()
        )
    ));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    write_info(&mut file, &info)?;
    file.lock()?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => return Ok(Attempt::Claimed(Claim::start(file, path, info, every)?)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => drop(file),
        Err(e) => return Err(e),
    }
    let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Attempt::Held(read_info(&mut file))),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // Nobody holds the lock: its owner is gone. Stale only once the heartbeat is old too.
    let previous = read_info(&mut file);
    let last = previous.as_ref().map_or(0.0, |p| p.heartbeat);
    if now() - last < stale_after {
        return Ok(Attempt::Held(previous));
    }
    write_info(&mut file, &info)?;
    let claim = Claim::start(file, path, info, every)?;
    // A claim released in good order (heartbeat 0) is simply free again.
    if previous.as_ref().is_some_and(|p| p.heartbeat == 0.0) {
        return Ok(Attempt::Claimed(claim));
    }
    Ok(Attempt::TakenOver(claim, previous))
}
