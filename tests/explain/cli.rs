//! `alambic explain`, `predict --explain` and `eval --localisation` as a user runs them.

use crate::common::{alambic, json_of, scratch_dir};

const SCRATCH: &str = "scratch:bert-tiny?tokenizer=data/demo/tokenizer.json";

/// `alambic explain` of the tiny scratch model, with these arguments after it.
fn explain_scratch(args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "explain",
        "--model",
        SCRATCH,
        "--config",
        "tests/configs/tiny.toml",
    ];
    all.extend_from_slice(args);
    alambic(&all)
}

fn contract(dir: &std::path::Path) -> std::path::PathBuf {
    let text = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n\n\n\n/* a block\n   comment */\ncontract Vault {\n    mapping(address => uint256) balances;\n\n    function withdraw(uint256 amount) public {\n        (bool ok, ) = msg.sender.call{value: amount}(\"\");\n        require(ok);\n        balances[msg.sender] -= amount;\n    }\n}\n";
    let path = dir.join("vault.sol");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn explain_json_numbers_lines_as_in_the_file() {
    let dir = scratch_dir("explain-cli");
    let file = contract(&dir);
    let f = file.to_str().expect("path");
    let out = explain_scratch(&[f, "--json", "--method", "grad"]);
    let v = json_of(&out);
    let raw = std::fs::read_to_string(&file).expect("read");
    let lines = v["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), raw.lines().count());
    for (i, (l, text)) in lines.iter().zip(raw.lines()).enumerate() {
        assert_eq!(l["line"], i + 1);
        assert_eq!(l["text"], text);
    }
    // The comments and blank lines carry no tokens; the call does.
    assert_eq!(lines[0]["tokens"], 0);
    assert_eq!(lines[6]["tokens"], 0);
    assert!(lines[11]["tokens"].as_u64().expect("n") > 0);
    assert_eq!(v["method"], "grad");
    // The printed top lines carry the file's numbers and text.
    let out = explain_scratch(&[f, "--top", "3", "--method", "windows"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for row in rows {
        let n: usize = row
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("n");
        let line = raw.lines().nth(n - 1).expect("line").trim();
        assert!(row.ends_with(line), "{row} vs line {n} `{line}`");
    }
}

#[test]
fn explain_refuses_a_typo_and_a_missing_file() {
    let dir = scratch_dir("explain-typo");
    let file = contract(&dir);
    let f = file.to_str().expect("path");
    let out = explain_scratch(&[f, "--method", "gard"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gard") && err.contains("windows, ig or grad"),
        "{err}"
    );
    let missing = dir.join("nope.sol");
    let out = explain_scratch(&[missing.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.sol"));
}

#[test]
fn eval_localisation_scores_the_demo_bug_lines() {
    let out = alambic(&[
        "eval",
        "--model",
        SCRATCH,
        "--config",
        "tests/configs/tiny.toml",
        "--data",
        "data/demo/contracts.jsonl",
        "--localisation",
        "--json",
        "--method",
        "grad",
        "--method",
        "windows",
    ]);
    let v = json_of(&out);
    // The test records with bug lines, counted straight from the prepared dataset.
    let cfg = crate::common::tiny(&[]);
    let ds = alambic::data::Dataset::prepare(&cfg.dataset).expect("dataset");
    let annotated = ds
        .split_records(alambic::data::Split::Test)
        .filter(|r| {
            r.extra
                .get("bug_lines")
                .and_then(|b| b.as_array())
                .is_some_and(|b| !b.is_empty())
        })
        .count();
    assert!(annotated > 0);
    assert_eq!(v["annotated"], annotated);
    let flagged = v["flagged"].as_u64().expect("flagged") as f64;
    assert!(flagged <= annotated as f64);
    let methods: Vec<&str> = v["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["method"].as_str().expect("name"))
        .collect();
    assert_eq!(methods, ["grad", "windows"]);
    for m in v["methods"].as_array().expect("methods") {
        for k in ["hit1", "hit3"] {
            let h = m[k].as_f64().expect(k);
            // A share of the flagged contracts.
            assert!(
                (h * flagged - (h * flagged).round()).abs() < 1e-9,
                "{k} {h}"
            );
        }
        assert!(m["hit1"].as_f64() <= m["hit3"].as_f64());
    }
    assert!(v["random"]["hit1"].as_f64() <= v["random"]["hit3"].as_f64());
}
