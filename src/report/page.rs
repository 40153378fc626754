//! The report's content as plain blocks (sections of text, tables, figures, collapsed configs),
//! built once from a [`Report`] and written by two renderers: `html` (one self-contained page)
//! and `markdown` (a `.md` with its SVG files beside it). Both show the same numbers because
//! neither computes any.

use super::plots::{self, Line};
use super::{DatasetSection, Report, RunData};
use crate::store::schema::RunSummary;
use crate::sweep::summary::SweepStatus;
use serde_json::Value;

pub struct Page {
    pub title: String,
    pub sections: Vec<Section>,
}

pub struct Section {
    /// Stable anchor (`dataset`, `curves`, …): tests and links rely on it.
    pub id: &'static str,
    pub title: String,
    pub blocks: Vec<Block>,
}

pub enum Block {
    Heading(String),
    Text(String),
    /// The sweep's best cell and its test score: one sentence readers look for.
    Highlight(String),
    Table(Table),
    Figure(Figure),
    /// A collapsed block of verbatim text (a config).
    Details {
        summary: String,
        text: String,
    },
}

pub struct Table {
    pub header: Vec<Cell>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Default)]
pub struct Cell {
    pub text: String,
    /// Left-aligned (names); numbers are right-aligned.
    pub left: bool,
    /// A row header (first column).
    pub head: bool,
    pub bold: bool,
    /// The one best sweep cell.
    pub best: bool,
    /// Heat-map background, `#rrggbb`.
    pub fill: Option<String>,
}

impl Cell {
    pub fn num(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
    pub fn name(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            left: true,
            ..Self::default()
        }
    }
    pub fn head(text: impl Into<String>) -> Self {
        Self {
            head: true,
            ..Self::name(text)
        }
    }
}

pub struct Figure {
    /// File stem when written beside a Markdown report.
    pub name: String,
    pub svg: String,
    pub caption: Option<String>,
    /// Series drawn (curves only), so a reader — or a test — can check none is missing.
    pub series: Option<usize>,
}

fn num(s: &RunSummary, path: &str) -> Option<f64> {
    s.number(path)
}

