//! `alambic model …`

use alambic::model::export::export;
use alambic::model::info::info;
use alambic::model::load::{LoadOptions, LoadReport};
use alambic::model::{Classifier, load_source};
use alambic::train::checkpoint;
use alambic::train::setup::run_checkpoint;
use candle_core::Device;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Family, shape, exact parameter counts, size, vocabulary, tokenizer, head.
    Info {
        /// A folder, a run folder, hf:owner/name[@rev], scratch:PRESET[?tokenizer=SRC] or
        /// derive:SRC?layers=2,4,6&pooler=false.
        source: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a Hugging Face folder (config.json, model.safetensors, tokenizer).
    Export { source: String, out: PathBuf },
}

/// Any model source, or a run folder (its best checkpoint, with its own head and labels).
fn load(source: &str, device: &Device) -> anyhow::Result<(Classifier, LoadReport)> {
    match run_checkpoint(source) {
        Some(dir) => Ok(checkpoint::load_model(&dir, 0, device)?),
        None => Ok(load_source(source, &LoadOptions::default(), device)?),
    }
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    let device = Device::Cpu;
    match cmd {
        ModelCommand::Info { source, json } => {
            let (model, report) = load(&source, &device)?;
            let i = info(&model, &report);
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                print!("{}", i.render());
                for note in &report.notes {
                    println!("note        {note}");
                }
                if !report.unused.is_empty() {
                    println!("unused      {}", report.unused.join(", "));
                }
            }
        }
        ModelCommand::Export { source, out } => {
            let (model, report) = load(&source, &device)?;
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            let keys = export(&model, &out)?;
            eprintln!("wrote {} ({} tensors)", out.display(), keys.len());
        }
    }
    Ok(())
}
