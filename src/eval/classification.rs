use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`
    pub confusion: Vec<Vec<usize>>,
}

/// Single-label metrics from true and predicted class indices. Macro-F1 averages over the
/// classes present in the truth or the predictions (as scikit-learn does with explicit
/// labels, a class never seen nor predicted is left out rather than counted as 0).
pub fn classification(truth: &[usize], predicted: &[usize], classes: &[String]) -> Metrics {
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t < k && p < k {
            confusion[t][p] += 1;
        }
    }
    let n = truth.len();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let mut per_class = Vec::with_capacity(k);
    for (c, name) in classes.iter().enumerate() {
        let tp = confusion[c][c] as f64;
        let support: usize = confusion[c].iter().sum();
        let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
        let precision = ratio(tp, predicted_c as f64);
        let recall = ratio(tp, support as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        per_class.push(ClassMetrics {
            class: name.clone(),
            precision,
            recall,
            f1,
            support,
        });
    }
    let present: Vec<&ClassMetrics> = per_class
        .iter()
        .enumerate()
        .filter(|(c, m)| m.support > 0 || (0..k).any(|t| confusion[t][*c] > 0))
        .map(|(_, m)| m)
        .collect();
    let macro_f1 = ratio(present.iter().map(|m| m.f1).sum(), present.len() as f64);
    let weighted_f1 = ratio(
        per_class.iter().map(|m| m.f1 * m.support as f64).sum(),
        n as f64,
    );
    Metrics {
        n,
        accuracy: ratio(correct as f64, n as f64),
        macro_f1,
        weighted_f1,
        per_class,
        confusion,
    }
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}
