//! The sweep's state at a glance (`sweep status`) and its end: the best cell chosen on the
//! validation objective, then scored on test, alone, into `summary.json`.

use super::SweepError;
use super::cells::{self, CellEvent, CellState};
use super::claim::{Attempt, try_claim};
use super::folder::{SweepDir, cell_name};
use super::spec::plain;
use crate::store::{RunDir, write_atomic};
use crate::train::trainer::score_run;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A dotted path into a JSON object (`best.test.macro_f1`) as a number.
pub fn lookup(summary: &Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(summary, |v, key| v.get(key))
        .and_then(Value::as_f64)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStatus {
    pub index: usize,
    pub label: String,
    /// `pending`, `running`, `finished`, `failed`, `stopped`, `taken_over`.
    pub state: String,
    pub objective: Option<f64>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepStatus {
    pub objective: String,
    pub maximize: bool,
    pub axes: Vec<(String, Vec<String>)>,
    pub cells: Vec<CellStatus>,
    /// Index of the best finished cell so far.
    pub best: Option<usize>,
}

impl SweepStatus {
    /// How good `v` is among the finished cells: 0 the worst, 1 the best (either direction),
    /// for heat maps; 1 when they all tie.
    pub fn goodness(&self, v: f64) -> f64 {
        let done = self
            .cells
            .iter()
            .filter(|c| c.state == "finished")
            .filter_map(|c| c.objective);
        let (lo, hi) = done.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let x = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
        if self.maximize { x } else { 1.0 - x }
    }
}

pub fn status(sweep: &SweepDir) -> SweepStatus {
    let latest = cells::latest(&cells::read(&sweep.cells_log()));
    let cells: Vec<CellStatus> = sweep
        .spec
        .cells
        .iter()
        .map(|c| {
            let e: Option<&CellEvent> = latest.get(&c.index);
            CellStatus {
                index: c.index,
                label: c.label(),
                state: e.map_or("pending".into(), |e| {
                    serde_json::to_value(e.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                }),
                objective: e.and_then(|e| e.objective),
                error: e.and_then(|e| e.error.clone()),
            }
        })
        .collect();
    let maximize = sweep.spec.maximize;
    let best = cells
        .iter()
        .filter(|c| c.state == "finished")
        .filter_map(|c| c.objective.map(|o| (c.index, o)))
        .max_by(|a, b| {
            let ord = a.1.total_cmp(&b.1);
            // Ties go to the earlier cell.
            (if maximize { ord } else { ord.reverse() }).then(b.0.cmp(&a.0))
        })
        .map(|(i, _)| i);
    SweepStatus {
        objective: sweep.spec.objective.clone(),
        maximize,
        axes: sweep
            .spec
            .axes
            .iter()
            .map(|a| (a.key.clone(), a.values.iter().map(plain).collect()))
            .collect(),
        cells,
        best,
    }
}

/// The grid as text: rows the first axis, columns the second, each cell its objective (`run`
/// while running, `FAIL`, `stop`, `·` pending; `*` marks the best); other shapes as a list.
pub fn render(s: &SweepStatus) -> String {
    let mark = |c: &CellStatus| {
        let best = if s.best == Some(c.index) { "*" } else { "" };
        match c.state.as_str() {
            "finished" => c
                .objective
                .map_or("done".into(), |o| format!("{o:.4}{best}")),
            "failed" => "FAIL".into(),
            "running" | "taken_over" => "run".into(),
            "stopped" => "stop".into(),
            _ => "·".into(),
        }
    };
    let mut out = String::new();
    let two = s.axes.len() == 2 && s.axes[0].1.len() * s.axes[1].1.len() == s.cells.len();
    if two || s.axes.len() == 1 && s.axes[0].1.len() == s.cells.len() {
        let short = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        let (row_axis, cols): (&(String, Vec<String>), Vec<String>) = if two {
            (&s.axes[0], s.axes[1].1.clone())
        } else {
            (&s.axes[0], vec![String::new()])
        };
        let corner = if two {
            format!("{} \\ {}", short(&row_axis.0), short(&s.axes[1].0))
        } else {
            short(&row_axis.0)
        };
        out += &format!("{corner:>18}");
        for c in &cols {
            out += &format!(" {c:>10}");
        }
        out += "\n";
        for (r, rv) in row_axis.1.iter().enumerate() {
            out += &format!("{rv:>18}");
            for col in 0..cols.len() {
                let cell = &s.cells[r * cols.len() + col];
                out += &format!(" {:>10}", mark(cell));
            }
            out += "\n";
        }
    } else {
        for c in &s.cells {
            out += &format!(
                "{:<10} {:<40} {:>10}\n",
                cell_name(c.index),
                c.label,
                mark(c)
            );
        }
    }
    for c in s.cells.iter().filter(|c| c.state == "failed") {
        out += &format!(
            "failed: {} {}: {}\n",
            cell_name(c.index),
            c.label,
            c.error.as_deref().unwrap_or("")
        );
    }
    match s.best.and_then(|b| s.cells.get(b)) {
        Some(c) => {
            out += &format!(
                "best: {} {} {}={:.4}\n",
                cell_name(c.index),
                c.label,
                s.objective,
                c.objective.unwrap_or(f64::NAN)
            );
        }
        None => out += "best: none yet\n",
    }
    out
}

/// The best cell of the summary: scored on test (a distillation), or its held-out scores
/// before and after (a run on the corpus, which has no test split).
fn best_cell(sweep: &SweepDir, s: &SweepStatus, index: usize) -> Result<Value, SweepError> {
    let cell = &sweep.spec.cells[index];
    let dir = sweep.cell_dir(index);
    let mut best = json!({
        "cell": index,
        "label": cell.label(),
        "values": cell.values.iter().map(|(k, v)| (k.clone(), plain(v))).collect::<BTreeMap<_, _>>(),
        "objective": s.cells[index].objective,
        "run": dir,
    });
    if sweep.runs.on_corpus() {
        let summary = crate::store::schema::PretrainSummary::read(&dir)
            .map_err(|e| SweepError::Invalid(e.to_string()))?;
        best["before"] = json!(summary.before);
        best["held_out"] = json!(summary.best);
    } else {
        let cfg = sweep.config(cell)?;
        let run = RunDir::open(&dir, "distill", false)?;
        let scored = score_run(&cfg, &run, "distill")?;
        best["valid"] = json!(scored.valid);
        best["test"] = json!(scored.test);
    }
    Ok(best)
}

/// When every cell has finished or failed and no summary exists yet: the best cell on the
/// validation objective, scored on test (the only test scoring of the sweep).
pub fn finish_if_complete(sweep: &SweepDir) -> Result<Option<Value>, SweepError> {
    let file = sweep.path.join("summary.json");
    let s = status(sweep);
    let complete = s
        .cells
        .iter()
        .all(|c| c.state == "finished" || c.state == "failed");
    if !complete || file.is_file() {
        return Ok(None);
    }
    let Attempt::Claimed(_claim) = try_claim(&sweep.claims(), "summary", sweep.spec.stale_after)?
    else {
        return Ok(None);
    };
    let events = cells::read(&sweep.cells_log());
    let started = events.first().map_or(0.0, |e| e.time);
    let ended = events.last().map_or(0.0, |e| e.time);
    let cell_seconds: BTreeMap<usize, f64> = {
        let mut first: BTreeMap<usize, f64> = BTreeMap::new();
        let mut spans = BTreeMap::new();
        for e in &events {
            match e.state {
                CellState::Running => {
                    first.entry(e.cell).or_insert(e.time);
                }
                CellState::Finished | CellState::Failed => {
                    if let Some(t) = first.get(&e.cell) {
                        spans.insert(e.cell, e.time - t);
                    }
                }
                _ => {}
            }
        }
        spans
    };
    let best = match s.best {
        Some(index) => best_cell(sweep, &s, index)?,
        None => Value::Null,
    };
    let teacher = crate::store::schema::TeacherPass::read(&sweep.path).ok();
    let summary = json!({
        "objective": s.objective,
        "direction": if s.maximize { "max" } else { "min" },
        "cells": s.cells,
        "cell_seconds": cell_seconds,
        "wall_seconds": ended - started,
        "teacher": teacher,
        "best": best,
    });
    write_atomic(
        &file,
        serde_json::to_string_pretty(&summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(Some(summary))
}
