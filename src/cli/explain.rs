//! `alambic explain`: a contract's verdict and the lines it comes from (`explain`).

use super::predict::device;
use alambic::explain::{ExplainOptions, Explanation, Method, explain};
use alambic::infer::{InferError, Scorer};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

/// How to explain: shared by `explain` and `predict --explain`.
#[derive(Args, Clone, Debug)]
pub struct ExplainFlags {
    /// windows (each window's logit), ig (integrated gradients) or grad (gradient × input).
    #[arg(long, default_value = "ig", value_parser = parse_method)]
    pub method: Method,
    /// Integrated-gradient steps (batched into passes of 16).
    #[arg(long, default_value_t = 16)]
    pub steps: usize,
    /// How many of the best lines to print.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// The class to explain (default: the verdict's).
    #[arg(long)]
    pub class: Option<String>,
}

impl ExplainFlags {
    pub fn options(&self) -> ExplainOptions {
        ExplainOptions {
            method: self.method,
            steps: self.steps,
            class: self.class.clone(),
        }
    }
}

pub fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

#[derive(Args)]
pub struct ExplainArgs {
    /// A run folder (or a model source with --config).
    #[arg(long)]
    pub model: String,
    /// The contract (.sol or any text file).
    pub contract: PathBuf,
    #[command(flatten)]
    pub how: ExplainFlags,
    /// Every line's score as JSON.
    #[arg(long)]
    pub json: bool,
    /// Config for a model source that is not a run folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// cpu, cuda, cuda:N (default: the run's config).
    #[arg(long)]
    pub device: Option<String>,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let scorer = Scorer::open(&args.model, args.config.as_deref(), device(&args.device)?)?;
    let e = explain_file(&scorer, &args.contract, &args.how.options())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", text(&args.contract, &e, args.how.top));
    }
    Ok(())
}

/// A file's explanation; an unreadable or empty file is an error naming it.
pub fn explain_file(
    scorer: &Scorer,
    file: &Path,
    opts: &ExplainOptions,
) -> anyhow::Result<Explanation> {
    let raw = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read it; UTF-8 text expected", file.display()))?;
    match explain(scorer, &raw, opts) {
        Err(InferError::Input(why)) => anyhow::bail!("{}: {why}", file.display()),
        other => other.with_context(|| file.display().to_string()),
    }
}

/// The verdict line and the best lines, numbered as in the file.
pub fn text(file: &Path, e: &Explanation, top: usize) -> String {
    let v = &e.verdict;
    let p = v.probability();
    let mut out = format!(
        "{}: {} {p:.3}  (lines for `{}` by {}{})\n",
        file.display(),
        v.verdict,
        e.class,
        e.method,
        match e.method {
            Method::Ig => format!(
                ", {} steps, completeness gap {:.3}",
                e.steps,
                e.delta.unwrap_or(0.0)
            ),
            _ => String::new(),
        }
    );
    let best = e.top(top);
    let width = best
        .iter()
        .map(|l| l.line)
        .max()
        .unwrap_or(1)
        .to_string()
        .len();
    for l in best {
        out.push_str(&format!(
            "  {:>width$}  {:>+8.3}  {}\n",
            l.line,
            l.score,
            l.text.trim()
        ));
    }
    out
}
