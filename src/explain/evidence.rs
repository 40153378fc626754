//! A run's evidence on its test split: each contract's line scores by one method, computed
//! once and kept in the run folder (`evidence.json`), so that the report can show where the
//! teacher and its students look and how far they agree without explaining again.

use super::localise::{Agreement, agreement_of_scores};
use super::{ExplainOptions, LineScore, Method, explain};
use crate::data::{Dataset, Split};
use crate::infer::{InferError, Scorer};
use crate::store::write_atomic;
use crate::train::setup::run_checkpoint;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const EVIDENCE_FILE: &str = "evidence.json";

/// Lines of each contract kept with their text (the report shows them).
const TOP: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContractEvidence {
    pub id: String,
    pub label: String,
    pub verdict: String,
    /// Every line's score, in file order (0 where the model read nothing).
    pub scores: Vec<f32>,
    /// Every line's count of tokens read.
    pub tokens: Vec<usize>,
    /// The best lines, best first.
    pub top: Vec<TopLine>,
    /// The record's `bug_lines`, when it has them.
    #[serde(default)]
    pub bug_lines: Vec<usize>,
}

impl ContractEvidence {
    /// A vulnerable contract the model flags with its own class.
    pub fn flagged(&self, safe: &str) -> bool {
        self.verdict == self.label && self.label != safe
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopLine {
    pub line: usize,
    pub score: f32,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub method: Method,
    pub steps: usize,
    /// The first `limit` contracts of the test split, in dataset order.
    pub limit: usize,
    /// The checkpoint explained and its step (a resumed run's new best makes the kept
    /// evidence stale).
    #[serde(default)]
    pub checkpoint: String,
    pub contracts: Vec<ContractEvidence>,
}

impl Evidence {
    pub fn contract(&self, id: &str) -> Option<&ContractEvidence> {
        self.contracts.iter().find(|c| c.id == id)
    }
}

/// The run's evidence: read from its folder when made with these settings, else computed
/// on its own dataset's test split and written there.
pub fn run_evidence(
    run: &Path,
    method: Method,
    steps: usize,
    limit: usize,
) -> Result<Evidence, InferError> {
    let file = run.join(EVIDENCE_FILE);
    let source = run.display().to_string();
    let dir = run_checkpoint(&source)
        .ok_or_else(|| InferError::Invalid("no checkpoint to explain".into()))?;
    let best = crate::store::schema::RunSummary::read(run).map_or(0, |s| s.best_step);
    let checkpoint = format!("{} (step {best})", dir.display());
    if let Some(kept) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str::<Evidence>(&t).ok())
        .filter(|e| {
            (e.method, e.steps, e.limit, &e.checkpoint) == (method, steps, limit, &checkpoint)
        })
    {
        return Ok(kept);
    }
    let scorer = Scorer::open(&source, None, None)?;
    let ds = Dataset::prepare(&scorer.cfg.dataset)?;
    let opts = ExplainOptions {
        method,
        steps,
        class: None,
    };
    let mut contracts = Vec::new();
    for r in ds.split_records(Split::Test).take(limit) {
        let e = match explain(&scorer, &r.code, &opts) {
            Ok(e) => e,
            Err(InferError::Input(_)) => continue,
            Err(other) => return Err(other),
        };
        contracts.push(ContractEvidence {
            id: r.id.clone(),
            label: r.label.clone(),
            verdict: e.verdict.verdict.clone(),
            scores: e.lines.iter().map(|l| l.score).collect(),
            tokens: e.lines.iter().map(|l| l.tokens).collect(),
            top: e.top(TOP).into_iter().map(TopLine::of).collect(),
            bug_lines: super::evaluate::bug_lines(r, &scorer.cfg.dataset.file)?,
        });
    }
    let evidence = Evidence {
        method,
        steps,
        limit,
        checkpoint,
        contracts,
    };
    let text = serde_json::to_string(&evidence).map_err(|e| InferError::Invalid(e.to_string()))?;
    write_atomic(&file, text.as_bytes())
        .map_err(|e| InferError::Invalid(format!("{}: {e}", file.display())))?;
    Ok(evidence)
}

impl TopLine {
    fn of(l: &LineScore) -> Self {
        Self {
            line: l.line,
            score: l.score,
            text: l.text.trim().to_string(),
        }
    }
}

/// How a student's evidence agrees with its teacher's over the contracts both explained:
/// mean top-5 overlap and rank correlation, and the share of equal verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EvidenceAgreement {
    pub contracts: usize,
    pub top_overlap: f64,
    pub rank_correlation: f64,
    pub same_verdict: f64,
}

pub fn evidence_agreement(teacher: &Evidence, student: &Evidence) -> EvidenceAgreement {
    let mut sums = (0usize, 0f64, 0f64, 0f64);
    for s in &student.contracts {
        let Some(t) = teacher.contract(&s.id) else {
            continue;
        };
        let top = |c: &ContractEvidence| c.top.iter().map(|l| l.line).collect::<Vec<_>>();
        let a: Agreement = agreement_of_scores(
            (&top(t), &t.scores, &t.tokens),
            (&top(s), &s.scores, &s.tokens),
        );
        sums.0 += 1;
        sums.1 += a.top_overlap;
        sums.2 += a.rank_correlation;
        sums.3 += f64::from(u8::from(t.verdict == s.verdict));
    }
    let n = sums.0.max(1) as f64;
    EvidenceAgreement {
        contracts: sums.0,
        top_overlap: sums.1 / n,
        rank_correlation: sums.2 / n,
        same_verdict: sums.3 / n,
    }
}
