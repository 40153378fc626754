//! Metrics: accuracy, F1s, per-class precision/recall/F1, confusion matrices, ROC-AUC and
//! PR-AUC for binary tasks, multi-label scores, bootstrap intervals, breakdowns by field.

mod bootstrap;
mod classification;
mod multilabel;
mod ranking;

pub use bootstrap::{Interval, bootstrap};
pub use classification::{ClassMetrics, Metrics, classification};
pub use multilabel::{MultilabelMetrics, multilabel};
pub use ranking::{average_precision, average_ranks, best_threshold, roc_auc, spearman};

/// Teacher–student agreement: the share of `(teacher, student)` verdict pairs that are equal;
/// `None` for no pairs.
pub fn agreement(pairs: &[(usize, usize)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let same = pairs.iter().filter(|(a, b)| a == b).count();
    Some(same as f64 / pairs.len() as f64)
}
