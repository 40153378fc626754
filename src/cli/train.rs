//! `alambic train`, `alambic runs`.

use super::progress::Progress;
use alambic::store::RunDir;
use alambic::store::run_dir::read_info;
use alambic::store::runs;
use alambic::train::{ExperimentConfig, Outcome, train};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Args)]
pub struct TrainArgs {
    /// Experiment config (TOML); defaults cover every key.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "student")]
    pub role: String,
    /// Folder for run folders.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override a key: section.key=VALUE (TOML value), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// cpu, cuda, cuda:N (the config's `device`); with --resume, where the run continues.
    #[arg(long)]
    pub device: Option<String>,
    /// Write the run into this folder instead of a new one under --out (the TUI names the
    /// folders of the runs it starts).
    #[arg(long, value_name = "DIR", hide = true)]
    pub run_dir: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "sets"])]
    pub resume: Option<PathBuf>,
}

/// Ctrl-C and SIGTERM ask the run to finish its step, checkpoint and exit.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    Ok(flag)
}

/// `--device X` as the `--set` it stands for.
pub fn device_set(device: &Option<String>) -> Vec<String> {
    device
        .iter()
        .map(|d| format!("device={}", toml::Value::String(d.clone())))
        .collect()
}

/// A new run folder, or the one to resume, with its config and role.
fn open_run(
    args: &TrainArgs,
    role: &str,
) -> anyhow::Result<(ExperimentConfig, String, RunDir, bool)> {
    match &args.resume {
        Some(dir) => {
            let info = read_info(dir)
                .with_context(|| format!("{}: not a run folder (no run.json)", dir.display()))?;
            let cfg =
                ExperimentConfig::load(Some(&dir.join("config.toml")), &device_set(&args.device))?;
            let run = RunDir::open(dir, &info.role, false)
                .with_context(|| format!("cannot write to {}", dir.display()))?;
            Ok((cfg, info.role, run, true))
        }
        None => {
            let mut sets = args.sets.clone();
            sets.extend(device_set(&args.device));
            let cfg = ExperimentConfig::load(args.config.as_deref(), &sets)?;
            // A device this build cannot use is an error before any run folder exists.
            alambic::train::device::open_for(cfg.device, cfg.train.precision)?;
            let run = match &args.run_dir {
                Some(dir) => RunDir::create_at(dir, role, &cfg.to_toml())
                    .with_context(|| format!("cannot create the run folder {}", dir.display()))?,
                None => RunDir::create(&args.out, role, &cfg.to_toml()).with_context(|| {
                    format!("cannot create a run folder under {}", args.out.display())
                })?,
            };
            Ok((cfg, role.to_string(), run, false))
        }
    }
}

/// Where a finished run is, or how to resume an interrupted one.
fn report(interrupted_at: Option<u64>, run: &RunDir) -> anyhow::Result<()> {
    match interrupted_at {
        None => {
            println!("run folder: {}", run.path.display());
            Ok(())
        }
        Some(step) => {
            eprintln!(
                "interrupted at step {step}; resume with:\n  alambic {} --resume {}",
                resume_command(&run.info.role),
                run.path.display()
            );
            std::process::exit(130);
        }
    }
}

fn interrupted_step(outcome: &Outcome) -> Option<u64> {
    match outcome {
        Outcome::Finished(_) => None,
        Outcome::Interrupted { step } => Some(*step),
    }
}

/// The command that resumes a run of this role.
fn resume_command(role: &str) -> &'static str {
    match role {
        "distill" => "distill",
        "pretrain" => "pretrain",
        _ => "train",
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (cfg, role, mut run, resume) = open_run(&args, &args.role)?;
    let stop = stop_flag()?;
    let outcome = train(&cfg, &role, &mut run, &mut Progress::new(), &stop, resume)?;
    report(interrupted_step(&outcome), &run)
}

/// `alambic distill`: the same options, role `distill`.
pub fn distill(args: TrainArgs) -> anyhow::Result<()> {
    let (cfg, _, mut run, resume) = open_run(&args, "distill")?;
    let stop = stop_flag()?;
    if cfg.distill.recipe == alambic::distill::Recipe::General {
        let outcome = alambic::pretrain::general_distill(
            &cfg,
            &mut run,
            &mut Progress::new(),
            &stop,
            resume,
        )?;
        return report(outcome.interrupted_at(), &run);
    }
    let outcome = alambic::distill::distill(&cfg, &mut run, &mut Progress::new(), &stop, resume)?;
    report(interrupted_step(&outcome), &run)
}

/// `alambic pretrain`: the same options, role `pretrain`.
pub fn pretrain(args: TrainArgs) -> anyhow::Result<()> {
    let (cfg, _, mut run, resume) = open_run(&args, "pretrain")?;
    let stop = stop_flag()?;
    let outcome = alambic::pretrain::pretrain(&cfg, &mut run, &mut Progress::new(), &stop, resume)?;
    report(outcome.interrupted_at(), &run)
}

pub fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let listed = runs::list(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    println!(
        "{:<40} {:<8} {:<9} {:>7} {:>9} {:>8}",
        "run", "role", "status", "steps", "best F1", "age"
    );
    let now = alambic::store::run_dir::now();
    for r in listed {
        let age = now - r.info.started;
        let age = if age < 3600.0 {
            format!("{:.0}m", age / 60.0)
        } else if age < 86_400.0 {
            format!("{:.1}h", age / 3600.0)
        } else {
            format!("{:.1}d", age / 86_400.0)
        };
        println!(
            "{:<40} {:<8} {:<9} {:>7} {:>9} {:>8}",
            r.info.run_id,
            r.info.role,
            format!("{:?}", r.status).to_lowercase(),
            r.steps,
            r.best.map_or("-".into(), |b| format!("{b:.4}")),
            age
        );
    }
    Ok(())
}
