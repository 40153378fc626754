//! `alambic eval` and `alambic predict`: arguments in, the library's scores out (`infer`).

use alambic::infer::{InferError, Scorer, Verdict, evaluate};
use alambic::train::device::DeviceSpec;
use alambic::train::evaluate::Scores;
use alambic::train::setup::run_checkpoint;
use anyhow::{Context, bail};
use clap::Args;
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
    /// cpu, cuda, cuda:N (default: the run's config).
    #[arg(long)]
    pub device: Option<String>,
    /// Score the explanations instead: hit@1 / hit@3 of each method's top lines against the
    /// records' `bug_lines`, beside a random and the longest line.
    #[arg(long)]
    pub localisation: bool,
    /// With --localisation: the methods to score (repeat; default windows, ig and grad).
    #[arg(long = "method", value_parser = super::explain::parse_method)]
    pub methods: Vec<alambic::explain::Method>,
    /// With --localisation: integrated-gradient steps.
    #[arg(long, default_value_t = 16)]
    pub steps: usize,
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
    /// cpu, cuda, cuda:N (default: the run's config).
    #[arg(long)]
    pub device: Option<String>,
    /// With each verdict, the lines it comes from (see `alambic explain`).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub how: super::explain::ExplainFlags,
}

pub fn device(arg: &Option<String>) -> anyhow::Result<Option<DeviceSpec>> {
    arg.as_deref()
        .map(str::parse::<DeviceSpec>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let scorer = Scorer::open(&args.model, args.config.as_deref(), device(&args.device)?)?;
    if args.localisation {
        return localisation(&scorer, &args);
    }
    let e = evaluate(&scorer, &args.data, &args.split, args.by.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    print_scores(&e.overall, &e.classes);
    if !e.by.is_empty() {
        println!(
            "\n{:<30} {:>6} {:>9} {:>9}",
            args.by.unwrap_or_default(),
            "n",
            "accuracy",
            "macro-F1"
        );
        for (name, s) in &e.by {
            println!(
                "{name:<30} {:>6} {:>9.4} {:>9.4}",
                s.metrics.n, s.metrics.accuracy, s.metrics.macro_f1
            );
        }
    }
    Ok(())
}

fn localisation(scorer: &Scorer, args: &EvalArgs) -> anyhow::Result<()> {
    use alambic::explain::{Method, evaluate::localisation};
    let methods = if args.methods.is_empty() {
        Method::ALL.to_vec()
    } else {
        args.methods.clone()
    };
    let l = localisation(scorer, &args.data, &args.split, &methods, args.steps)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&l)?);
        return Ok(());
    }
    println!(
        "{} of {} contracts with bug lines ({}) flagged with their class; of those:",
        l.flagged, l.annotated, l.split
    );
    println!(
        "\n{:<16} {:>6} {:>6} {:>10}",
        "method", "hit@1", "hit@3", "s/contract"
    );
    for m in &l.methods {
        println!(
            "{:<16} {:>6.3} {:>6.3} {:>10.3}",
            m.method.name(),
            m.hits.hit1,
            m.hits.hit3,
            m.seconds_per_contract
        );
    }
    for (name, h) in [("random line", l.random), ("longest line", l.longest)] {
        println!("{name:<16} {:>6.3} {:>6.3}", h.hit1, h.hit3);
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

/// Verdicts for every file; a file that cannot be scored (unreadable, empty) is reported and
/// the others go on, and the command fails at the end if any could not be scored.
pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let source = args.model.display().to_string();
    if run_checkpoint(&source).is_none() {
        bail!("{source}: not a run folder with a checkpoint");
    }
    let scorer = Scorer::open(&source, None, device(&args.device)?)?;
    let mut files = Vec::new();
    for p in &args.paths {
        sol_files(p, &mut files)?;
    }
    if args.explain {
        return explain_files(&scorer, &files, &args);
    }
    let mut verdicts: Vec<(PathBuf, Verdict)> = Vec::new();
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    for file in files {
        match scorer.verdict_for_file(&file) {
            Ok(v) => verdicts.push((file, v)),
            Err(InferError::Input(why)) => failed.push((file, why)),
            Err(other) => return Err(other).with_context(|| format!("{}", file.display())),
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> =
            verdicts
                .iter()
                .map(|(f, v)| json_row(f, v))
                .chain(failed.iter().map(
                    |(f, why)| serde_json::json!({"file": f.display().to_string(), "error": why}),
                ))
                .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for (f, v) in &verdicts {
            println!("{}", text_row(f, v));
        }
    }
    for (f, why) in &failed {
        eprintln!("{}: not scored: {why}", f.display());
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} files could not be scored",
            failed.len(),
            failed.len() + verdicts.len()
        );
    }
    Ok(())
}

/// `predict --explain`: each file's explanation; a file that cannot be scored is reported and
/// the others go on, as without `--explain`.
fn explain_files(scorer: &Scorer, files: &[PathBuf], args: &PredictArgs) -> anyhow::Result<()> {
    let opts = args.how.options();
    let mut rows = Vec::new();
    let mut failed = 0;
    for file in files {
        match super::explain::explain_file(scorer, file, &opts) {
            Ok(e) if args.json => {
                let mut row = json_row(file, &e.verdict);
                row["explanation"] = serde_json::to_value(&e)?;
                rows.push(row);
            }
            Ok(e) => print!("{}", super::explain::text(file, &e, args.how.top)),
            Err(err) => {
                eprintln!("{err:#}");
                failed += 1;
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be explained", files.len());
    }
    Ok(())
}

fn json_row(file: &Path, v: &Verdict) -> serde_json::Value {
    let probabilities: serde_json::Map<String, serde_json::Value> = v
        .probabilities
        .iter()
        .map(|(k, p)| (k.clone(), serde_json::json!(p)))
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "verdict": v.verdict,
        "probabilities": probabilities,
        "window": v.window,
        "windows": v.windows,
        "lines": v.lines,
    })
}

fn text_row(file: &Path, v: &Verdict) -> String {
    let mut probs = v.probabilities.clone();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shown: Vec<String> = probs
        .iter()
        .take(4)
        .map(|(k, p)| format!("{k} {p:.3}"))
        .collect();
    format!(
        "{}: {}  ({})  decided by window {}/{}, lines {}-{}",
        file.display(),
        v.verdict,
        shown.join(", "),
        v.window,
        v.windows,
        v.lines[0],
        v.lines[1]
    )
}
