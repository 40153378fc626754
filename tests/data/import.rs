//! CSV, folder and JSONL import with configured fields and task modes.

use crate::common::scratch_dir;
use alambic::data::config::{DataConfig, Task};
use alambic::data::{Dataset, Split};
use std::path::Path;

fn cfg(file: &Path) -> DataConfig {
    DataConfig {
        file: file.to_path_buf(),
        ..DataConfig::default()
    }
}

#[test]
fn csv_with_renamed_fields_and_label_lists() {
    let dir = scratch_dir("csv-fields");
    let file = dir.join("d.csv");
    std::fs::write(
        &file,
        "name,source,vuln,all,part\n\
         a,\"contract A { function f() public {} }\",reentrancy,reentrancy;arithmetic,train\n\
         b,contract B {},safe,,test\n\
         c,contract C {},arithmetic,\"[\"\"arithmetic\"\"]\",valid\n",
    )
    .expect("write");
    let mut c = cfg(&file);
    c.fields.id = "name".into();
    c.fields.text = "source".into();
    c.fields.label = "vuln".into();
    c.fields.labels = "all".into();
    c.fields.split = "part".into();
    c.task = Task::Multilabel;
    let ds = Dataset::prepare(&c).expect("csv");
    let got: Vec<(&str, &str, Vec<&str>, Option<Split>)> = ds
        .records
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.label.as_str(),
                r.labels.iter().map(String::as_str).collect(),
                r.split,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "a",
                "reentrancy",
                vec!["reentrancy", "arithmetic"],
                Some(Split::Train)
            ),
            ("b", "safe", vec![], Some(Split::Test)),
            ("c", "arithmetic", vec!["arithmetic"], Some(Split::Valid)),
        ]
    );
    assert_eq!(ds.classes, vec!["arithmetic", "reentrancy"]);
}

#[test]
fn folder_of_sol_files_labelled_by_subfolder() {
    let dir = scratch_dir("sol-folder");
    for (label, name) in [("reentrancy", "x"), ("reentrancy", "y"), ("safe", "z")] {
        let sub = dir.join(label);
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(
            sub.join(format!("{name}.sol")),
            format!("contract {name} {{ }} // <yes> <report> {label}\n"),
        )
        .expect("write");
    }
    std::fs::write(dir.join("reentrancy/notes.txt"), "ignored").expect("write");
    let c = cfg(&dir);
    let ds = Dataset::load(&c).expect("folder");
    let ids: Vec<(&str, &str, &str)> = ds
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.label.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("reentrancy/x.sol", "reentrancy", "contract x { }\n"),
            ("reentrancy/y.sol", "reentrancy", "contract y { }\n"),
            ("safe/z.sol", "safe", "contract z { }\n"),
        ]
    );
    assert_eq!(
        ds.changed_by_cleaning, 3,
        "the giveaway comments were stripped"
    );
    let binary = DataConfig {
        task: Task::Binary,
        ..c
    };
    let ds = Dataset::load(&binary).expect("binary");
    let labels: Vec<&str> = ds.records.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, vec!["vulnerable", "vulnerable", "safe"]);
}

#[test]
fn written_jsonl_reads_back_with_splits_and_groups() {
    let dir = scratch_dir("write-back");
    let file = dir.join("in.jsonl");
    let lines: String = (0..40)
        .map(|i| {
            let label = if i % 2 == 0 { "safe" } else { "reentrancy" };
            format!(
                "{{\"id\":\"c{i}\",\"code\":\"contract C{i} {{ uint x{i}; }}\",\"label\":\"{label}\",\"origin\":\"set{}\"}}\n",
                i % 3
            )
        })
        .collect();
    std::fs::write(&file, lines).expect("write");
    let ds = Dataset::prepare(&cfg(&file)).expect("prepare");
    assert_eq!(ds.split_source, Some("seeded"));
    let out = dir.join("out.jsonl");
    alambic::data::write::write_jsonl(&ds, &out).expect("write jsonl");
    let back = Dataset::prepare(&cfg(&out)).expect("read back");
    assert_eq!(back.split_source, Some("field"));
    assert_eq!(back.records.len(), 40);
    for (a, b) in ds.records.iter().zip(&back.records) {
        assert_eq!((&a.id, &a.label, a.split), (&b.id, &b.label, b.split));
        assert_eq!(b.extra["origin"], a.extra["origin"]);
    }
    let counts: Vec<usize> = Split::MODEL_SPLITS
        .iter()
        .map(|s| back.split_records(*s).count())
        .collect();
    assert_eq!(counts, vec![32, 4, 4]);
}
