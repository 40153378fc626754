//! Metrics against hand-computed cases.

use alambic::eval::{average_precision, bootstrap, classification, multilabel, roc_auc};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

#[test]
fn confusion_matrix_and_f1s_by_hand() {
    // truth:     0 0 0 1 1 2
    // predicted: 0 0 1 1 2 2
    let m = classification(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &names(3));
    assert_eq!(
        m.confusion,
        vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
    );
    assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
    // c0: P 1, R 2/3, F1 0.8; c1: P 1/2, R 1/2, F1 0.5; c2: P 1/2, R 1, F1 2/3.
    let f1: Vec<f64> = m.per_class.iter().map(|c| c.f1).collect();
    for (got, want) in f1.iter().zip([0.8, 0.5, 2.0 / 3.0]) {
        assert!((got - want).abs() < 1e-12, "{f1:?}");
    }
    assert!((m.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    assert!((m.weighted_f1 - (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0).abs() < 1e-12);
    assert_eq!(m.per_class[0].support, 3);
}

#[test]
fn roc_auc_and_average_precision_by_hand() {
    // Positives score 0.9, 0.4; negatives 0.8, 0.3, 0.1. Pairs won: 0.9 beats 3, 0.4 beats 2
    // (0.3, 0.1): 5 of 6.
    let scores = [0.9, 0.8, 0.4, 0.3, 0.1];
    let pos = [true, false, true, false, false];
    assert!((roc_auc(&scores, &pos).expect("auc") - 5.0 / 6.0).abs() < 1e-12);
    // Ranked: + - + - -: precision at the hits 1/1 and 2/3: AP = (1 + 2/3) / 2.
    assert!(
        (average_precision(&scores, &pos).expect("ap") - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12
    );
    // A tie between a positive and a negative counts one half.
    assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
    assert_eq!(roc_auc(&[0.5], &[true]), None);
}

#[test]
fn multilabel_scores_by_hand() {
    let t = vec![vec![true, false], vec![true, true], vec![false, false]];
    let p = vec![vec![true, true], vec![true, false], vec![false, false]];
    let m = multilabel(&t, &p, &names(2));
    // label 0: tp 2 → F1 1; label 1: tp 0, fp 1, fn 1 → F1 0. Micro: tp 2, fp 1, fn 1 → 4/6.
    assert_eq!(m.per_label_f1[0].1, 1.0);
    assert_eq!(m.per_label_f1[1].1, 0.0);
    assert!((m.micro_f1 - 4.0 / 6.0).abs() < 1e-12);
    assert!((m.hamming_loss - 2.0 / 6.0).abs() < 1e-12);
    assert!((m.exact_match - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn bootstrap_interval_holds_the_estimate_and_shrinks_with_data() {
    let width = |n: usize| {
        let truth: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let pred: Vec<usize> = (0..n)
            .map(|i| if i % 5 == 0 { 1 - i % 2 } else { i % 2 })
            .collect();
        let point = classification(&truth, &pred, &names(2)).accuracy;
        let ci = bootstrap(n, 1000, 7, |idx| {
            let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
            let p: Vec<usize> = idx.iter().map(|&i| pred[i]).collect();
            classification(&t, &p, &names(2)).accuracy
        });
        assert!(ci.low <= point && point <= ci.high, "{ci:?} vs {point}");
        ci.high - ci.low
    };
    let (small, large) = (width(50), width(2000));
    assert!(large < small / 3.0, "{small} vs {large}");
}
