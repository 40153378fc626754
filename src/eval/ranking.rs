//! Threshold-free scores of a binary classifier.

/// ROC-AUC: the probability that a random positive scores above a random negative (ties count
/// one half), computed from ranks.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let pos = positive.iter().filter(|&&p| p).count();
    let neg = positive.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let ranks = average_ranks(scores);
    let pos_rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    let u = pos_rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos * neg) as f64)
}

/// 1-based ranks in ascending order; tied values share the mean of their ranks.
pub fn average_ranks(scores: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = mid;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rho: the Pearson correlation of average ranks; 0 when either side is
/// constant or there are fewer than two pairs.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let n = ra.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// PR-AUC as average precision (scikit-learn's step-wise definition).
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let total_pos = positive.iter().filter(|&&p| p).count();
    if total_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        // All samples sharing a score enter together.
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if positive[order[j]] {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        let recall = tp as f64 / total_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        i = j;
    }
    Some(ap)
}

/// The probability threshold on the positive class that maximises macro-F1 of the two
/// classes (chosen on validation, applied to test).
pub fn best_threshold(scores: &[f64], positive: &[bool]) -> f64 {
    let mut candidates: Vec<f64> = scores.to_vec();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let mut best = (0.5, f64::MIN);
    for &t in &candidates {
        let predicted: Vec<usize> = scores.iter().map(|&s| usize::from(s >= t)).collect();
        let truth: Vec<usize> = positive.iter().map(|&p| usize::from(p)).collect();
        let m = super::classification(&truth, &predicted, &["0".into(), "1".into()]);
        if m.macro_f1 > best.1 {
            best = (t, m.macro_f1);
        }
    }
    best.0
}
