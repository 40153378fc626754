//! The command line: clap definitions and the glue from arguments to the engine.

mod bench;
mod check;
mod data;
mod explain;
mod model;
mod predict;
mod progress;
mod sweep;
mod train;

use anyhow::{Context, Result};
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
    /// Masked-language modelling of [teacher].model on the unlabelled corpus of
    /// [pretrain].corpus (domain-adaptive pretraining); the run folder is then a model source.
    Pretrain(train::TrainArgs),
    /// A grid of distillations over any config keys (alpha × temperature by default),
    /// resumable, shared by any number of workers; `sweep status DIR`, `sweep slurm DIR`.
    Sweep(sweep::SweepArgs),
    /// One self-contained HTML page (inline SVG, no script) from run and sweep folders:
    /// dataset, curves, teacher vs students, confusion matrices, sweep grid, frontier, configs.
    Report(ReportArgs),
    /// Training-step and inference samples/s, peak memory and tokenizer throughput, as JSON
    /// with the machine (compare with ../shared/bench/torch_baseline.py: scripts/bench-vs-torch).
    Bench(bench::BenchArgs),
    /// The golden checks on a device: models, loss terms and AdamW against PyTorch's numbers,
    /// every variable's gradient, resume equivalence (what a GPU machine runs).
    Check(check::CheckArgs),
    /// Score a model (a run folder or any model source) on a dataset.
    Eval(predict::EvalArgs),
    /// A finished run's best checkpoint with its encoder's dense layers in int8 (per-channel
    /// weights, activations per row), as a new run folder scored on the same splits.
    Quantize {
        /// The finished run folder.
        run: std::path::PathBuf,
        /// The run folder to write (must not exist).
        #[arg(short, long)]
        out: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Verdicts for .sol files, with class probabilities and the window that decided.
    Predict(predict::PredictArgs),
    /// A contract's verdict and the source lines it comes from (window scores, integrated
    /// gradients or gradient × input), best first; --json gives every line's score.
    Explain(explain::ExplainArgs),
    /// The workbench (what `alambic` alone opens, on data/demo.toml): dataset, training,
    /// compare and sweep panes; attaches to run and sweep folders given as arguments.
    Tui(TuiArgs),
    /// List run folders: role, status (running, finished, failed, stopped, dead), best F1.
    Runs {
        #[arg(default_value = "runs")]
        dir: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

const DEMO_CONFIG: &str = "data/demo.toml";

fn quantize(run: &std::path::Path, out: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let r = alambic::train::quantize::quantize_run(run, out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let share = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1} %", 100.0 * v));
    let f1 = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    println!(
        "wrote {}: {} dense layers in int8 ({} kernel), weights {:.1} MB -> {:.1} MB\n\
         verdicts as f32's: valid {}, test {}; test macro-F1 {} -> {}",
        out.display(),
        r.layers,
        r.kernel,
        r.f32_mb,
        r.int8_mb,
        share(r.agreement_valid),
        share(r.agreement_test),
        f1(r.test_macro_f1_f32),
        f1(r.test_macro_f1_int8),
    );
    Ok(())
}

#[derive(clap::Args, Default)]
pub struct TuiArgs {
    /// Experiment config: the dataset shown and the runs started from the TUI.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Theme: a file themes/NAME.toml or dark, light, monochrome (NO_COLOR selects monochrome).
    #[arg(long)]
    pub theme: Option<String>,
    /// Draw charts and borders with ASCII only (for terminals and fonts without box glyphs).
    #[arg(long)]
    pub ascii: bool,
    /// Where runs are listed and started.
    #[arg(long, default_value = "runs")]
    pub runs: std::path::PathBuf,
    /// Run folders, sweep folders or folders of runs to follow.
    pub paths: Vec<std::path::PathBuf>,
}

fn tui(args: TuiArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the workbench needs a terminal (stdout is not one). Headless, the same engine runs as:\n  \
             alambic train|distill|sweep --config FILE   (progress as plain lines)\n  \
             alambic runs [DIR]   ·   alambic sweep status DIR   ·   alambic data stats FILE"
        );
    }
    let config = args.config.filter(|c| {
        // `alambic` alone outside the repository: open without the demo config.
        c.as_os_str() != DEMO_CONFIG || c.is_file()
    });
    let opts = alambic::tui::Options {
        config,
        paths: args.paths,
        theme: args.theme,
        ascii: args.ascii,
        runs_dir: if args.runs.as_os_str().is_empty() {
            "runs".into()
        } else {
            args.runs
        },
    };
    alambic::tui::run(&opts)?;
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Data(cmd)) => data::run(cmd),
        Some(Command::Model(cmd)) => model::run(cmd),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Distill(args)) => train::distill(args),
        Some(Command::Pretrain(args)) => train::pretrain(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Eval(args)) => predict::eval(args),
        Some(Command::Quantize { run, out, json }) => quantize(&run, &out, json),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Predict(args)) => predict::predict(args),
        Some(Command::Explain(args)) => explain::run(args),
        Some(Command::Runs { dir, json }) => train::list(&dir, json),
        Some(Command::Tui(args)) => tui(args),
        Some(Command::Report(args)) => report(args),
        None => tui(TuiArgs {
            config: Some(std::path::PathBuf::from(DEMO_CONFIG)),
            ..TuiArgs::default()
        }),
    }
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run folders and sweep folders.
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
    /// The page to write (default report.html, or report.md with --markdown).
    #[arg(short, long)]
    out: Option<std::path::PathBuf>,
    #[arg(long, default_value = "Alambic — weekly report")]
    title: String,
    /// The same content as Markdown, its plots as SVG files in `<name>_files/` beside it.
    #[arg(long)]
    markdown: bool,
    /// Line evidence of each run on its test contracts: ig, grad, windows, or none (kept in
    /// the run folder as evidence.json, so computed once).
    #[arg(long, default_value = "ig")]
    evidence: String,
    /// Integrated-gradient steps for the evidence.
    #[arg(long, default_value_t = 16)]
    evidence_steps: usize,
    /// Test contracts explained per run (the first, in dataset order).
    #[arg(long, default_value_t = 64)]
    evidence_contracts: usize,
}

