//! `alambic model …`

use alambic::data::{Dataset, Split};
use alambic::model::export::export;
use alambic::model::info::info;
use alambic::model::load::{LoadOptions, LoadReport};
use alambic::model::vocab_prune::Corpus;
use alambic::model::{Classifier, load_source};
use alambic::train::checkpoint;
use alambic::train::setup::{run_checkpoint, with_run_checkpoints};
use candle_core::Device;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Family, shape, exact parameter counts, size, vocabulary, tokenizer, head.
    Info {
        /// A folder, a run folder, hf:owner/name[@rev], scratch:PRESET[?tokenizer=SRC],
        /// derive:SRC?layers=2,4,6&pooler=false, moe:…, bottleneck:…, prune:…, factor:….
        source: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: CorpusArgs,
    },
    /// Write a Hugging Face folder (config.json, model.safetensors, tokenizer).
    Export {
        source: String,
        out: PathBuf,
        #[command(flatten)]
        data: CorpusArgs,
    },
}

/// The contracts a `prune:` source keeps the tokens of.
#[derive(clap::Args)]
pub struct CorpusArgs {
    /// A dataset whose training split (as a run would split it) `prune:` keeps the tokens of.
    #[arg(long)]
    data: Option<PathBuf>,
    /// An experiment config whose `[dataset]` section reads `--data` (fields, splits), and
    /// whose `[distill] transfer` set joins the training split.
    #[arg(long, requires = "data")]
    config: Option<PathBuf>,
}

impl CorpusArgs {
    fn corpus(&self) -> anyhow::Result<Option<Corpus>> {
        let Some(file) = &self.data else {
            return Ok(None);
        };
        let cfg = alambic::train::ExperimentConfig::load(self.config.as_deref(), &[])?;
        let mut data = cfg.dataset.clone();
        data.file = file.clone();
        let mut ds = Dataset::prepare(&data)?;
        if !cfg.distill.transfer.is_empty() {
            alambic::distill::transfer::attach(
                &mut ds,
                std::path::Path::new(&cfg.distill.transfer),
                &data,
            )?;
        }
        let texts = ds
            .records
            .iter()
            .filter(|r| matches!(r.split, Some(Split::Train | Split::Unlabeled)))
            .map(|r| r.code.clone())
            .collect();
        Ok(Some(std::sync::Arc::new(texts)))
    }
}

/// Any model source, or a run folder (its best checkpoint, with its own head and labels).
fn load(
    source: &str,
    data: &CorpusArgs,
    device: &Device,
) -> anyhow::Result<(Classifier, LoadReport)> {
    match run_checkpoint(source) {
        Some(dir) => Ok(checkpoint::load_model(&dir, 0, device)?),
        None => {
            let opts = LoadOptions {
                corpus: data.corpus()?,
                ..LoadOptions::default()
            };
            Ok(load_source(&with_run_checkpoints(source), &opts, device)?)
        }
    }
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    let device = Device::Cpu;
    match cmd {
        ModelCommand::Info { source, json, data } => {
            let (model, report) = load(&source, &data, &device)?;
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
        ModelCommand::Export { source, out, data } => {
            if let Some(dir) = run_checkpoint(&source).filter(|d| checkpoint::encoder_only(d)) {
                let keys = alambic::pretrain::export::export_masked_lm(&dir, &out)?;
                eprintln!(
                    "wrote {} ({} tensors, masked LM)",
                    out.display(),
                    keys.len()
                );
                return Ok(());
            }
            let (model, report) = load(&source, &data, &device)?;
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            let keys = export(&model, &out)?;
            eprintln!("wrote {} ({} tensors)", out.display(), keys.len());
        }
    }
    Ok(())
}
