//! The command line: clap definitions and the glue from arguments to the engine.

mod data;
mod model;
mod predict;
mod progress;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alambic",
    version,
    about = "A workbench for distilling code language models that find vulnerabilities in \
             Solidity contracts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Import, clean, split, inspect and generate datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Inspect and export models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Fine-tune a teacher or a student on labels (headless; writes a run folder).
    Train(train::TrainArgs),
    /// Distil the student from the teacher (alpha weighs the teacher: alpha·KL·T² + (1 − alpha)·CE).
    Distill(train::TrainArgs),
    /// A grid of distillations over any config keys (alpha × temperature by default),
    /// resumable, shared by any number of workers; `sweep status DIR`, `sweep slurm DIR`.
    Sweep(sweep::SweepArgs),
    /// Score a model (a run folder or any model source) on a dataset.
    Eval(predict::EvalArgs),
    /// Verdicts for .sol files, with class probabilities and the window that decided.
    Predict(predict::PredictArgs),
    /// List run folders: role, status (running, finished, failed, stopped, dead), best F1.
    Runs {
        #[arg(default_value = "runs")]
        dir: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Data(cmd)) => data::run(cmd),
        Some(Command::Model(cmd)) => model::run(cmd),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Distill(args)) => train::distill(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Eval(args)) => predict::eval(args),
        Some(Command::Predict(args)) => predict::predict(args),
        Some(Command::Runs { dir, json }) => train::list(&dir, json),
        // The workbench opens here once it exists; meanwhile, the demo dataset at a glance.
        None => data::demo_overview(),
    }
}
