//! Bad input gives an error naming the file and line, never a panic.

use crate::common::scratch_dir;
use alambic::data::config::DataConfig;
use alambic::data::{DataError, Dataset};
use std::path::{Path, PathBuf};

fn write(name: &str, file: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir(name).join(file);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn load(path: &Path) -> Result<Dataset, DataError> {
    Dataset::load(&DataConfig {
        file: path.to_path_buf(),
        ..DataConfig::default()
    })
}

fn error_of(path: &Path) -> String {
    load(path).expect_err("must fail").to_string()
}

const GOOD: &str = r#"{"code":"contract A {}","label":"safe"}"#;

#[test]
fn malformed_jsonl_line_names_file_and_line() {
    let path = write(
        "bad-json",
        "d.jsonl",
        format!("{GOOD}\n{GOOD}\n{{\"code\": \"x\", \n").as_bytes(),
    );
    let err = error_of(&path);
    assert!(
        err.starts_with(&format!("{}:3: malformed JSON", path.display())),
        "{err}"
    );
}

#[test]
fn skip_bad_counts_the_skipped_lines() {
    let path = write(
        "skip-bad",
        "d.jsonl",
        format!("{GOOD}\nnot json\n{GOOD}\n{{\"label\":\"safe\"}}\n").as_bytes(),
    );
    let ds = Dataset::load(&DataConfig {
        file: path,
        skip_bad: true,
        ..DataConfig::default()
    })
    .expect("skips");
    assert_eq!(ds.records.len(), 2);
    let lines: Vec<usize> = ds.skipped.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![2, 4]);
}

#[test]
fn missing_text_field() {
    let path = write(
        "no-text",
        "d.jsonl",
        b"{\"source\":\"contract A {}\",\"label\":\"safe\"}\n",
    );
    let err = error_of(&path);
    // The fields the record does have, so the user can map theirs.
    assert!(
        err.ends_with(
            ":1: missing text field `code` (the record has `label`, `source`: name it with \
             `dataset.fields.text`)"
        ),
        "{err}"
    );
}

#[test]
fn missing_label_field() {
    let path = write("no-label", "d.jsonl", b"{\"code\":\"contract A {}\"}\n");
    let err = error_of(&path);
    assert!(
        err.ends_with(
            ":1: missing label field: neither `label` nor `labels` (the record has no other \
             field: name it with `dataset.fields.label`, or `dataset.fields.labels` for several)"
        ),
        "{err}"
    );
}

#[test]
fn unknown_label_after_mapping() {
    let path = write(
        "unknown-label",
        "d.jsonl",
        format!("{GOOD}\n{{\"code\":\"contract B {{}}\",\"label\":\"tx_origin\"}}\n").as_bytes(),
    );
    let mut cfg = DataConfig {
        file: path.clone(),
        classes: vec!["safe".into(), "access_control".into()],
        ..DataConfig::default()
    };
    let err = Dataset::load(&cfg).expect_err("unknown").to_string();
    assert!(
        err.starts_with(&format!("{}:2: unknown label `tx_origin`", path.display())),
        "{err}"
    );
    cfg.merge
        .insert("tx_origin".into(), "access_control".into());
    assert_eq!(
        Dataset::load(&cfg).expect("merged").records[1].label,
        "access_control"
    );
}

#[test]
fn empty_file() {
    let path = write("empty", "d.jsonl", b"\n\n");
    assert_eq!(
        error_of(&path),
        format!("{}: no records (empty file)", path.display())
    );
}

#[test]
fn non_utf8_bytes() {
    let mut bytes = format!("{GOOD}\n").into_bytes();
    bytes.extend_from_slice(b"{\"code\":\"contract \xff {}\",\"label\":\"safe\"}\n");
    let path = write("non-utf8", "d.jsonl", &bytes);
    let err = error_of(&path);
    assert!(
        err.contains(":2: not valid UTF-8 (bad byte at column 19)"),
        "{err}"
    );
}

#[test]
fn five_megabyte_contract() {
    let big = "a".repeat(5_000_000);
    let path = write(
        "huge",
        "d.jsonl",
        format!("{GOOD}\n{{\"code\":\"contract A {{ {big} }}\",\"label\":\"safe\"}}\n").as_bytes(),
    );
    let err = error_of(&path);
    assert!(
        err.contains(":2: contract is 5.0 MB, over the limit of 1.0 MB"),
        "{err}"
    );
}

