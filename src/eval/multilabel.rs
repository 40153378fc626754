use super::classification::ratio;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultilabelMetrics {
    pub per_label_f1: Vec<(String, f64)>,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub hamming_loss: f64,
    /// Share of samples whose whole label set is right.
    pub exact_match: f64,
}

/// `truth[i][c]` and `predicted[i][c]` say whether sample i has label c.
pub fn multilabel(
    truth: &[Vec<bool>],
    predicted: &[Vec<bool>],
    labels: &[String],
) -> MultilabelMetrics {
    let k = labels.len();
    let (mut tp, mut fp, mut fneg) = (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
    let mut wrong = 0usize;
    let mut exact = 0usize;
    for (t, p) in truth.iter().zip(predicted) {
        let mut all = true;
        for c in 0..k {
            match (t[c], p[c]) {
                (true, true) => tp[c] += 1,
                (false, true) => fp[c] += 1,
                (true, false) => fneg[c] += 1,
                _ => {}
            }
            if t[c] != p[c] {
                wrong += 1;
                all = false;
            }
        }
        exact += usize::from(all);
    }
    let f1 =
        |tp: usize, fp: usize, fneg: usize| ratio(2.0 * tp as f64, (2 * tp + fp + fneg) as f64);
    let per_label_f1: Vec<(String, f64)> = (0..k)
        .map(|c| (labels[c].clone(), f1(tp[c], fp[c], fneg[c])))
        .collect();
    let n = truth.len();
    MultilabelMetrics {
        micro_f1: f1(tp.iter().sum(), fp.iter().sum(), fneg.iter().sum()),
        macro_f1: ratio(per_label_f1.iter().map(|x| x.1).sum(), k as f64),
        per_label_f1,
        hamming_loss: ratio(wrong as f64, (n * k) as f64),
        exact_match: ratio(exact as f64, n as f64),
    }
}