fn value_num(v: &Value, path: &str) -> Option<f64> {
    crate::sweep::summary::lookup(v, path)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// How a run is named on the frontier plots and in the tables: its number and role, short
/// enough to label a point.
pub fn short_name(i: usize, run: &RunData) -> String {
    format!("{} {}", i + 1, run.role)
}

pub fn build(r: &Report, title: &str) -> Page {
    let mut sections = vec![dataset(r)];
    sections.extend(super::corpus::section(&r.corpus_runs));
    sections.extend([
        curves(r),
        comparison(r),
        confusion(r),
        super::evidence::section(r),
        sweeps(r),
        frontier(r),
        configs(r),
    ]);
    Page {
        title: title.to_string(),
        sections,
    }
}

fn dataset(r: &Report) -> Section {
    let mut blocks = Vec::new();
    if r.datasets.is_empty() {
        blocks.push(Block::Text(
            "No dataset could be read from the runs' configs.".into(),
        ));
    }
    for (k, d) in r.datasets.iter().enumerate() {
        dataset_blocks(&mut blocks, k, d, r.datasets.len() > 1);
    }
    Section {
        id: "dataset",
        title: "Dataset".into(),
        blocks,
    }
}

fn dataset_blocks(blocks: &mut Vec<Block>, k: usize, d: &DatasetSection, several: bool) {
    let s = &d.stats;
    if several {
        blocks.push(Block::Heading(format!(
            "{} (runs {})",
            s.file,
            d.runs
                .iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    blocks.push(Block::Text(format!(
        "{} — {} contracts, task {:?}, splits {}.",
        s.file,
        s.records,
        s.task,
        s.split_source.as_deref().unwrap_or("–")
    )));
    let mut t = Table {
        header: ["class", "train", "valid", "test", "total", "%"]
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if i == 0 {
                    Cell::name(*h)
                } else {
                    Cell::num(*h)
                }
            })
            .collect(),
        rows: Vec::new(),
    };
    for c in &s.classes {
        t.rows.push(vec![
            Cell::name(&c.class),
            Cell::num(c.splits[0].to_string()),
            Cell::num(c.splits[1].to_string()),
            Cell::num(c.splits[2].to_string()),
            Cell::num(c.total.to_string()),
            Cell::num(format!(
                "{:.1}",
                100.0 * c.total as f64 / s.records.max(1) as f64
            )),
        ]);
    }
    blocks.push(Block::Table(t));
    if let Some(tk) = &s.tokens {
        let bins: Vec<(f64, f64)> = tk
            .histogram
            .iter()
            .map(|&(lo, hi, n)| ((lo + hi) as f64 / 2.0, n as f64))
            .collect();
        let top = bins.iter().map(|b| b.1).fold(0.0, f64::max);
        let cut = [(tk.max_len as f64, 0.0), (tk.max_len as f64, top)];
        let svg = plots::lines(
            "Token lengths per contract",
            "tokens per contract (bin centre)",
            "contracts",
            &[
                Line {
                    name: "contracts per length bin",
                    points: &bins,
                },
                Line {
                    name: "max_len (truncation)",
                    points: &cut,
                },
            ],
        );
        blocks.push(Block::Figure(Figure {
            name: format!("dataset-{}-token-lengths", k + 1),
            svg,
            caption: Some(format!(
                "Tokenizer {}: median {} tokens; {:.0}% of contracts fit in max_len {}; truncation would lose {:.0}% of tokens.",
                tk.tokenizer,
                tk.median,
                tk.fit_share * 100.0,
                tk.max_len,
                tk.truncation_loss * 100.0
            )),
            series: Some(2),
        }));
    }
    if let Some(dup) = &s.duplicates {
        let leaks: usize = s.leakage.iter().map(|p| p.exact + p.near).sum();
        blocks.push(Block::Text(format!(
            "Duplicates: {} exact groups ({} contracts), {} near groups ({} contracts). Contracts with a duplicate across splits: {leaks}.",
            dup.exact_groups, dup.exact_records, dup.near_groups, dup.near_records
        )));
    }
}

fn curves(r: &Report) -> Section {
    let mut blocks = Vec::new();
    for (i, run) in r.runs.iter().enumerate() {
        let mut lines = vec![Line {
            name: "loss",
            points: &run.loss,
        }];
        if run.terms.len() > 1 {
            for (k, v) in &run.terms {
                lines.push(Line { name: k, points: v });
            }
        }
        let svg = plots::lines(
            &format!("{} ({}) — loss and terms", run.name, run.role),
            "optimizer step",
            "loss (nats)",
            &lines,
        );
        blocks.push(Block::Figure(Figure {
            name: format!("run-{}-loss", i + 1),
            svg,
            caption: None,
            series: Some(lines.len()),
        }));
        if !run.valid_f1.is_empty() {
            let svg = plots::scores(
                &format!("{} — validation macro-F1", run.name),
                "optimizer step",
                "macro-F1",
                &[Line {
                    name: "valid macro-F1",
                    points: &run.valid_f1,
                }],
            );
            blocks.push(Block::Figure(Figure {
                name: format!("run-{}-valid-f1", i + 1),
                svg,
                caption: None,
                series: Some(1),
            }));
        }
        if !run.expert_load.is_empty() {
            blocks.push(expert_load_figure(i, run));
        }
    }
    Section {
        id: "curves",
        title: "Training curves".into(),
        blocks,
    }
}

/// A Mixture-of-Experts run's routing: each expert's share of its layer's tokens over the
/// steps (an even load is 1/E; a collapsed router sends everything to one expert).
fn expert_load_figure(i: usize, run: &RunData) -> Block {
    let lines: Vec<Line> = run
        .expert_load
        .iter()
        .map(|(k, v)| Line { name: k, points: v })
        .collect();
    let svg = plots::scores(
        &format!("{} — expert load", run.name),
        "optimizer step",
        "share of tokens",
        &lines,
    );
    Block::Figure(Figure {
        name: format!("run-{}-expert-load", i + 1),
        svg,
        caption: Some("Share of each mixture layer's tokens routed to each expert.".into()),
        series: Some(lines.len()),
    })
}

fn comparison(r: &Report) -> Section {
    let mut t = Table {
        header: vec![Cell::name("#"), Cell::name("run"), Cell::name("role")],
        rows: Vec::new(),
    };
    t.header.extend(
        [
            "parameters",
            "MB",
            "ms / contract",
            "speed-up",
            "accuracy",
            "macro-F1",
            "% of teacher",
            "teacher",
        ]
        .map(Cell::num),
    );
    let references = r.reference_teachers();
    for (i, run) in r.runs.iter().enumerate() {
        let tr = references[i].map(|t| &r.runs[t]);
        let t_f1 = tr.and_then(|t| num(&t.summary, "test.macro_f1"));
        let t_lat = tr.and_then(|t| num(&t.summary, "latency_ms_per_contract"));
        let s = &run.summary;
        let params = num(s, "parameters");
        let f1 = num(s, "test.macro_f1");
        let lat = num(s, "latency_ms_per_contract");
        t.rows.push(vec![
            Cell::name((i + 1).to_string()),
            Cell::name(&run.name),
            Cell::name(&run.role),
            Cell::num(match (params, s.active_parameters) {
                (Some(p), Some(a)) => format!("{:.2} M ({:.2} M active)", p / 1e6, a as f64 / 1e6),
                (Some(p), None) => format!("{:.2} M", p / 1e6),
                _ => "–".into(),
            }),
            Cell::num(format!("{:.1}", s.weights_mb())),
            Cell::num(fmt(lat, 2)),
            Cell::num(
                t_lat
                    .zip(lat)
                    .map_or("–".into(), |(a, b)| format!("{:.1}×", a / b.max(1e-9))),
            ),
            Cell::num(fmt(num(s, "test.accuracy"), 4)),
            Cell::num(fmt(f1, 4)),
            Cell::num(t_f1.zip(f1).map_or("–".into(), |(a, b)| {
                format!("{:.0}", 100.0 * b / a.max(1e-9))
            })),
            Cell::num(references[i].map_or("–".into(), |t| format!("#{}", t + 1))),
        ]);
    }
    let classes: Vec<String> = r
        .runs
        .first()
        .map(|x| x.summary.classes.clone())
        .unwrap_or_default();
    let mut per_class = Table {
        header: vec![Cell::name("class")],
        rows: Vec::new(),
    };
    for (i, run) in r.runs.iter().enumerate() {
        per_class.header.push(Cell::num(short_name(i, run)));
    }
    for (c_i, c) in classes.iter().enumerate() {
        let mut row = vec![Cell::name(c)];
        for run in &r.runs {
            let f = run
                .summary
                .test
                .as_ref()
                .and_then(|t| t.metrics.per_class.get(c_i))
                .map(|c| c.f1);
            row.push(Cell::num(fmt(f, 3)));
        }
        per_class.rows.push(row);
    }
    Section {
        id: "comparison",
        title: "Teacher vs students (test split)".into(),
        blocks: vec![
            Block::Table(t),
            Block::Heading("Per-class F1 (test)".into()),
            Block::Table(per_class),
        ],
    }
}

fn confusion(r: &Report) -> Section {
    let mut blocks = Vec::new();
    for (i, run) in r.runs.iter().enumerate() {
        let Some(m) = run.summary.test.as_ref().map(|t| &t.metrics.confusion) else {
            continue;
        };
        blocks.push(Block::Heading(format!(
            "{} — {} ({})",
            i + 1,
            run.name,
            run.role
        )));
        let classes: Vec<&str> = run.summary.classes.iter().map(String::as_str).collect();
        let mut t = Table {
            header: vec![Cell::name("true \\ predicted")],
            rows: Vec::new(),
        };
        t.header
            .extend((0..m.len()).map(|j| Cell::num(j.to_string())));
        for (row_i, row) in m.iter().enumerate() {
            let name = classes.get(row_i).copied().unwrap_or("");
            let mut cells = vec![Cell::head(format!("{row_i} {name}"))];
            for (j, v) in row.iter().enumerate() {
                // The diagonal (right answers) in bold.
                cells.push(Cell {
                    bold: row_i == j,
                    ..Cell::num(v.to_string())
                });
            }
            t.rows.push(cells);
        }
        blocks.push(Block::Table(t));
    }
    Section {
        id: "confusion",
        title: "Confusion matrices (test; rows true, columns predicted)".into(),
        blocks,
    }
}

/// White (the worst cell) to green (the best).
pub fn heat(t: f64) -> String {
    let g = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        g(255.0, 46.0),
        g(255.0, 160.0),
        g(255.0, 67.0)
    )
}

fn sweep_cell(s: &SweepStatus, i: usize) -> Cell {
    let Some(c) = s.cells.get(i) else {
        return Cell::num("");
    };
    match (c.state.as_str(), c.objective) {
        ("finished", Some(v)) => Cell {
            best: s.best == Some(i),
            fill: Some(heat(s.goodness(v))),
            ..Cell::num(format!("{v:.4}"))
        },
        (state, _) => Cell::num(state),
    }
}

fn sweep_table(s: &SweepStatus) -> Table {
    match s.axes.as_slice() {
        [a, b] if a.1.len() * b.1.len() == s.cells.len() => {
            let mut t = Table {
                header: vec![Cell::name(format!("{} \\ {}", a.0, b.0))],
                rows: Vec::new(),
            };
            t.header.extend(b.1.iter().map(Cell::num));
            for (ri, rv) in a.1.iter().enumerate() {
                let mut row = vec![Cell::head(rv)];
                row.extend((0..b.1.len()).map(|ci| sweep_cell(s, ri * b.1.len() + ci)));
                t.rows.push(row);
            }
            t
        }
        _ => Table {
            header: vec![Cell::name("cell"), Cell::num("objective")],
            rows: s
                .cells
                .iter()
                .enumerate()
                .map(|(i, c)| vec![Cell::name(&c.label), sweep_cell(s, i)])
                .collect(),
        },
    }
}

fn sweeps(r: &Report) -> Section {
    let mut blocks = Vec::new();
    if r.sweeps.is_empty() {
        blocks.push(Block::Text("No sweep in this report.".into()));
    }
    for sw in &r.sweeps {
        let s = &sw.status;
        blocks.push(Block::Heading(sw.path.display().to_string()));
        blocks.push(Block::Text(format!(
            "Objective {} ({}), chosen on validation only. The best cell is framed (bold in Markdown).",
            s.objective,
            if s.maximize {
                "higher is better"
            } else {
                "lower is better"
            }
        )));
        blocks.push(Block::Table(sweep_table(s)));
        if let Some(best) = sw
            .summary
            .as_ref()
            .map(|v| &v["best"])
            .filter(|b| !b.is_null())
        {
            blocks.push(Block::Highlight(best_cell_sentence(best)));
        }
    }
    Section {
        id: "sweep",
        title: "Sweeps".into(),
        blocks,
    }
}

/// The sweep's best cell in one sentence: scored on test, or (a run on the corpus, which has
/// no test split) its held-out scores.
fn best_cell_sentence(best: &Value) -> String {
    let label = best["label"].as_str().unwrap_or("");
    let objective = fmt(best["objective"].as_f64(), 4);
    if best["held_out"].is_object() {
        return format!(
            "Best cell: {label} — held-out {objective}, perplexity {}, masked-token accuracy {} \
             (runs on the unlabelled corpus have no test split).",
            fmt(value_num(best, "held_out.perplexity"), 1),
            fmt(value_num(best, "held_out.masked_accuracy"), 3),
        );
    }
    format!(
        "Best cell: {label} — validation {objective}, test macro-F1 {}, test accuracy {} (the only \
         cell scored on test).",
        fmt(value_num(best, "test.macro_f1"), 4),
        fmt(value_num(best, "test.accuracy"), 4),
    )
}

fn frontier(r: &Report) -> Section {
    let by = |path: &str, scale: f64| -> Vec<(String, f64, f64)> {
        r.runs
            .iter()
            .enumerate()
            .filter_map(|(i, run)| {
                Some((
                    short_name(i, run),
                    num(&run.summary, path)? * scale,
                    num(&run.summary, "test.macro_f1")?,
                ))
            })
            .collect()
    };
    // An int8 run's weights are a quarter of its f32 parameters' bytes: its summary says.
    let size: Vec<(String, f64, f64)> = r
        .runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| {
            let mb = run.summary.weights_mb();
            Some((short_name(i, run), mb, num(&run.summary, "test.macro_f1")?))
        })
        .collect();
    let latency = by("latency_ms_per_contract", 1.0);
    let mut blocks = Vec::new();
    if size.is_empty() {
        blocks.push(Block::Text("No finished runs with test scores.".into()));
    } else {
        blocks.push(Block::Figure(Figure {
            name: "frontier-size".into(),
            svg: plots::frontier(
                "Macro-F1 against size",
                "model size (MB of weights)",
                "test macro-F1",
                &size,
            ),
            caption: Some(
                "Points are numbered as in the comparison table; Pareto points (no other run is both smaller and better) are red and say so.".into(),
            ),
            series: None,
        }));
    }
    if !latency.is_empty() {
        blocks.push(Block::Figure(Figure {
            name: "frontier-latency".into(),
            svg: plots::frontier(
                "Macro-F1 against latency",
                "CPU latency (ms per contract)",
                "test macro-F1",
                &latency,
            ),
            caption: None,
            series: None,
        }));
    }
    Section {
        id: "frontier",
        title: "Efficiency frontier".into(),
        blocks,
    }
}

fn configs(r: &Report) -> Section {
    let mut blocks: Vec<Block> = r
        .runs
        .iter()
        .enumerate()
        .map(|(i, run)| Block::Details {
            summary: format!(
                "{} — {} ({}{}{})",
                i + 1,
                run.name,
                run.role,
                run.device
                    .as_deref()
                    .map(|d| format!(", on {d}"))
                    .unwrap_or_default(),
                run.peak_gpu_memory_bytes
                    .map(|b| format!(", peak GPU memory {:.1} GB", b as f64 / 1e9))
                    .unwrap_or_default()
            ),
            text: run.config.clone(),
        })
        .collect();
    blocks.extend(r.sweeps.iter().map(|sw| Block::Details {
        summary: sw.path.display().to_string(),
        text: sw.config.clone(),
    }));
    Section {
        id: "configs",
        title: "Exact configs".into(),
        blocks,
    }
}
