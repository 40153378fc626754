//! `alambic sweep`: run a grid of distillations (or join one), print its state, emit a Slurm
//! job array.

use super::progress::Progress;
use super::train::stop_flag;
use alambic::store::EventSink;
use alambic::sweep::summary::{render, status};
use alambic::sweep::{Cell, Placement, SweepDir, prepare_teacher_on, work};
use alambic::train::ExperimentConfig;
use alambic::train::device::DeviceSpec;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    #[command(flatten)]
    pub run: SweepRunArgs,
}

#[derive(Args)]
pub struct SweepRunArgs {
    /// Experiment config (TOML) with its `[sweep]` section.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// An axis: KEY=V1,V2,… (replaces the config's axis of that key), repeatable.
    #[arg(long = "grid", value_name = "KEY=V1,V2")]
    pub grids: Vec<String>,
    /// Override a key of every cell: section.key=VALUE, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Folder under which the sweep folder is made (its name hashes the sweep).
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Continue (or join) the sweep in this folder.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["config", "grids", "sets"])]
    pub resume: Option<PathBuf>,
    /// Cells run at once in this process (for GPUs: worker k computes on the k-th GPU from
    /// the configured one; on CPU, 1).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// cpu, cuda, cuda:N: where this process's cells compute (over the config's `device`).
    #[arg(long)]
    pub device: Option<String>,
    /// Run only these cells now (indices, row-major: the first axis varies slowest); the
    /// others stay pending for a later `--resume`.
    #[arg(long, value_delimiter = ',', value_name = "I,J,…")]
    pub cells: Option<Vec<usize>>,
}

#[derive(Subcommand)]
pub enum SweepAction {
    /// The grid as a table (rows: first key, columns: second), then the best cell.
    Status {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// A Slurm job-array script on stdout: task i runs cell i.
    Slurm { dir: PathBuf },
    /// Run one cell (what each Slurm task does).
    RunCell {
        dir: PathBuf,
        #[arg(long)]
        index: usize,
    },
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    match args.action {
        Some(SweepAction::Status { dir, json }) => {
            let sweep = SweepDir::open(&dir)?;
            let s = status(&sweep);
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", render(&s));
            }
            Ok(())
        }
        Some(SweepAction::Slurm { dir }) => {
            let sweep = SweepDir::open(&dir)?;
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "alambic".into());
            print!("{}", alambic::sweep::slurm::script(&sweep, &exe));
            Ok(())
        }
        Some(SweepAction::RunCell { dir, index }) => {
            let sweep = SweepDir::open(&dir)?;
            drive(&sweep, Some(&[index]), 1, None)
        }
        None => {
            let r = args.run;
            let device = r
                .device
                .as_deref()
                .map(str::parse::<DeviceSpec>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
            if let Some(d) = device {
                d.open()?;
            }
            let sweep = match &r.resume {
                Some(dir) => SweepDir::open(dir)?,
                None => {
                    let cfg = ExperimentConfig::load(r.config.as_deref(), &r.sets)?;
                    alambic::train::device::open_for(cfg.device, cfg.train.precision)?;
                    SweepDir::create(&r.out, &cfg, &r.grids).with_context(|| {
                        format!("cannot make the sweep folder under {}", r.out.display())
                    })?
                }
            };
            println!(
                "sweep {}: {} cells",
                sweep.path.display(),
                sweep.spec.cells.len()
            );
            drive(&sweep, r.cells.as_deref(), r.parallel.max(1), device)
        }
    }
}

/// Prepares the teacher, then runs cells with `parallel` workers; prints the grid at the end.
fn drive(
    sweep: &SweepDir,
    only: Option<&[usize]>,
    parallel: usize,
    device: Option<DeviceSpec>,
) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    let mut sink = Progress::for_cell("teacher".into());
    let first = Placement { device, worker: 0 };
    if let Some(pass) = prepare_teacher_on(sweep, &mut sink, &stop, &first)? {
        println!(
            "teacher ready in {:.1} s ({})",
            pass.seconds,
            pass.checkpoint.display()
        );
    }
    let sinks = |cell: &Cell| -> Box<dyn EventSink> {
        Box::new(Progress::for_cell(format!(
            "cell-{:03} {}",
            cell.index,
            cell.label()
        )))
    };
    let stop_ref: &AtomicBool = &stop;
    let reports: Vec<anyhow::Result<alambic::sweep::WorkReport>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..parallel)
            .map(|worker| {
                let placement = Placement { device, worker };
                let sinks = &sinks;
                s.spawn(move || {
                    work(sweep, only, sinks, stop_ref, &placement).map_err(anyhow::Error::from)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a sweep worker panicked")))
            })
            .collect()
    });
    let mut interrupted = false;
    for r in reports {
        interrupted |= r?.interrupted;
    }
    print!("{}", render(&status(sweep)));
    if interrupted {
        eprintln!(
            "interrupted; resume with:\n  alambic sweep --resume {}",
            sweep.path.display()
        );
        std::process::exit(130);
    }
    Ok(())
}
