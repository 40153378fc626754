//! `alambic report`: one self-contained HTML page (inline SVG, no script, no network) from
//! run and sweep folders — what a researcher shows a supervisor each week. Everything is read
//! from the folders (`summary.json`, `events.jsonl`, `predictions.json`, `config.toml`,
//! `cells.jsonl`), so a report can be made on any machine that sees them.

pub mod corpus;
pub mod evidence;
pub mod html;
pub mod markdown;
pub mod page;
pub mod plots;

use crate::data::Dataset;
use crate::data::stats::{self, DataStats};
use crate::store::TrainEvent;
use crate::store::events::read_history;
use crate::store::schema::{PretrainSummary, RunSummary, SchemaError};
use crate::sweep::SweepDir;
use crate::sweep::summary::{SweepStatus, status};
use crate::tokenize::{TextTokenizer, WindowSpec};
use crate::train::ExperimentConfig;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Points kept per curve (evenly thinned): enough for a 640-pixel-wide plot.
const CURVE_POINTS: usize = 600;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Debug)]
pub struct RunData {
    pub path: PathBuf,
    pub name: String,
    pub role: String,
    pub summary: RunSummary,
    pub config: String,
    /// Where it computed (`run.json`), and its peak GPU memory.
    pub device: Option<String>,
    pub peak_gpu_memory_bytes: Option<u64>,
    pub loss: Vec<(f64, f64)>,
    pub terms: BTreeMap<String, Vec<(f64, f64)>>,
    pub valid_f1: Vec<(f64, f64)>,
    /// Mixture-of-Experts runs: each expert's share of tokens over the steps, by
    /// `L<layer> e<expert>`.
    pub expert_load: BTreeMap<String, Vec<(f64, f64)>>,
}

#[derive(Clone, Debug)]
pub struct SweepData {
    pub path: PathBuf,
    pub status: SweepStatus,
    pub summary: Option<Value>,
    pub config: String,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub runs: Vec<RunData>,
    /// Pretraining and general-distillation runs: no labels, their own section.
    pub corpus_runs: Vec<corpus::CorpusRun>,
    pub sweeps: Vec<SweepData>,
    /// One section per distinct `[dataset]` among the runs, with the runs (indices) it serves.
    pub datasets: Vec<DatasetSection>,
    /// Each run's line evidence on its test split, when asked for (`attach_evidence`).
    pub evidence: Vec<Option<crate::explain::evidence::Evidence>>,
    /// Why a run has no evidence (e.g. its checkpoints were pruned).
    pub evidence_notes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct DatasetSection {
    pub stats: DataStats,
    pub runs: Vec<usize>,
}

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(CURVE_POINTS).max(1);
    points.into_iter().step_by(step).collect()
}

pub fn read_run(path: &Path) -> Result<RunData, ReportError> {
    let summary = RunSummary::read(path).map_err(|e| match e {
        SchemaError::Io { .. } => {
            ReportError::Invalid(format!("{e}; only finished runs go in a report"))
        }
        other => ReportError::Invalid(other.to_string()),
    })?;
    let info = crate::store::run_dir::read_info(path);
    let curves = Curves::read(path, "macro_f1");
    Ok(RunData {
        path: path.to_path_buf(),
        name: folder_name(path),
        role: summary.role.clone(),
        config: std::fs::read_to_string(path.join("config.toml")).unwrap_or_default(),
        device: info.as_ref().and_then(|i| i.device.clone()),
        peak_gpu_memory_bytes: info.as_ref().and_then(|i| i.peak_gpu_memory_bytes),
        summary,
        loss: curves.loss,
        terms: curves.terms,
        valid_f1: curves.valid,
        expert_load: curves.expert_load,
    })
}

/// A run folder's name, as the report titles it.
fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The curves of a run's `events.jsonl`, thinned for plotting (an unreadable log gives none).
struct Curves {
    loss: Vec<(f64, f64)>,
    /// Each loss term by name.
    terms: BTreeMap<String, Vec<(f64, f64)>>,
    /// One metric at each validation: `macro_f1` for a labelled run, `loss` on the corpus.
    valid: Vec<(f64, f64)>,
    /// Mixture-of-Experts runs: each expert's share of tokens, by `L<layer> e<expert>`.
    expert_load: BTreeMap<String, Vec<(f64, f64)>>,
}

impl Curves {
    fn read(path: &Path, valid_metric: &str) -> Self {
        let mut loss = Vec::new();
        let mut terms: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut valid = Vec::new();
        let mut expert_load: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for e in read_history(&path.join("events.jsonl")).unwrap_or_default() {
            match e {
                TrainEvent::ExpertLoad { step, layers } => {
                    for (layer, shares) in layers {
                        for (i, share) in shares.into_iter().enumerate() {
                            let key = format!("L{layer} e{i}");
                            expert_load
                                .entry(key)
                                .or_default()
                                .push((step as f64, share));
                        }
                    }
                }
                TrainEvent::Step {
                    step,
                    loss: l,
                    terms: t,
                    ..
                } => {
                    loss.push((step as f64, l));
                    for (k, v) in t {
                        terms.entry(k).or_default().push((step as f64, v));
                    }
                }
                TrainEvent::Eval {
                    step,
                    split,
                    metrics,
                } if split == "valid" => {
                    if let Some(m) = metrics[valid_metric].as_f64() {
                        valid.push((step as f64, m));
                    }
                }
                _ => {}
            }
        }
        let thin_each = |m: BTreeMap<String, Vec<(f64, f64)>>| {
            m.into_iter().map(|(k, v)| (k, thin(v))).collect()
        };
        Self {
            loss: thin(loss),
            terms: thin_each(terms),
            valid,
            expert_load: thin_each(expert_load),
        }
    }
}