#[test]
fn empty_folder_and_unlabelled_file() {
    let dir = scratch_dir("empty-folder");
    let err = error_of(&dir);
    assert!(err.contains("no .sol files found"), "{err}");
    std::fs::write(dir.join("loose.sol"), "contract A {}").expect("write");
    let err = error_of(&dir);
    assert!(
        err.contains("loose.sol: a .sol file directly in the dataset folder"),
        "{err}"
    );
}

#[test]
fn wrong_field_types_and_missing_file() {
    let path = write(
        "types",
        "d.jsonl",
        b"{\"code\": 42, \"label\": \"safe\"}\n[1,2]\n",
    );
    assert!(error_of(&path).ends_with(":1: text field `code` is a number, not a string"));
    let missing = scratch_dir("missing").join("nope.jsonl");
    assert!(error_of(&missing).contains("nope.jsonl: No such file"));
}

#[test]
fn bad_csv_row() {
    let path = write(
        "bad-csv",
        "d.csv",
        b"code,label\n\"contract A {}\",safe\n\"x\",safe,extra\n",
    );
    let err = error_of(&path);
    assert!(err.contains("d.csv:3: malformed CSV row"), "{err}");
}

fn binary(
    path: &Path,
    unknown: alambic::data::config::UnknownLabels,
) -> Result<Dataset, DataError> {
    Dataset::load(&DataConfig {
        file: path.to_path_buf(),
        task: alambic::data::Task::Binary,
        unknown_labels: unknown,
        ..DataConfig::default()
    })
}

/// A label outside the vocabulary used to become "vulnerable" in a binary task, silently: a
/// typo (`Safe`) or a foreign name (`frobnicate`) is now an error with file:line and the label.
#[test]
fn unknown_labels_are_errors_naming_file_line_and_label() {
    use alambic::data::config::UnknownLabels;
    let typo = write(
        "label-typo",
        "d.jsonl",
        b"{\"code\":\"contract A {}\",\"label\":\"reentrancy\"}\n{\"code\":\"contract B {}\",\"label\":\"Safe\"}\n",
    );
    let err = binary(&typo, UnknownLabels::Error)
        .expect_err("a typo")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: unknown label `Safe` (did you mean `safe`?)",
            typo.display()
        )),
        "{err}"
    );
    let foreign = write(
        "label-foreign",
        "d.jsonl",
        b"{\"code\":\"contract A {}\",\"label\":\"safe\"}\n{\"code\":\"contract B {}\",\"labels\":[\"reentrancy\",\"frobnicate\"]}\n",
    );
    let err = binary(&foreign, UnknownLabels::Error)
        .expect_err("unknown")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: unknown label `frobnicate`;",
            foreign.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("dataset.unknown_labels"),
        "says how to accept it: {err}"
    );
    // A 0/1 column (most datasets outside cgt_dasp) is answered with the merge that maps it.
    let numeric = write(
        "label-numeric",
        "d.jsonl",
        b"{\"code\":\"contract A {}\",\"label\":\"safe\"}\n{\"code\":\"contract B {}\",\"label\":1}\n",
    );
    let err = binary(&numeric, UnknownLabels::Error)
        .expect_err("a number")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: unknown label `1` (a number names no class: map it, e.g. dataset.merge = \
             {{ \"0\" = \"safe\", \"1\" = \"vulnerable\" }});",
            numeric.display()
        )),
        "{err}"
    );

    // The config says what to do: drop such records (counted) or keep the old behaviour.
    let dropped = binary(&foreign, UnknownLabels::Drop).expect("drop");
    assert_eq!(dropped.records.len(), 1);
    assert_eq!(
        dropped.label_report.unknown,
        vec![("frobnicate".to_string(), 1)]
    );
    let kept = binary(&foreign, UnknownLabels::Keep).expect("keep");
    assert_eq!(kept.records.len(), 2);
    assert_eq!(kept.records[1].label, "vulnerable");

    // known_labels extends the vocabulary.
    let named = Dataset::load(&DataConfig {
        file: foreign.clone(),
        task: alambic::data::Task::Binary,
        known_labels: vec!["frobnicate".into()],
        ..DataConfig::default()
    })
    .expect("named");
    assert_eq!(named.records.len(), 2);
}
