//! Runs on the unlabelled corpus (`alambic pretrain`, general distillation) in the report:
//! they have no test split and no macro-F1, so they get their own section — what was read,
//! for how long, and what the held-out windows say before and after.

use super::page::{Block, Cell, Figure, Section, Table};
use super::plots::{self, Line};
use super::{Curves, ReportError, folder_name};
use crate::store::schema::{HeldOutScores, PretrainSummary};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct CorpusRun {
    pub path: PathBuf,
    pub name: String,
    pub summary: PretrainSummary,
    pub config: String,
    pub device: Option<String>,
    pub loss: Vec<(f64, f64)>,
    /// Held-out loss at each validation (step 0 included when the run started there).
    pub valid_loss: Vec<(f64, f64)>,
}

impl CorpusRun {
    /// `masked LM` or `general distillation`: how the section names the objective.
    pub fn objective(&self) -> &'static str {
        match self.summary.objective.as_str() {
            "general" => "general distillation",
            _ => "masked LM",
        }
    }
}

/// A finished corpus run: its `pretrain.json`, curves from `events.jsonl`.
pub fn read(path: &Path) -> Result<CorpusRun, ReportError> {
    let summary = PretrainSummary::read(path).map_err(|e| ReportError::Invalid(e.to_string()))?;
    let curves = Curves::read(path, "loss");
    Ok(CorpusRun {
        path: path.to_path_buf(),
        name: folder_name(path),
        config: std::fs::read_to_string(path.join("config.toml")).unwrap_or_default(),
        device: crate::store::run_dir::read_info(path).and_then(|i| i.device),
        summary,
        loss: curves.loss,
        valid_loss: curves.valid,
    })
}

fn perplexity(s: Option<&HeldOutScores>) -> String {
    s.and_then(|s| s.perplexity)
        .map_or("–".into(), |p| format!("{p:.1}"))
}

fn accuracy(s: Option<&HeldOutScores>) -> String {
    s.and_then(|s| s.masked_accuracy)
        .map_or("–".into(), |a| format!("{a:.3}"))
}

fn loss(s: Option<&HeldOutScores>) -> String {
    s.map_or("–".into(), |s| format!("{:.4}", s.loss))
}

fn table(runs: &[CorpusRun]) -> Table {
    let header = [
        "run",
        "objective",
        "model",
        "steps",
        "tokens",
        "tokens/s",
        "minutes",
        "held-out loss before → best",
        "perplexity before → best",
        "masked accuracy before → best",
    ];
    let rows = runs
        .iter()
        .map(|r| {
            let s = &r.summary;
            let before = s.before.as_ref();
            vec![
                Cell::head(&r.name),
                Cell::name(r.objective()),
                Cell::name(&s.model),
                Cell::num(s.steps.to_string()),
                Cell::num(format!("{:.2} M", s.tokens as f64 / 1e6)),
                Cell::num(format!("{:.0}", s.tokens_per_s)),
                Cell::num(format!("{:.1}", s.train_seconds / 60.0)),
                Cell::num(format!("{} → {}", loss(before), loss(Some(&s.best)))),
                Cell::num(format!(
                    "{} → {}",
                    perplexity(before),
                    perplexity(Some(&s.best))
                )),
                Cell::num(format!(
                    "{} → {}",
                    accuracy(before),
                    accuracy(Some(&s.best))
                )),
            ]
        })
        .collect();
    Table {
        header: header.iter().map(|h| Cell::name(*h)).collect(),
        rows,
    }
}

fn curve(i: usize, run: &CorpusRun) -> Block {
    let lines = [
        Line {
            name: "training loss",
            points: &run.loss,
        },
        Line {
            name: "held-out loss",
            points: &run.valid_loss,
        },
    ];
    Block::Figure(Figure {
        name: format!("corpus-{}-loss", i + 1),
        svg: plots::lines(
            &format!("{} ({}) — loss", run.name, run.objective()),
            "optimizer step",
            "loss",
            &lines,
        ),
        caption: None,
        series: Some(lines.len()),
    })
}

/// The section; empty (and left out of the page) when no corpus run is in the report.
pub fn section(runs: &[CorpusRun]) -> Option<Section> {
    if runs.is_empty() {
        return None;
    }
    let mut blocks = vec![
        Block::Text(
            "Runs on the unlabelled corpus: no labels, so no macro-F1. Their held-out windows \
             (contracts set aside by group) are scored before the first step and at each \
             validation; the best checkpoint, by held-out loss, is what a later run starts from."
                .into(),
        ),
        Block::Table(table(runs)),
    ];
    for r in runs {
        let s = &r.summary;
        blocks.push(Block::Text(format!(
            "{}: {} of {} on {} — {} training windows an epoch, {} held out; best at step {} of \
             {}{}.",
            r.name,
            r.objective(),
            s.model,
            s.corpus,
            s.train_windows,
            s.valid_windows,
            s.best_step,
            s.steps,
            r.device
                .as_deref()
                .map(|d| format!(", on {d}"))
                .unwrap_or_default()
        )));
    }
    blocks.extend(runs.iter().enumerate().map(|(i, r)| curve(i, r)));
    blocks.extend(runs.iter().map(|r| Block::Details {
        summary: format!("{} — config", r.name),
        text: r.config.clone(),
    }));
    Some(Section {
        id: "corpus",
        title: "Pretraining on the corpus".into(),
        blocks,
    })
}
