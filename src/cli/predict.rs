//! `alambic eval` and `alambic predict`.

use alambic::data::clean::clean;
use alambic::data::{Dataset, Split, Task};
use alambic::model::encoder::Batch;
use alambic::model::load::LoadOptions;
use alambic::model::{Classifier, Mode, load_source};
use alambic::train::ExperimentConfig;
use alambic::train::checkpoint;
use alambic::train::evaluate::{Pooling, Scores, argmax, predict as predict_probs, score};
use alambic::train::samples::{Sample, samples, windows_of};
use alambic::train::setup::run_checkpoint;
use anyhow::{Context, bail};
use candle_core::{D, Device};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// A run folder (its best checkpoint, cleaning, windows and labels) or a model source.
    #[arg(long)]
    pub model: String,
    /// A .jsonl, .csv or folder of .sol files.
    #[arg(long)]
    pub data: PathBuf,
    /// train, valid, test or all.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Break the metrics down by a record field (e.g. origin).
    #[arg(long)]
    pub by: Option<String>,
    /// Config for a model source that is not a run folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    /// A run folder.
    #[arg(long)]
    pub model: PathBuf,
    /// .sol files or folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The model and the config that prepared its data (the run's own, for a run folder).
fn model_and_config(
    source: &str,
    config: Option<&Path>,
) -> anyhow::Result<(Classifier, ExperimentConfig, Option<f64>)> {
    let device = Device::Cpu;
    if let Some(dir) = run_checkpoint(source) {
        let run = Path::new(source);
        let cfg = ExperimentConfig::load(Some(&run.join("config.toml")), &[])?;
        let (model, _) = checkpoint::load_model(&dir, cfg.train.seed, &device)?;
        let threshold = std::fs::read_to_string(run.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["valid"]["threshold"].as_f64());
        return Ok((model, cfg, threshold));
    }
    let cfg = ExperimentConfig::load(config, &[])?;
    let (model, _) = load_source(source, &LoadOptions::default(), &device)?;
    Ok((model, cfg, None))
}

fn split_names(name: &str) -> anyhow::Result<Vec<Split>> {
    Ok(match name {
        "all" => Split::MODEL_SPLITS.to_vec(),
        other => vec![
            Split::parse(other)
                .with_context(|| format!("--split `{other}`: train, valid, test or all"))?,
        ],
    })
}

/// A record field as a group name; lists (like cgt_dasp's `origin`) give their sources.
fn field_value(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => {
            let mut parts: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|s| s.split(':').next().unwrap_or(s).to_string())
                .collect();
            parts.sort();
            parts.dedup();
            parts.join("+")
        }
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let (model, mut cfg, threshold) = model_and_config(&args.model, args.config.as_deref())?;
    cfg.dataset.file = args.data.clone();
    let mut ds = Dataset::prepare(&cfg.dataset)?;
    if let Some(unknown) = ds.classes.iter().find(|c| !model.labels.contains(c)) {
        bail!(
            "{}: class `{unknown}` is not one the model predicts ({})",
            args.data.display(),
            model.labels.join(", ")
        );
    }
    ds.classes = model.labels.clone();
    let tok = model
        .tokenizer
        .as_ref()
        .context("the model has no tokenizer")?;
    let mut all: Vec<Sample> = Vec::new();
    for split in split_names(&args.split)? {
        all.extend(samples(&ds, split, tok, &cfg.dataset)?);
    }
    if all.is_empty() {
        bail!(
            "{}: no contracts in split `{}`",
            args.data.display(),
            args.split
        );
    }
    let pooling = Pooling::parse(&cfg.train.pooling).map_err(anyhow::Error::msg)?;
    let probs = predict_probs(&model, &all, ds.task, cfg.train.batch_size, pooling)?;
    let overall = score(&all, &probs, &ds.classes, ds.task, threshold, true);
    let mut groups: BTreeMap<String, Scores> = BTreeMap::new();
    if let Some(field) = &args.by {
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in all.iter().enumerate() {
            members
                .entry(field_value(ds.records[s.record].extra.get(field)))
                .or_default()
                .push(i);
        }
        for (name, idx) in members {
            let sub: Vec<Sample> = idx.iter().map(|&i| all[i].clone()).collect();
            let p: Vec<Vec<f32>> = idx.iter().map(|&i| probs[i].clone()).collect();
            groups.insert(
                name,
                score(&sub, &p, &ds.classes, ds.task, threshold, false),
            );
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"overall": overall, "by": groups}))?
        );
        return Ok(());
    }
    print_scores(&overall, &ds.classes);
    if !groups.is_empty() {
        println!(
            "\n{:<30} {:>6} {:>9} {:>9}",
            args.by.unwrap_or_default(),
            "n",
            "accuracy",
            "macro-F1"
        );
        for (name, s) in &groups {
            println!(
                "{name:<30} {:>6} {:>9.4} {:>9.4}",
                s.metrics.n, s.metrics.accuracy, s.metrics.macro_f1
            );
        }
    }
    Ok(())
}

