//! Source-disjoint evaluation on the real dataset: whole source sets held out as the test split.

use crate::common::cgt_dasp;
use alambic::data::config::{DataConfig, SplitSource, Task};
use alambic::data::{Dataset, Split, field_values};
use std::collections::{HashMap, HashSet};

const HELD_OUT: [&str; 2] = ["ContractFuzzer", "CodeSmells"];

fn config() -> DataConfig {
    let mut cfg = DataConfig {
        file: cgt_dasp(),
        task: Task::Binary,
        ..DataConfig::default()
    };
    cfg.split.hold_out = HELD_OUT.iter().map(|s| s.to_string()).collect();
    cfg
}

fn holds_a_held_out_set(r: &alambic::data::Record) -> bool {
    field_values(r.extra.get("origin"))
        .iter()
        .any(|v| HELD_OUT.contains(&v.as_str()))
}

#[test]
fn held_out_sources_are_the_test_split_and_never_train() {
    let ds = Dataset::prepare(&config()).expect("prepare");
    assert_eq!(ds.split_source, Some("held-out"));
    let count = |s: Split| ds.split_records(s).count();
    assert_eq!(
        [count(Split::Train), count(Split::Valid), count(Split::Test)],
        [1141, 143, 940]
    );
    // 810 contracts name a held-out set; the other 130 of the test split share a duplicate
    // group (ours or the file's) with one of them.
    let direct = ds
        .records
        .iter()
        .filter(|r| holds_a_held_out_set(r))
        .count();
    assert_eq!(direct, 810);
    for r in &ds.records {
        if holds_a_held_out_set(r) {
            assert_eq!(r.split, Some(Split::Test), "{} trains", r.id);
        }
    }
    let dups = ds.duplicates.as_ref().expect("groups");
    let mut split_of: HashMap<String, Split> = HashMap::new();
    for (i, r) in ds.records.iter().enumerate() {
        let s = r.split.expect("split");
        for g in [
            format!("near{}", dups.near[i]),
            r.group.clone().expect("group"),
        ] {
            assert_eq!(
                *split_of.entry(g.clone()).or_insert(s),
                s,
                "group {g} straddles"
            );
        }
    }
    // Train and valid keep the classes' proportions (valid is 1/9 of the rest).
    for class in ["safe", "vulnerable"] {
        let n = |s: Split| ds.split_records(s).filter(|r| r.label == class).count();
        let rest = (n(Split::Train) + n(Split::Valid)) as f64;
        assert!(
            (n(Split::Valid) as f64 - rest / 9.0).abs() <= 1.0,
            "{class}"
        );
    }
    let sources: HashSet<String> = ds
        .split_records(Split::Train)
        .flat_map(|r| field_values(r.extra.get("origin")))
        .collect();
    assert_eq!(sources.len(), 9, "{sources:?}");
}

#[test]
fn a_misspelt_source_is_refused_with_the_values_that_exist() {
    let mut cfg = config();
    cfg.split.hold_out = vec!["ContractFuzer".into()];
    let err = Dataset::prepare(&cfg).expect_err("typo").to_string();
    assert!(err.contains("cgt_dasp.jsonl"), "{err}");
    assert!(err.contains("`ContractFuzer`"), "{err}");
    assert!(err.contains("ContractFuzzer, Doublade"), "{err}");

    let mut cfg = config();
    cfg.split.hold_out_field = "orign".into();
    let err = Dataset::prepare(&cfg)
        .expect_err("no such field")
        .to_string();
    assert!(err.contains("no record has a `orign` field"), "{err}");
}

#[test]
fn holding_out_cannot_be_combined_with_the_files_own_split() {
    let mut cfg = config();
    cfg.split.source = SplitSource::Field;
    let err = Dataset::prepare(&cfg)
        .expect_err("contradiction")
        .to_string();
    assert!(err.contains("dataset.split.hold_out"), "{err}");
}
