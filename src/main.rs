mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    alambic::runtime::tune_allocator();
    cli::run(cli::Cli::parse())
}
