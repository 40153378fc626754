//! The command line: clap definitions and the glue from arguments to the engine.

mod data;
mod model;

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
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Data(cmd)) => data::run(cmd),
        Some(Command::Model(cmd)) => model::run(cmd),
        // The workbench opens here once it exists; meanwhile, the demo dataset at a glance.
        None => data::demo_overview(),
    }
}
