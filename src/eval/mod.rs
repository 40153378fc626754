//! Metrics: accuracy, F1s, per-class precision/recall/F1, confusion matrices, ROC-AUC and
//! PR-AUC for binary tasks, multi-label scores, bootstrap intervals, breakdowns by field.

mod bootstrap;
mod classification;
mod multilabel;
mod ranking;

pub use bootstrap::{Interval, bootstrap};
pub use classification::{ClassMetrics, Metrics, classification};
pub use multilabel::{MultilabelMetrics, multilabel};
pub use ranking::{average_precision, best_threshold, roc_auc};
