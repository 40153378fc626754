//! `alambic eval --localisation`: on a dataset whose records carry the lines of their bugs
//! (`bug_lines`, 1-based, in the cleaned code), how often each method's top lines hold one.

use super::localise::{HitTally, Hits, longest_lines, random_hit_chance};
use super::{ExplainOptions, LineScore, Method, explain_reading};
use crate::data::{Dataset, Record, Task};
use crate::infer::evaluate::split_names;
use crate::infer::{InferError, Scorer};
use serde::Serialize;
use std::path::Path;

/// The record field that names the lines of a contract's bug.
pub const BUG_LINES: &str = "bug_lines";

#[derive(Clone, Debug, Serialize)]
pub struct MethodHits {
    pub method: Method,
    #[serde(flatten)]
    pub hits: Hits,
    /// Wall-clock seconds per contract (a measurement, not a test figure).
    pub seconds_per_contract: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Localisation {
    pub split: String,
    /// Records of the split with at least one bug line.
    pub annotated: usize,
    /// Of those, the ones the model flags with their own (vulnerable) class: the scored ones.
    pub flagged: usize,
    pub methods: Vec<MethodHits>,
    /// Lines drawn at random among those the model read (the exact expectation).
    pub random: Hits,
    /// The longest lines first.
    pub longest: Hits,
}

/// The bug lines of a record; a field that is not a list of positive integers is an error
/// naming the record.
pub fn bug_lines(r: &Record, data: &Path) -> Result<Vec<usize>, InferError> {
    let Some(v) = r.extra.get(BUG_LINES) else {
        return Ok(Vec::new());
    };
    let bad = || {
        InferError::Invalid(format!(
            "{} line {} (record `{}`): `{BUG_LINES}` must be a list of 1-based line numbers, got {v}",
            data.display(),
            r.line,
            r.id
        ))
    };
    match v {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(bad)
            })
            .collect(),
        _ => Err(bad()),
    }
}

pub fn localisation(
    scorer: &Scorer,
    data: &Path,
    split: &str,
    methods: &[Method],
    steps: usize,
) -> Result<Localisation, InferError> {
    let mut cfg = scorer.cfg.dataset.clone();
    cfg.file = data.to_path_buf();
    let ds = Dataset::prepare(&cfg)?;
    let splits = split_names(split)?;
    let mut annotated = Vec::new();
    for r in ds
        .records
        .iter()
        .filter(|r| r.split.is_some_and(|s| splits.contains(&s)))
    {
        let lines = bug_lines(r, data)?;
        if !lines.is_empty() {
            annotated.push((r, lines));
        }
    }
    if annotated.is_empty() {
        return Err(InferError::Invalid(format!(
            "{}: no record of split `{split}` has `{BUG_LINES}`",
            data.display()
        )));
    }
    let mut tallies = vec![HitTally::default(); methods.len()];
    let mut seconds = vec![0f64; methods.len()];
    let (mut random, mut longest) = (HitTally::default(), HitTally::default());
    for (r, bugs) in &annotated {
        let started = std::time::Instant::now();
        let reading = scorer.read(&r.code)?;
        let read_seconds = started.elapsed().as_secs_f64();
        if !flags_own_class(r, &reading.verdict.verdict, ds.task, &cfg.safe_label) {
            continue;
        }
        for (m, method) in methods.iter().enumerate() {
            let opts = ExplainOptions {
                method: *method,
                steps,
                class: None,
            };
            let started = std::time::Instant::now();
            let e = explain_reading(scorer, &r.code, &reading, &opts)?;
            // Each method's time includes the read it shares with the others.
            seconds[m] += read_seconds + started.elapsed().as_secs_f64();
            tallies[m].add_ranking(&e.top_lines(3), bugs);
            if m == 0 {
                add_baselines(&e.lines, bugs, &mut random, &mut longest);
            }
        }
    }
    let contracts = random.n.max(1) as f64;
    Ok(Localisation {
        split: split.to_string(),
        annotated: annotated.len(),
        flagged: random.n,
        methods: methods
            .iter()
            .zip(&tallies)
            .zip(&seconds)
            .map(|((&method, t), s)| MethodHits {
                method,
                hits: t.hits(),
                seconds_per_contract: s / contracts,
            })
            .collect(),
        random: random.hits(),
        longest: longest.hits(),
    })
}

/// What a random line among those the model read, and the longest line, would score.
fn add_baselines(
    lines: &[LineScore],
    bugs: &[usize],
    random: &mut HitTally,
    longest: &mut HitTally,
) {
    let read: Vec<usize> = lines
        .iter()
        .filter(|l| l.tokens > 0)
        .map(|l| l.line)
        .collect();
    let bugs_read = bugs.iter().filter(|b| read.contains(b)).count();
    random.add(
        random_hit_chance(read.len(), bugs_read, 1),
        random_hit_chance(read.len(), bugs_read, 3),
    );
    longest.add_ranking(&longest_lines(lines), bugs);
}

/// Whether the verdict is the record's own vulnerable class (for multi-label: one of them).
fn flags_own_class(r: &Record, verdict: &str, task: Task, safe: &str) -> bool {
    match task {
        Task::Multilabel => r.labels.iter().any(|l| l == verdict),
        _ => r.label == verdict && r.label != safe,
    }
}
