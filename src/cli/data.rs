//! `alambic data …`

use alambic::data::config::{DataConfig, SplitSource, Task};
use alambic::data::synth::{self, SynthConfig};
use alambic::data::{Dataset, stats, write};
use alambic::store::write_atomic;
use alambic::tokenize::{TextTokenizer, TokenizerKind, WindowSpec, train_tokenizer};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const DEMO_DATA: &str = "data/demo/contracts.jsonl";

#[derive(Subcommand)]
pub enum DataCommand {
    /// Class counts per split, token lengths, windows, truncation loss, duplicates, leakage.
    Stats {
        #[command(flatten)]
        input: InputArgs,
        /// Tokenizer: a model folder, tokenizer.json, vocab.txt or vocab.json.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        #[arg(long, default_value_t = 512)]
        max_len: usize,
        /// Tokens shared by consecutive windows.
        #[arg(long, default_value_t = 0)]
        stride: usize,
        #[arg(long)]
        json: bool,
    },
    /// Write the dataset with a seeded, stratified, group-disjoint `split` field.
    Split {
        #[command(flatten)]
        input: InputArgs,
        #[arg(short, long)]
        output: PathBuf,
        /// Train, valid and test shares.
        #[arg(long, value_delimiter = ',', default_value = "0.8,0.1,0.1")]
        fractions: Vec<f64>,
    },
    /// Write the cleaned dataset (comments stripped, whitespace normalised, duplicates marked).
    Clean {
        #[command(flatten)]
        input: InputArgs,
        #[arg(short, long)]
        output: PathBuf,
        /// Also drop `pragma` and SPDX lines.
        #[arg(long)]
        drop_pragma: bool,
        /// Keep one contract per exact-duplicate group.
        #[arg(long)]
        drop_exact: bool,
    },
    /// Generate the demo dataset from our own templates.
    Synth {
        #[arg(short, long, default_value = DEMO_DATA)]
        output: PathBuf,
        #[arg(long, default_value_t = SynthConfig::default().count)]
        count: usize,
        #[arg(long, default_value_t = SynthConfig::default().seed)]
        seed: u64,
        /// Share of labels flipped to another class.
        #[arg(long, default_value_t = SynthConfig::default().label_noise)]
        noise: f64,
    },
    /// Train a WordPiece or BPE tokenizer on a dataset's contracts (for scratch models).
    Tokenizer {
        #[command(flatten)]
        input: InputArgs,
        #[arg(long, default_value = "wordpiece")]
        kind: TokenizerKind,
        #[arg(long, default_value_t = 8000)]
        vocab_size: usize,
        /// Folder to write tokenizer.json into.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// How to read a dataset: the file plus any `[dataset]` setting.
#[derive(Args)]
pub struct InputArgs {
    /// A .jsonl or .csv file, or a folder of .sol files in label sub-folders.
    pub file: PathBuf,
    /// An experiment config (TOML) whose `[dataset]` section sets fields, classes, cleaning,
    /// splits and windows.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config key: `--set dataset.fields.text=source_code` (repeatable, after the
    /// file), as for `train`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    #[arg(long)]
    pub task: Option<Task>,
    /// Merge a class into another: FROM=TO (repeatable).
    #[arg(long, value_name = "FROM=TO")]
    pub merge: Vec<String>,
    /// Drop a class (repeatable).
    #[arg(long)]
    pub drop: Vec<String>,
    /// Drop classes with fewer examples.
    #[arg(long)]
    pub min_count: Option<usize>,
    /// Skip malformed records and count them instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
    /// Ignore the file's split field and draw a seeded split.
    #[arg(long)]
    pub resplit: bool,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hold out these values of `--hold-out-field` as the test split (comma-separated, e.g.
    /// ContractFuzzer,CodeSmells): source-disjoint evaluation.
    #[arg(long, value_delimiter = ',', value_name = "VALUES")]
    pub hold_out: Vec<String>,
    /// The field `--hold-out` reads (a list such as `origin` gives its set names).
    #[arg(long, value_name = "FIELD")]
    pub hold_out_field: Option<String>,
    /// Near-duplicate threshold (token 5-gram Jaccard).
    #[arg(long)]
    pub near_threshold: Option<f64>,
}

impl InputArgs {
    pub fn config(&self) -> anyhow::Result<DataConfig> {
        // The `[dataset]` section of an experiment config over `defaults.toml`, checked key by
        // key like `train`'s (with no file and no `--set`, just the defaults).
        let mut cfg =
            alambic::train::ExperimentConfig::load(self.config.as_deref(), &self.sets)?.dataset;
        cfg.file = self.file.clone();
        if let Some(t) = self.task {
            cfg.task = t;
        }
        for m in &self.merge {
            let (from, to) = m
                .split_once('=')
                .with_context(|| format!("--merge `{m}`: expected FROM=TO"))?;
            cfg.merge.insert(from.trim().into(), to.trim().into());
        }
        cfg.drop.extend(self.drop.iter().cloned());
        if let Some(n) = self.min_count {
            cfg.min_count = n;
        }
        cfg.skip_bad |= self.skip_bad;
        if self.resplit {
            cfg.split.source = SplitSource::Seeded;
        }
        if let Some(s) = self.seed {
            cfg.split.seed = s;
        }
        if !self.hold_out.is_empty() {
            cfg.split.hold_out = self.hold_out.iter().map(|v| v.trim().to_string()).collect();
        }
        if let Some(f) = &self.hold_out_field {
            cfg.split.hold_out_field = f.clone();
        }
        if let Some(t) = self.near_threshold {
            cfg.dedup.near_threshold = t;
        }
        Ok(cfg)
    }
}

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Stats {
            input,
            tokenizer,
            max_len,
            stride,
            json,
        } => {
            let cfg = input.config()?;
            let tok = tokenizer.map(TextTokenizer::load).transpose()?;
            print_stats(&cfg, tok.as_ref(), WindowSpec { max_len, stride }, json)
        }
        DataCommand::Split {
            input,
            output,
            fractions,
        } => {
            let mut cfg = input.config()?;
            let [train, valid, test] = fractions[..] else {
                bail!("--fractions needs three numbers: train,valid,test");
            };
            cfg.split.fractions = [train, valid, test];
            cfg.split.source = SplitSource::Seeded;
            let ds = Dataset::prepare(&cfg)?;
            write::write_jsonl(&ds, &output)?;
            eprintln!("wrote {} records to {}", ds.records.len(), output.display());
            Ok(())
        }
        DataCommand::Clean {
            input,
            output,
            drop_pragma,
            drop_exact,
        } => clean(input, &output, drop_pragma, drop_exact),
        DataCommand::Synth {
            output,
            count,
            seed,
            noise,
        } => {
            let cfg = SynthConfig {
                count,
                seed,
                label_noise: noise,
                ..SynthConfig::default()
            };
            let records = synth::generate(&cfg);
            write_atomic(&output, synth::to_jsonl(&records).as_bytes())
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!("wrote {} contracts to {}", records.len(), output.display());
            Ok(())
        }
        DataCommand::Tokenizer {
            input,
            kind,
            vocab_size,
            output,
        } => {
            let ds = Dataset::load(&input.config()?)?;
            let texts: Vec<&str> = ds.records.iter().map(|r| r.code.as_str()).collect();
            let tok = train_tokenizer(&texts, kind, vocab_size)?;
            let path = tok.save(&output)?;
            eprintln!("wrote {} ({} tokens)", path.display(), tok.vocab_size());
            Ok(())
        }
    }
}

fn print_stats(
    cfg: &DataConfig,
    tok: Option<&TextTokenizer>,
    spec: WindowSpec,
    json: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let ds = Dataset::prepare(cfg)?;
    let prepared = started.elapsed();
    let mut report = stats::compute(&ds);
    if let Some(tok) = tok {
        report.tokens = Some(stats::token_stats(&ds, tok, spec)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
        println!(
            "\nload + clean + dedup + split: {:.2} s   total: {:.2} s",
            prepared.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn clean(
    input: InputArgs,
    output: &Path,
    drop_pragma: bool,
    drop_exact: bool,
) -> anyhow::Result<()> {
    let mut cfg = input.config()?;
    cfg.clean.drop_pragma |= drop_pragma;
    let mut ds = Dataset::load(&cfg)?;
    ds.find_duplicates(&cfg);
    let removed = if drop_exact {
        ds.drop_exact_duplicates()
    } else {
        0
    };
    write::write_jsonl(&ds, output)?;
    eprintln!(
        "wrote {} records to {} ({} changed by cleaning, {} exact duplicates removed)",
        ds.records.len(),
        output.display(),
        ds.changed_by_cleaning,
        removed
    );
    Ok(())
}