/// Runs and sweeps from the folders given; a sweep brings its finished cells' runs along.
pub fn collect(paths: &[PathBuf]) -> Result<Report, ReportError> {
    let mut report = Report::default();
    for p in paths {
        if p.join("sweep.toml").is_file() {
            let sweep = SweepDir::open(p).map_err(|e| ReportError::Invalid(e.to_string()))?;
            let summary = std::fs::read_to_string(p.join("summary.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            report.sweeps.push(SweepData {
                path: p.clone(),
                status: status(&sweep),
                summary,
                config: std::fs::read_to_string(p.join("sweep.toml")).unwrap_or_default(),
            });
        } else if PretrainSummary::path(p).is_file() {
            report.corpus_runs.push(corpus::read(p)?);
        } else if p.join("run.json").is_file() {
            report.runs.push(read_run(p)?);
        } else {
            return Err(ReportError::Invalid(format!(
                "{}: neither a run folder (run.json) nor a sweep folder (sweep.toml)",
                p.display()
            )));
        }
    }
    report.datasets = datasets(&report.runs);
    Ok(report)
}

impl Report {
    /// The teacher each run is measured against ("% of teacher", speed-up), as an index into
    /// `runs`: a teacher is its own; a distillation's is its own teacher when that run is in
    /// the report; otherwise the teacher trained on the same `[dataset]` with the same
    /// `train.seed`, else the last teacher on the same `[dataset]`, else the last teacher.
    /// (With several teachers — seeds, window settings — one teacher for all would compare a
    /// student with a model it never saw.)
    pub fn reference_teachers(&self) -> Vec<Option<usize>> {
        let keys: Vec<RunKey> = self.runs.iter().map(RunKey::of).collect();
        let teachers: Vec<usize> = (0..self.runs.len())
            .filter(|&i| self.runs[i].role == "teacher")
            .collect();
        let last = |pred: &dyn Fn(usize) -> bool| teachers.iter().rev().copied().find(|&t| pred(t));
        (0..self.runs.len())
            .map(|i| {
                let k = &keys[i];
                if self.runs[i].role == "teacher" {
                    return Some(i);
                }
                let own = k.teacher_run.as_deref().and_then(|name| {
                    last(&|t| self.runs[t].name == name || self.runs[t].summary.run_id == name)
                });
                own.or_else(|| last(&|t| keys[t].dataset == k.dataset && keys[t].seed == k.seed))
                    .or_else(|| last(&|t| keys[t].dataset == k.dataset))
                    .or_else(|| teachers.last().copied())
            })
            .collect()
    }
}

/// What pairs a run with its teacher, read from its config.
struct RunKey {
    /// The `[dataset]` table as text.
    dataset: String,
    seed: Option<i64>,
    /// The folder name of the run `teacher.model` names, when it names a run folder.
    teacher_run: Option<String>,
}

impl RunKey {
    fn of(run: &RunData) -> Self {
        let cfg = run.config.parse::<toml::Table>().unwrap_or_default();
        let teacher_run = cfg
            .get("teacher")
            .and_then(|t| t.get("model"))
            .and_then(toml::Value::as_str)
            .filter(|m| !m.contains(':'))
            .and_then(|m| Path::new(m.trim_end_matches('/')).file_name())
            .map(|n| n.to_string_lossy().into_owned());
        Self {
            dataset: dataset_key(&cfg),
            seed: cfg
                .get("train")
                .and_then(|t| t.get("seed"))
                .and_then(toml::Value::as_integer),
            teacher_run,
        }
    }
}

fn dataset_key(cfg: &toml::Table) -> String {
    cfg.get("dataset")
        .map(toml::Value::to_string)
        .unwrap_or_default()
}

/// The runs grouped by their `[dataset]` table (a teacher and its students share one; runs on
/// another file or with another `max_len` get their own section), in order of first use.
fn datasets(runs: &[RunData]) -> Vec<DatasetSection> {
    let mut keys: Vec<(String, DatasetSection)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let key = dataset_key(&run.config.parse::<toml::Table>().unwrap_or_default());
        if let Some((_, d)) = keys.iter_mut().find(|(k, _)| *k == key) {
            d.runs.push(i);
        } else if let Some(stats) = dataset_stats(&run.config) {
            keys.push((
                key,
                DatasetSection {
                    stats,
                    runs: vec![i],
                },
            ));
        }
    }
    keys.into_iter().map(|(_, d)| d).collect()
}

/// The dataset section, from a run's config (its `[dataset]`, and a tokenizer its models name).
fn dataset_stats(config: &str) -> Option<DataStats> {
    let cfg = ExperimentConfig::from_text(config, "config.toml").ok()?;
    let ds = Dataset::prepare(&cfg.dataset).ok()?;
    let mut s = stats::compute(&ds);
    let sources = [cfg.student.model.as_str(), cfg.teacher.model.as_str()];
    if let Some(tok) = TextTokenizer::named_by(&sources) {
        let spec = WindowSpec {
            max_len: cfg.dataset.max_len,
            stride: cfg.dataset.stride,
        };
        s.tokens = stats::token_stats(&ds, &tok, spec).ok();
    }
    Some(s)
}
