//! The `alambic` binary, end to end.

use crate::common::{alambic, cgt_dasp, fixture, json_of, scratch_dir, succeeded};

#[test]
fn data_stats_json_on_cgt_dasp_with_a_tokenizer() {
    let file = cgt_dasp();
    let tok = fixture("tiny-bert");
    let out = alambic(&[
        "data",
        "stats",
        file.to_str().expect("path"),
        "--tokenizer",
        tok.to_str().expect("path"),
        "--max-len",
        "256",
        "--stride",
        "32",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["records"], 2224);
    assert_eq!(v["split_totals"], serde_json::json!([1777, 224, 223]));
    assert_eq!(v["classes"][0]["class"], "safe");
    assert_eq!(v["classes"][0]["splits"], serde_json::json!([528, 66, 66]));
    let t = &v["tokens"];
    assert_eq!(t["max_len"], 256);
    let windows = t["windows_total"].as_u64().expect("windows");
    let hist: u64 = t["histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|b| b[2].as_u64().expect("count"))
        .sum();
    assert_eq!(hist, 2224, "every contract is in one bucket");
    // Power-of-two buckets that read as whole ranges: 0-31, 32-63, 64-127, …
    let edges: Vec<(u64, u64)> = t["histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|b| (b[0].as_u64().expect("low"), b[1].as_u64().expect("high")))
        .collect();
    assert!(
        edges
            .iter()
            .all(|&(lo, hi)| (lo, hi) == (0, 32) || (lo >= 32 && hi == 2 * lo))
    );
    assert!(edges.windows(2).all(|w| w[0].1 == w[1].0), "{edges:?}");
    assert!(
        edges.iter().any(|&(lo, hi)| (lo, hi) == (128, 256)),
        "{edges:?}"
    );
    assert_eq!(alambic::data::stats::bin_label(64, 128), "64-127");
    assert!(windows > 2224, "long contracts make several windows");
}

#[test]
fn bad_input_exits_non_zero_with_file_and_line() {
    let dir = scratch_dir("cli-bad");
    let file = dir.join("d.jsonl");
    std::fs::write(
        &file,
        "{\"code\":\"contract A {}\",\"label\":\"safe\"}\n{oops\n",
    )
    .expect("write");
    let out = alambic(&["data", "stats", file.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("d.jsonl:2: malformed JSON"), "{err}");
    let out = alambic(&["data", "stats", file.to_str().expect("path"), "--skip-bad"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("skipped  1 bad records"), "{text}");
}

#[test]
fn split_holds_out_whole_sources_from_a_gzipped_file() {
    let dir = scratch_dir("cli-hold-out");
    // The dataset gzipped: every reader takes `.gz`.
    let gz = dir.join("cgt_dasp.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::fast(),
    );
    let raw = std::fs::read(crate::common::cgt_dasp()).expect("read");
    std::io::Write::write_all(&mut enc, &raw).expect("gzip");
    enc.finish().expect("finish");
    let split = dir.join("split.jsonl");
    let path = |p: &std::path::Path| p.to_str().expect("path").to_string();
    let out = alambic(&[
        "data",
        "split",
        &path(&gz),
        "--task",
        "binary",
        "--hold-out",
        "ContractFuzzer,CodeSmells",
        "-o",
        &path(&split),
    ]);
    succeeded(&out);
    let text = std::fs::read_to_string(&split).expect("read");
    let count = |name: &str| {
        text.lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["split"] == name
            })
            .count()
    };
    assert_eq!(
        [count("train"), count("valid"), count("test")],
        [1141, 143, 940]
    );
    // A typo names the sources there are, and writes nothing.
    let typo = dir.join("typo.jsonl");
    let out = alambic(&[
        "data",
        "split",
        &path(&gz),
        "--hold-out",
        "ContractFuzer",
        "-o",
        &path(&typo),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`ContractFuzer`") && err.contains("ContractFuzzer, Doublade"),
        "{err}"
    );
    assert!(!typo.exists());
}

#[test]
fn split_then_clean_round_trip() {
    let dir = scratch_dir("cli-split");
    let split = dir.join("split.jsonl");
    let out = alambic(&[
        "data",
        "split",
        "data/demo/contracts.jsonl",
        "-o",
        split.to_str().expect("path"),
        "--seed",
        "5",
    ]);
    succeeded(&out);
    let cleaned = dir.join("clean.jsonl");
    let out = alambic(&[
        "data",
        "clean",
        split.to_str().expect("path"),
        "-o",
        cleaned.to_str().expect("path"),
        "--drop-pragma",
    ]);
    succeeded(&out);
    let text = std::fs::read_to_string(&cleaned).expect("read");
    assert_eq!(text.lines().count(), 480);
    assert!(!text.contains("pragma solidity"));
    let splits: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["split"].to_string())
        .collect();
    assert_eq!(
        splits.iter().filter(|s| s.as_str() == "\"train\"").count(),
        384
    );
}

#[test]
fn config_file_sets_fields_and_rejects_unknown_keys() {
    let dir = scratch_dir("cli-config");
    let data = dir.join("d.jsonl");
    std::fs::write(
        &data,
        "{\"src\":\"contract A { uint a; }\",\"kind\":\"safe\"}\n{\"src\":\"contract A { uint a; }\",\"kind\":\"reentrancy\"}\n",
    )
    .expect("write");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[dataset]\nfields = { text = \"src\", label = \"kind\" }\n",
    )
    .expect("write");
    let out = alambic(&[
        "data",
        "clean",
        data.to_str().expect("path"),
        "--config",
        good.to_str().expect("path"),
        "--drop-exact",
        "-o",
        dir.join("out.jsonl").to_str().expect("path"),
    ]);
    succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrote 1 records") && err.contains("1 exact duplicates removed"),
        "{err}"
    );
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[dataset]\nmin_cont = 3\n").expect("write");
    let out = alambic(&[
        "data",
        "stats",
        data.to_str().expect("path"),
        "--config",
        bad.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "bad.toml: unknown key `dataset.min_cont` (did you mean `dataset.min_count`?)"
        ),
        "{err}"
    );
}

#[test]
fn without_a_terminal_the_workbench_points_to_the_headless_commands() {
    for args in [&[][..], &["tui"][..]] {
        let out = alambic(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the workbench needs a terminal")
                && err.contains("alambic train|distill|sweep --config FILE"),
            "{err}"
        );
    }
}

#[test]
fn bench_reports_every_case_with_the_models_parameters_and_the_machine() {
    let out = alambic(&[
        "bench",
        "--model",
        "scratch:bert-tiny",
        "--seq",
        "8,16",
        "--batch",
        "2",
        "--steps",
        "2",
        "--warmup",
        "0",
    ]);
    let doc = json_of(&out);
    let cases: Vec<(u64, String, u64, usize)> = doc["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| {
            (
                m["case"]["seq"].as_u64().expect("seq"),
                m["case"]["phase"].as_str().expect("phase").to_string(),
                m["parameters"].as_u64().expect("parameters"),
                m["step_seconds"].as_array().expect("steps").len(),
            )
        })
        .collect();
    // bert-tiny with a 2-class pooler head: the count `alambic model info` gives.
    assert_eq!(
        cases,
        [
            (8, "train".to_string(), 1_503_362, 2),
            (8, "infer".to_string(), 1_503_362, 2),
            (16, "train".to_string(), 1_503_362, 2),
            (16, "infer".to_string(), 1_503_362, 2),
        ]
    );
    assert!(doc["machine"]["threads"].as_u64().expect("threads") >= 1);
    assert!(doc["tokenizer"].is_null());
}

/// A dataset of another shape (`source_code`, a 0/1 `vulnerable`): each error names what to
/// set, and `--set` with `--merge` reads it, as a new user would get there.
#[test]
fn data_stats_reads_a_foreign_dataset_through_set_and_merge() {
    let dir = scratch_dir("cli-foreign");
    let file = dir.join("foreign.jsonl");
    let rows: String = (0..6)
        .map(|i| {
            format!(
                "{{\"source_code\":\"contract C{i} {{ uint x{i}; }}\",\"vulnerable\":{}}}\n",
                i % 2
            )
        })
        .collect();
    std::fs::write(&file, rows).expect("write");
    let f = file.to_str().expect("path");
    let stats = |extra: &[&str]| {
        let mut args = vec!["data", "stats", f, "--task", "binary", "--json"];
        args.extend_from_slice(extra);
        alambic(&args)
    };
    let err = String::from_utf8_lossy(&stats(&[]).stderr).to_string();
    assert!(
        err.contains("missing text field `code` (the record has `source_code`, `vulnerable`"),
        "{err}"
    );
    let text = ["--set", "dataset.fields.text=\"source_code\""];
    let err = String::from_utf8_lossy(&stats(&text).stderr).to_string();
    assert!(
        err.contains("the record has `vulnerable`: name it with `dataset.fields.label`"),
        "{err}"
    );
    let label = [&text[..], &["--set", "dataset.fields.label=\"vulnerable\""]].concat();
    let err = String::from_utf8_lossy(&stats(&label).stderr).to_string();
    assert!(
        err.contains("unknown label `0` (a number names no class"),
        "{err}"
    );
    let merged = [
        &label[..],
        &["--merge", "0=safe", "--merge", "1=vulnerable"],
    ]
    .concat();
    let v = json_of(&stats(&merged));
    assert_eq!(v["records"], 6);
    let counts: Vec<(String, u64)> = v["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| {
            let total = c["splits"]
                .as_array()
                .expect("splits")
                .iter()
                .filter_map(|n| n.as_u64())
                .sum();
            (c["class"].as_str().expect("class").to_string(), total)
        })
        .collect();
    assert_eq!(
        counts,
        vec![("safe".to_string(), 3), ("vulnerable".to_string(), 3)]
    );
}
