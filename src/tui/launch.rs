//! Starting and stopping runs from the TUI. A run is a detached `alambic` process in its own
//! session (`setsid`), its output going to a file in its run folder, so quitting the TUI or a
//! dropped SSH connection leaves it training; the TUI only follows the folder. Stopping sends
//! SIGTERM, which the run turns into "finish the step, checkpoint, exit".

use crate::sweep::SweepDir;
use crate::train::ExperimentConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Teacher,
    Student,
    Distill,
    /// Masked-language modelling on `[pretrain].corpus` (`alambic pretrain`).
    Pretrain,
    Sweep,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::Student => "student",
            Self::Distill => "distill",
            Self::Pretrain => "pretrain",
            Self::Sweep => "sweep",
        }
    }
}

/// The `alambic` arguments of a run of `kind` (not a sweep) writing into `dir`.
pub fn command_line(kind: RunKind, config: &Path, dir: &Path) -> Vec<String> {
    let command = match kind {
        RunKind::Distill | RunKind::Pretrain => kind.name(),
        _ => "train",
    };
    let mut args = vec![
        command.to_string(),
        "--config".into(),
        config.display().to_string(),
        "--run-dir".into(),
        dir.display().to_string(),
    ];
    if command == "train" {
        args.extend(["--role".into(), kind.name().into()]);
    }
    args
}

/// How runs are started and stopped (tests substitute their own).
pub trait Launcher {
    /// Starts a run of `kind` from `config` under `runs_dir`; returns the folder it writes.
    fn start(&self, kind: RunKind, config: &Path, runs_dir: &Path) -> Result<PathBuf, String>;
    fn stop(&self, pid: u32) -> Result<(), String>;
}

pub struct ProcessLauncher {
    pub exe: PathBuf,
}

impl ProcessLauncher {
    pub fn current() -> Self {
        Self {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("alambic")),
        }
    }

    fn spawn(&self, args: &[String], log: &Path) -> Result<(), String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // `setsid` gives the run its own session: no SIGHUP when the terminal goes away.
        let mut cmd = if Path::new("/usr/bin/setsid").is_file() {
            let mut c = Command::new("/usr/bin/setsid");
            c.arg(&self.exe);
            c
        } else {
            let mut c = Command::new(&self.exe);
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map(drop)
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))
    }
}

impl Launcher for ProcessLauncher {
    fn start(&self, kind: RunKind, config: &Path, runs_dir: &Path) -> Result<PathBuf, String> {
        if kind == RunKind::Sweep {
            let cfg = ExperimentConfig::load(Some(config), &[]).map_err(|e| e.to_string())?;
            let sweep = SweepDir::create(runs_dir, &cfg, &[]).map_err(|e| e.to_string())?;
            let dir = sweep.path.display().to_string();
            let args = ["sweep".to_string(), "--resume".into(), dir];
            self.spawn(&args, &sweep.path.join("output.log"))?;
            return Ok(sweep.path);
        }
        let stamp = crate::store::run_dir::now();
        let name = format!(
            "{}-{}-tui{:04x}",
            crate::store::run_dir::time_label(stamp),
            kind.name(),
            std::process::id() & 0xffff
        );
        let dir = runs_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let args = command_line(kind, config, &dir);
        self.spawn(&args, &dir.join("output.log"))?;
        Ok(dir)
    }

    fn stop(&self, pid: u32) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -TERM {pid} failed"))
        }
    }
}
