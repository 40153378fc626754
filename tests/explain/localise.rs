//! The localisation measures: hits, the random-line expectation, rank agreement, and the
//! `bug_lines` field.

use alambic::data::Record;
use alambic::eval::spearman;
use alambic::explain::evaluate::bug_lines;
use alambic::explain::localise::{HitTally, hit, random_hit_chance};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn hits_count_the_top_k_only() {
    assert!(hit(&[4, 9, 2], &[9], 3));
    assert!(!hit(&[4, 9, 2], &[9], 1));
    assert!(!hit(&[], &[9], 3));
    let mut t = HitTally::default();
    t.add_ranking(&[1, 2, 3], &[1]);
    t.add_ranking(&[1, 2, 3], &[3]);
    t.add_ranking(&[1, 2, 3], &[7]);
    let h = t.hits();
    assert!((h.hit1 - 1.0 / 3.0).abs() < 1e-12);
    assert!((h.hit3 - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn a_random_line_hits_by_the_hypergeometric_law() {
    // One bug line of 10: k draws find it with chance k / 10.
    assert!((random_hit_chance(10, 1, 1) - 0.1).abs() < 1e-12);
    assert!((random_hit_chance(10, 1, 3) - 0.3).abs() < 1e-12);
    // Two of 10 in 3 draws: 1 − C(8,3)/C(10,3) = 1 − 56/120.
    assert!((random_hit_chance(10, 2, 3) - (1.0 - 56.0 / 120.0)).abs() < 1e-12);
    assert_eq!(random_hit_chance(2, 1, 3), 1.0);
    assert_eq!(random_hit_chance(10, 0, 3), 0.0);
}

#[test]
fn spearman_reads_ranks_and_ties() {
    assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
    assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    // Ranks (1.5, 1.5, 3) against (1, 2, 3): r = 0.866.
    let r = spearman(&[5.0, 5.0, 9.0], &[1.0, 2.0, 3.0]);
    assert!((r - 0.75f64.sqrt()).abs() < 1e-12, "{r}");
    assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
}

fn record(bug: serde_json::Value) -> Record {
    let mut extra = BTreeMap::new();
    extra.insert("bug_lines".to_string(), bug);
    Record {
        id: "c-7".into(),
        code: "contract A {}\n".into(),
        label: "reentrancy".into(),
        labels: vec!["reentrancy".into()],
        split: None,
        group: None,
        extra,
        line: 12,
    }
}

#[test]
fn bug_lines_must_be_line_numbers() {
    let data = Path::new("contracts.jsonl");
    assert_eq!(
        bug_lines(&record(serde_json::json!([3, 5])), data).expect("ok"),
        [3, 5]
    );
    for bad in [
        serde_json::json!([0]),
        serde_json::json!("3"),
        serde_json::json!([2.5]),
    ] {
        let err = bug_lines(&record(bad.clone()), data)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("contracts.jsonl line 12")
                && err.contains("c-7")
                && err.contains("bug_lines"),
            "{bad}: {err}"
        );
    }
}