fn print_scores(s: &Scores, classes: &[String]) {
    let m = &s.metrics;
    let ci = |i: &Option<alambic::eval::Interval>| {
        i.map_or(String::new(), |i| format!(" [{:.4}, {:.4}]", i.low, i.high))
    };
    println!("contracts   {}", m.n);
    println!("accuracy    {:.4}{}", m.accuracy, ci(&s.accuracy_ci));
    println!("macro-F1    {:.4}{}", m.macro_f1, ci(&s.macro_f1_ci));
    println!("weighted-F1 {:.4}", m.weighted_f1);
    if let Some(a) = s.roc_auc {
        println!("ROC-AUC     {a:.4}");
    }
    if let Some(a) = s.pr_auc {
        println!("PR-AUC      {a:.4}");
    }
    println!(
        "\n{:<28} {:>9} {:>7} {:>7} {:>7}",
        "class", "precision", "recall", "F1", "n"
    );
    for c in &m.per_class {
        println!(
            "{:<28} {:>9.4} {:>7.4} {:>7.4} {:>7}",
            c.class, c.precision, c.recall, c.f1, c.support
        );
    }
    println!("\nconfusion (rows: truth, columns: predicted)");
    for (i, row) in m.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|n| format!("{n:>5}")).collect();
        println!("{:<28} {}", classes[i], cells.join(""));
    }
}

fn sol_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            sol_files(&e, out)?;
        }
    } else if path.extension().is_some_and(|e| e == "sol") {
        out.push(path.to_path_buf());
    } else if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let source = args.model.display().to_string();
    if run_checkpoint(&source).is_none() {
        bail!("{source}: not a run folder with a checkpoint");
    }
    let (model, cfg, threshold) = model_and_config(&source, None)?;
    let pooling = Pooling::parse(&cfg.train.pooling).map_err(anyhow::Error::msg)?;
    let tok = model
        .tokenizer
        .as_ref()
        .context("the model has no tokenizer")?;
    let mut files = Vec::new();
    for p in &args.paths {
        sol_files(p, &mut files)?;
    }
    let mut results = Vec::new();
    for file in files {
        let raw = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {} (UTF-8 text expected)", file.display()))?;
        let text = clean(&raw, &cfg.dataset.clean);
        let (windows, spans) = windows_of(tok, &text, &cfg.dataset)?;
        let mask: Vec<Vec<u32>> = windows.iter().map(|w| vec![1; w.len()]).collect();
        // Windows one at a time: no padding, and each window's own logits.
        let mut rows = Vec::new();
        for (w, m) in windows.iter().zip(&mask) {
            let out = model.forward(
                &Batch {
                    input_ids: std::slice::from_ref(w),
                    attention_mask: std::slice::from_ref(m),
                },
                &mut Mode::Eval,
                false,
            )?;
            rows.push(out.logits.squeeze(0)?.to_vec1::<f32>()?);
        }
        let k = model.labels.len();
        let pooled: Vec<f32> = (0..k)
            .map(|c| {
                let col = rows.iter().map(|r| r[c]);
                match pooling {
                    Pooling::Max => col.fold(f32::MIN, f32::max),
                    Pooling::Mean => col.sum::<f32>() / rows.len().max(1) as f32,
                }
            })
            .collect();
        let probs = if cfg.dataset.task == Task::Multilabel {
            candle_nn::ops::sigmoid(&candle_core::Tensor::new(pooled.as_slice(), &Device::Cpu)?)?
                .to_vec1::<f32>()?
        } else {
            candle_nn::ops::softmax(
                &candle_core::Tensor::new(pooled.as_slice(), &Device::Cpu)?,
                D::Minus1,
            )?
            .to_vec1::<f32>()?
        };
        let verdict = match (cfg.dataset.task, threshold) {
            (Task::Binary, Some(t)) => {
                usize::from(probs.get(1).copied().unwrap_or(0.0) as f64 >= t)
            }
            _ => argmax(&probs),
        };
        let driver = rows
            .iter()
            .enumerate()
            .max_by(|a, b| a.1[verdict].total_cmp(&b.1[verdict]))
            .map_or(0, |(i, _)| i);
        let (start, end) = spans.get(driver).copied().unwrap_or((0, 0));
        let line = |byte: usize| 1 + text[..byte.min(text.len())].matches('\n').count();
        results.push(serde_json::json!({
            "file": file.display().to_string(),
            "verdict": model.labels[verdict],
            "probabilities": model.labels.iter().cloned().zip(probs.iter().copied()).collect::<BTreeMap<String, f32>>(),
            "window": driver + 1,
            "windows": windows.len(),
            "lines": [line(start), line(end)],
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    for r in &results {
        let mut probs: Vec<(String, f64)> = r["probabilities"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let shown: Vec<String> = probs
            .iter()
            .take(4)
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect();
        println!(
            "{}: {}  ({})  decided by window {}/{}, lines {}-{} of the cleaned contract",
            r["file"].as_str().unwrap_or(""),
            r["verdict"].as_str().unwrap_or(""),
            shown.join(", "),
            r["window"],
            r["windows"],
            r["lines"][0],
            r["lines"][1]
        );
    }
    Ok(())
}
