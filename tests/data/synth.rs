//! The demo generator: deterministic, fair, and no identifier gives the label away.

use alambic::data::clean::lex;
use alambic::data::synth::{SynthConfig, generate, to_jsonl};
use std::collections::BTreeMap;

#[test]
fn same_seed_same_bytes_and_committed_file_is_current() {
    let cfg = SynthConfig::default();
    let a = to_jsonl(&generate(&cfg));
    let b = to_jsonl(&generate(&cfg));
    assert_eq!(a, b);
    let other = to_jsonl(&generate(&SynthConfig { seed: 8, ..cfg }));
    assert_ne!(a, other);
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/contracts.jsonl"),
    )
    .expect("data/demo/contracts.jsonl is committed");
    assert!(
        committed == a,
        "data/demo/contracts.jsonl is stale: run `alambic data synth`"
    );
}

/// Words that would let a model read the label from a name (SolidiFI's flaw).
const TELLING: [&str; 16] = [
    "reentr",
    "overflow",
    "underflow",
    "bug",
    "vuln",
    "safe",
    "unsafe",
    "exploit",
    "attack",
    "hack",
    "secure",
    "fixed",
    "unchecked",
    "random",
    "origin",
    "timestamp",
];

/// Solidity's own words that may legitimately contain one of the above.
const BUILTINS: [&str; 2] = ["origin", "timestamp"];

#[test]
fn no_identifier_reveals_a_label() {
    let records = generate(&SynthConfig::default());
    for r in &records {
        let tokens = lex(&r.code);
        for (i, t) in tokens.iter().enumerate() {
            let lower = t.to_ascii_lowercase();
            let member_of_builtin = i > 0
                && tokens[i - 1] == "."
                && matches!(tokens.get(i.wrapping_sub(2)), Some(&"tx") | Some(&"block"));
            for word in TELLING {
                if lower.contains(word) && !(member_of_builtin && BUILTINS.contains(&word)) {
                    panic!("{}: identifier `{t}` reveals a label", r.id);
                }
            }
        }
    }
}

#[test]
fn classes_are_mixed_and_noisy_but_not_degenerate() {
    let records = generate(&SynthConfig::default());
    assert_eq!(records.len(), 480);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *counts.entry(r.label.as_str()).or_default() += 1;
    }
    let got: Vec<(&str, usize)> = counts.into_iter().collect();
    assert_eq!(
        got,
        vec![
            ("access_control", 37),
            ("arithmetic", 46),
            ("bad_randomness", 36),
            ("reentrancy", 75),
            ("safe", 168),
            ("time_manipulation", 43),
            ("tx_origin", 25),
            ("unchecked_low_level_calls", 50),
        ]
    );
    let multi = records.iter().filter(|r| r.labels.len() > 1).count();
    assert_eq!(multi, 35);
    // Safe contracts carry near-miss forms of risky code too.
    let safe_with_call = records
        .iter()
        .filter(|r| r.label == "safe" && r.code.contains(".call"))
        .count();
    assert!(
        safe_with_call > 20,
        "only {safe_with_call} safe contracts make a low-level call"
    );
}

/// What a line carrying each planted weakness looks like.
const BUG_SHAPES: [&str; 9] = [
    ".call",
    ".send(",
    "tx.origin ==",
    " <= ",
    "-= amount;",
    "+= amount;",
    "to.length * amount",
    "keccak256",
    "() public {",
];

#[test]
fn bug_lines_point_at_the_planted_weaknesses() {
    let records = generate(&SynthConfig::default());
    let with_bugs = records.iter().filter(|r| !r.bug_lines.is_empty()).count();
    // 480 contracts, 35 % safe by draw: the rest carry one or two weaknesses.
    assert_eq!(with_bugs, 309);
    for r in &records {
        // The code is clean already: the lines a user reads are the lines the model reads.
        let cleaned = alambic::data::clean::clean(&r.code, &Default::default());
        assert_eq!(cleaned, r.code, "{}", r.id);
        assert!(!r.code.contains('\u{1}'), "{}: a bug mark survived", r.id);
        let lines: Vec<&str> = r.code.lines().collect();
        for &b in &r.bug_lines {
            let line = lines[b - 1];
            assert!(
                BUG_SHAPES.iter().any(|s| line.contains(s))
                    || line.contains("selfdestruct")
                    || line.contains(".transfer("),
                "{} line {b}: `{line}` carries no weakness",
                r.id
            );
        }
    }
    // Label noise (5 %) is the only way label and lines disagree: 6 safe contracts labelled
    // vulnerable, 3 vulnerable ones labelled safe.
    let disagree = |vulnerable: bool| {
        records
            .iter()
            .filter(|r| (r.label != "safe") == vulnerable && r.bug_lines.is_empty() == vulnerable)
            .count()
    };
    assert_eq!((disagree(true), disagree(false)), (6, 3));
}