fn report(args: ReportArgs) -> Result<()> {
    use alambic::report::{collect, html, markdown as md};
    use alambic::store::write_atomic;
    let ReportArgs {
        paths,
        out,
        title,
        markdown,
        ..
    } = &args;
    let (title, markdown, out) = (title.as_str(), *markdown, out.clone());
    // A typo is refused before any run is read.
    let method = match args.evidence.as_str() {
        "none" => None,
        other => Some(
            other
                .parse::<alambic::explain::Method>()
                .map_err(|e| anyhow::anyhow!("--evidence: {e} (or none)"))?,
        ),
    };
    let mut report = collect(paths)?;
    if let Some(method) = method {
        eprintln!(
            "explaining each run's first {} test contracts by {method} (kept in the run \
             folder as evidence.json; --evidence none skips)",
            args.evidence_contracts
        );
        report.attach_evidence(method, args.evidence_steps, args.evidence_contracts);
    }
    let default = if markdown { "report.md" } else { "report.html" };
    let out = out.unwrap_or_else(|| default.into());
    let (bytes, figures) = if markdown {
        let dir = md::files_dir(&out);
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let page = md::render(&report, title, &dir_name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, svg) in &page.files {
            write_atomic(&dir.join(name), svg.as_bytes())
                .with_context(|| format!("writing {}", dir.join(name).display()))?;
        }
        write_atomic(&out, page.text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        (page.text.len(), page.files.len())
    } else {
        let page = html::render(&report, title);
        write_atomic(&out, page.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        (page.len(), 0)
    };
    println!(
        "wrote {} ({} runs{}, {} sweeps, {:.0} kB{})",
        out.display(),
        report.runs.len(),
        match report.corpus_runs.len() {
            0 => String::new(),
            n => format!(" and {n} on the corpus"),
        },
        report.sweeps.len(),
        bytes as f64 / 1e3,
        if markdown {
            format!(", {figures} SVG files beside it")
        } else {
            String::new()
        }
    );
    Ok(())
}
