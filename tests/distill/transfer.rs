//! The transfer set: unlabelled contracts for the soft terms, minus those that leak into
//! validation or test.

use super::run::{config, run};
use crate::common::scratch_dir;
use alambic::data::Split;
use alambic::distill::transfer::{TransferReport, attach};
use alambic::store::TrainEvent;
use alambic::train::trainer::prepare_data;
use serde_json::json;

fn contract(name: &str) -> String {
    format!(
        "pragma solidity ^0.8.0;\ncontract {name}Vault {{\n    mapping(address => uint256) public {name}Shares;\n    \
         function deposit{name}() external payable {{ {name}Shares[msg.sender] += msg.value * 7; }}\n    \
         function {name}Sweep(address payable to) external {{ to.transfer(address(this).balance / 3); }}\n}}\n"
    )
}

#[test]
fn transfer_contracts_duplicating_held_out_ones_are_dropped_and_counted() {
    let cfg = config(&[]);
    let mut ds = prepare_data(&cfg).expect("data");
    let code_of = |split| {
        ds.records
            .iter()
            .find(|r| r.split == Some(split))
            .map(|r| r.code.clone())
            .expect("a record")
    };
    let (valid, test, train) = (
        code_of(Split::Valid),
        code_of(Split::Test),
        code_of(Split::Train),
    );
    let dir = scratch_dir("transfer");
    let file = dir.join("unlabeled.jsonl");
    let mut lines: Vec<String> = [valid, test, train]
        .into_iter()
        .chain(["Orchid", "Quill", "Zephyr"].map(contract))
        .enumerate()
        .map(|(i, code)| {
            json!({"id": format!("u{i}"), "code": code, "label": "unlabeled", "split": "unlabeled"})
                .to_string()
        })
        .collect();
    lines.push(String::new());
    std::fs::write(&file, lines.join("\n")).expect("write");
    let before = ds.records.len();
    let report = attach(&mut ds, &file, &cfg.dataset).expect("attach");
    assert_eq!(
        report,
        TransferReport {
            file: file.display().to_string(),
            read: 6,
            kept: 4,
            dropped_leaking: 2,
        }
    );
    let kept: Vec<&str> = ds.records[before..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        kept,
        ["u2", "u3", "u4", "u5"],
        "a copy of a training contract may stay"
    );
    assert!(
        ds.records[before..]
            .iter()
            .all(|r| r.split == Some(Split::Unlabeled))
    );

    // In a run: reported as an event, scored by the teacher, trained on with soft terms only.
    let out = dir.join("runs");
    let transfer = format!("distill.transfer=\"{}\"", file.display());
    let (_, events) = run(&config(&[transfer.as_str(), "train.max_steps=3"]), &out);
    let reported = events.iter().find_map(|e| match e {
        TrainEvent::Transfer {
            kept,
            dropped_leaking,
            ..
        } => Some((*kept, *dropped_leaking)),
        _ => None,
    });
    assert_eq!(reported, Some((4, 2)));
    let cache = events
        .iter()
        .find_map(|e| match e {
            TrainEvent::TeacherCache { path, .. } => Some(path.clone()),
            _ => None,
        })
        .expect("cache");
    let logits = alambic::distill::cache::load(std::path::Path::new(&cache)).expect("cache");
    let labelled = ds.records[..before]
        .iter()
        .filter(|r| matches!(r.split, Some(Split::Train | Split::Valid)))
        .count();
    assert_eq!(
        logits.len(),
        labelled + 4,
        "the teacher scored the kept transfer contracts"
    );
}
