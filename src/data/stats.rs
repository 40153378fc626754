//! What `alambic data stats` reports: class counts per split, token lengths, windows,
//! truncation loss, duplicates and leakage. Plain data, printable as text or JSON.

use super::labels::LabelReport;
use super::leakage::{self, LeakPair};
use super::read::BadRecord;
use super::{Dataset, Split, Task};
use crate::tokenize::{TextTokenizer, TokenizeError, WindowSpec, window_count};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassRow {
    pub class: String,
    /// Records whose primary label (or binary label) is this class: train, valid, test.
    pub splits: [usize; 3],
    pub total: usize,
    /// Records listing the class among their labels (multi-label view).
    pub any: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenStats {
    pub tokenizer: String,
    pub max_len: usize,
    pub stride: usize,
    /// Content tokens per contract, special tokens excluded.
    pub min: usize,
    pub p10: usize,
    pub median: usize,
    pub mean: f64,
    pub p90: usize,
    pub p99: usize,
    pub max: usize,
    /// Share of contracts that fit in one window.
    pub fit_share: f64,
    /// Share of all content tokens that plain truncation to `max_len` would drop.
    pub truncation_loss: f64,
    pub windows_total: usize,
    pub windows_mean: f64,
    pub windows_median: usize,
    pub windows_max: usize,
    /// `(low, high, count)`: lengths in `[low, high)`.
    pub histogram: Vec<(usize, usize, usize)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DuplicateStats {
    pub exact_groups: usize,
    pub exact_records: usize,
    pub near_groups: usize,
    pub near_records: usize,
    pub groups_total: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataStats {
    pub file: String,
    pub task: Task,
    pub records: usize,
    pub split_source: Option<String>,
    pub split_totals: [usize; 3],
    pub classes: Vec<ClassRow>,
    pub skipped_bad: Vec<BadRecord>,
    pub labels: LabelReport,
    pub changed_by_cleaning: usize,
    pub tokens: Option<TokenStats>,
    pub duplicates: Option<DuplicateStats>,
    pub leakage: Vec<LeakPair>,
}

pub fn compute(ds: &Dataset) -> DataStats {
    let mut classes: Vec<ClassRow> = ds
        .classes
        .iter()
        .map(|c| ClassRow {
            class: c.clone(),
            splits: [0; 3],
            total: 0,
            any: 0,
        })
        .collect();
    let mut split_totals = [0usize; 3];
    for r in &ds.records {
        let split = r.split.filter(|s| *s != Split::Unlabeled).map(Split::index);
        if let Some(s) = split {
            split_totals[s] += 1;
        }
        if let Some(row) = classes.iter_mut().find(|row| row.class == r.label) {
            row.total += 1;
            if let Some(s) = split {
                row.splits[s] += 1;
            }
        }
        for l in &r.labels {
            if let Some(row) = classes.iter_mut().find(|row| &row.class == l) {
                row.any += 1;
            }
        }
    }
    let splits: Vec<Option<Split>> = ds.records.iter().map(|r| r.split).collect();
    DataStats {
        file: ds.path.display().to_string(),
        task: ds.task,
        records: ds.records.len(),
        split_source: ds.split_source.map(String::from),
        split_totals,
        classes,
        skipped_bad: ds.skipped.clone(),
        labels: ds.label_report.clone(),
        changed_by_cleaning: ds.changed_by_cleaning,
        tokens: None,
        duplicates: ds.duplicates.as_ref().map(|d| {
            let (exact_groups, exact_records) = d.exact_summary();
            let (near_groups, near_records) = d.near_summary();
            DuplicateStats {
                exact_groups,
                exact_records,
                near_groups,
                near_records,
                groups_total: d.near_group_count(),
            }
        }),
        leakage: ds
            .duplicates
            .as_ref()
            .map(|d| leakage::report(&splits, d))
            .unwrap_or_default(),
    }
}

pub fn token_stats(
    ds: &Dataset,
    tokenizer: &TextTokenizer,
    spec: WindowSpec,
) -> Result<TokenStats, TokenizeError> {
    let (body, step) = spec.body_and_step(tokenizer.special_count())?;
    let texts: Vec<&str> = ds.records.iter().map(|r| r.code.as_str()).collect();
    let mut lengths = tokenizer.count_tokens(&texts)?;
    lengths.sort_unstable();
    let mut windows: Vec<usize> = lengths
        .iter()
        .map(|&n| window_count(n, body, step))
        .collect();
    windows.sort_unstable();
    let total: usize = lengths.iter().sum();
    let lost: usize = lengths.iter().map(|&n| n.saturating_sub(body)).sum();
    let n = lengths.len().max(1) as f64;
    Ok(TokenStats {
        tokenizer: tokenizer.source.clone(),
        max_len: spec.max_len,
        stride: spec.stride,
        min: percentile(&lengths, 0.0),
        p10: percentile(&lengths, 0.10),
        median: percentile(&lengths, 0.5),
        mean: total as f64 / n,
        p90: percentile(&lengths, 0.90),
        p99: percentile(&lengths, 0.99),
        max: percentile(&lengths, 1.0),
        fit_share: lengths.iter().filter(|&&l| l <= body).count() as f64 / n,
        truncation_loss: if total == 0 {
            0.0
        } else {
            lost as f64 / total as f64
        },
        windows_total: windows.iter().sum(),
        windows_mean: windows.iter().sum::<usize>() as f64 / n,
        windows_median: percentile(&windows, 0.5),
        windows_max: percentile(&windows, 1.0),
        histogram: histogram(&lengths),
    })
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[usize], q: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Power-of-two buckets `[0, 32)`, `[32, 64)`, `[64, 128)`… up to the longest contract: each
/// reads as a whole range (32-63, 64-127), and `max_len` falls in the bucket of its power.
fn histogram(sorted: &[usize]) -> Vec<(usize, usize, usize)> {
    let max = sorted.last().copied().unwrap_or(0);
    let mut edges = vec![0, 32];
    while *edges.last().unwrap_or(&32) <= max {
        let high = edges.last().copied().unwrap_or(32) * 2;
        edges.push(high);
    }
    let mut buckets: Vec<(usize, usize, usize)> =
        edges.windows(2).map(|w| (w[0], w[1], 0)).collect();
    for &l in sorted {
        if let Some(b) = buckets.iter_mut().find(|b| l >= b.0 && l < b.1) {
            b.2 += 1;
        }
    }
    // From the shortest contract's bucket on: empty rows of short lengths say nothing.
    let first = buckets.iter().position(|b| b.2 > 0).unwrap_or(0);
    buckets.split_off(first)
}

/// A bucket `[low, high)` as the lengths it holds: `32-63`.
pub fn bin_label(low: usize, high: usize) -> String {
    format!("{low}-{}", high.saturating_sub(1))
}

impl DataStats {
    /// The text report of `alambic data stats`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "dataset  {}", self.file);
        let _ = writeln!(
            s,
            "task     {:?}   records {}   splits from {}",
            self.task,
            self.records,
            self.split_source.as_deref().unwrap_or("-")
        );
        if !self.skipped_bad.is_empty() {
            let _ = writeln!(s, "skipped  {} bad records", self.skipped_bad.len());
            for b in self.skipped_bad.iter().take(5) {
                let _ = writeln!(s, "         line {}: {}", b.line, b.reason);
            }
        }
        for (from, to, n) in &self.labels.merged {
            let _ = writeln!(s, "merged   {from} -> {to} ({n} records)");
        }
        for (class, n) in &self.labels.dropped {
            let _ = writeln!(s, "dropped  {class} ({n} records)");
        }
        if self.changed_by_cleaning > 0 {
            let _ = writeln!(s, "cleaned  {} contracts changed", self.changed_by_cleaning);
        }
        self.render_classes(&mut s);
        if let Some(t) = &self.tokens {
            render_tokens(t, &mut s);
        }
        if let Some(d) = &self.duplicates {
            let _ = writeln!(
                s,
                "\nduplicates  exact: {} groups ({} records)   near: {} groups ({} records)   \
                 {} groups in all",
                d.exact_groups, d.exact_records, d.near_groups, d.near_records, d.groups_total
            );
        }
        if !self.leakage.is_empty() {
            let _ = writeln!(
                s,
                "leakage     (records of the second split with a duplicate in the first)"
            );
            for l in &self.leakage {
                let _ = writeln!(
                    s,
                    "  {:>5} -> {:<5}  exact {:>4}   near {:>4}",
                    l.from.name(),
                    l.to.name(),
                    l.exact,
                    l.near
                );
            }
        }
        s
    }

    fn render_classes(&self, s: &mut String) {
        let width = self
            .classes
            .iter()
            .map(|c| c.class.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "\n{:<width$}  {:>6} {:>6} {:>6} {:>6} {:>6}  {:>6}",
            "class", "train", "valid", "test", "total", "%", "any"
        );
        let n = self.records.max(1) as f64;
        for c in &self.classes {
            let _ = writeln!(
                s,
                "{:<width$}  {:>6} {:>6} {:>6} {:>6} {:>5.1}%  {:>6}",
                c.class,
                c.splits[0],
                c.splits[1],
                c.splits[2],
                c.total,
                100.0 * c.total as f64 / n,
                c.any
            );
        }
        let _ = writeln!(
            s,
            "{:<width$}  {:>6} {:>6} {:>6} {:>6}",
            "all", self.split_totals[0], self.split_totals[1], self.split_totals[2], self.records
        );
    }
}

fn render_tokens(t: &TokenStats, s: &mut String) {
    let _ = writeln!(
        s,
        "\ntokens ({}; max_len {}, stride {})",
        t.tokenizer, t.max_len, t.stride
    );
    let _ = writeln!(
        s,
        "  min {}  p10 {}  median {}  mean {:.0}  p90 {}  p99 {}  max {}",
        t.min, t.p10, t.median, t.mean, t.p90, t.p99, t.max
    );
    let _ = writeln!(
        s,
        "  fit in one window {:.1}%   truncation would lose {:.1}% of tokens",
        100.0 * t.fit_share,
        100.0 * t.truncation_loss
    );
    let _ = writeln!(
        s,
        "  windows: {} in all, mean {:.2}, median {}, max {} per contract",
        t.windows_total, t.windows_mean, t.windows_median, t.windows_max
    );
    let peak = t.histogram.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for &(low, high, count) in &t.histogram {
        let label = bin_label(low, high);
        let bar = "#".repeat((40 * count).div_ceil(peak).min(40));
        let _ = writeln!(s, "  {label:>12} {count:>6} {bar}");
    }
}
