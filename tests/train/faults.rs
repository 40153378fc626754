//! Bad input and faults found by probing: empty and unreadable contracts in `predict`, a NaN
//! before any checkpoint, a full disk, a torn final event, an unknown split value, a summary of
//! another schema version, two views of a run on another host, and typed config values.

use super::runs::shared_run;
use crate::common::{alambic, scratch_dir, tiny, training_error};
use alambic::data::Dataset;
use alambic::data::config::{DataConfig, UnknownSplit};
use alambic::store::RunDir;
use alambic::store::run_dir::{RunInfo, now, read_info};
use alambic::store::runs::{Status, status_of};
use alambic::store::schema::RunSummary;
use alambic::train::ExperimentConfig;

const CONTRACT: &str = "pragma solidity ^0.4.24;\ncontract A {\n  function f() public {}\n}\n";

/// `predict` used to call an empty file "safe" (rc 0), and one unreadable file aborted every
/// verdict: now each bad file is reported with its reason, the others are scored, and the
/// command fails at the end.
#[test]
fn predict_refuses_empty_files_and_goes_on_past_unreadable_ones() {
    let (run, _) = shared_run();
    let dir = scratch_dir("predict-bad-files");
    let (good, empty, blank, binary) = (
        dir.join("a.sol"),
        dir.join("b.sol"),
        dir.join("c.sol"),
        dir.join("d.sol"),
    );
    std::fs::write(&good, CONTRACT).expect("write");
    std::fs::write(&empty, "").expect("write");
    std::fs::write(&blank, "  \n\t\n// only a comment\n").expect("write");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).expect("write");
    let out = alambic(&[
        "predict",
        "--model",
        run.to_str().expect("p"),
        dir.to_str().expect("p"),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bad files must fail the command");
    assert!(
        stderr.contains("3 of 4 files could not be scored"),
        "{stderr}"
    );
    for f in [&empty, &blank] {
        assert!(
            stderr.contains(&format!("{}: not scored: no code to score", f.display())),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("{}: not scored: cannot read it", binary.display())),
        "{stderr}"
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["file"], good.display().to_string());
    assert!(rows[0]["verdict"].is_string());
    assert!(
        rows[1..]
            .iter()
            .all(|r| r["error"].is_string() && r["verdict"].is_null())
    );
}

/// A loss that turns NaN before any checkpoint says so, rather than claiming one is kept.
#[test]
fn a_nan_before_any_checkpoint_says_none_was_saved() {
    let cfg = tiny(&[
        "train.lr=1e12",
        "train.max_grad_norm=0.0",
        "train.warmup_ratio=0.0",
    ]);
    let dir = scratch_dir("nan-no-checkpoint");
    let mut run = RunDir::create(&dir, "student", &cfg.to_toml()).expect("run dir");
    let msg = training_error(&cfg, &mut run, "diverges").to_string();
    assert!(msg.starts_with("the loss became"), "{msg}");
    assert!(msg.contains("no checkpoint had been saved yet"), "{msg}");
    assert!(!msg.contains("is kept"), "{msg}");
}

/// A full disk names the file it could not write (here the event log, on /dev/full).
#[test]
fn a_full_disk_names_the_file() {
    let cfg = tiny(&[]);
    let dir = scratch_dir("disk-full");
    let run = RunDir::create(&dir, "student", &cfg.to_toml()).expect("run dir");
    let events = run.path.join("events.jsonl");
    drop(run);
    std::fs::remove_file(&events).expect("rm");
    std::os::unix::fs::symlink("/dev/full", &events).expect("symlink");
    let mut run = RunDir::open(events.parent().expect("dir"), "student", false).expect("open");
    let msg = training_error(&cfg, &mut run, "the events cannot be written").to_string();
    assert!(
        msg.contains(&format!("cannot write {}", events.display())) && msg.contains("No space"),
        "{msg}"
    );
}

/// A finished run whose last event line was torn is finished (its summary says so), not dead.
#[test]
fn a_torn_final_event_with_a_summary_is_finished() {
    let (run, _) = shared_run();
    let dir = scratch_dir("torn-finished").join("run");
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["run.json", "summary.json", "config.toml"] {
        std::fs::copy(run.join(f), dir.join(f)).expect("copy");
    }
    let text = std::fs::read_to_string(run.join("events.jsonl")).expect("events");
    let cut = text.trim_end().rfind('\n').expect("lines") + 40;
    std::fs::write(dir.join("events.jsonl"), &text[..cut]).expect("write");
    assert_eq!(status_of(&dir).expect("status").status, Status::Finished);
    let mut view = alambic::tui::store::RunView::new(&dir);
    view.poll();
    assert_eq!(view.state(), Status::Finished);
    assert!(
        view.summary.is_some(),
        "the compare pane reads it from summary.json"
    );
}

/// A `split` value outside train/valid/test used to re-split the whole file silently.
#[test]
fn an_unknown_split_value_is_an_error_or_kept_out() {
    let dir = scratch_dir("split-holdout");
    let file = dir.join("d.jsonl");
    let line = |split: &str| {
        format!("{{\"code\":\"contract A {{}}\",\"label\":\"safe\",\"split\":\"{split}\"}}\n")
    };
    let text = [line("train"), line("valid"), line("holdout"), line("test")].concat();
    std::fs::write(&file, text).expect("write");
    let cfg = |unknown| DataConfig {
        file: file.clone(),
        split: alambic::data::config::SplitConfig {
            unknown,
            ..Default::default()
        },
        ..DataConfig::default()
    };
    let err = Dataset::prepare(&cfg(UnknownSplit::Error))
        .expect_err("holdout")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:3: split `holdout` is not train, valid or test",
            file.display()
        )),
        "{err}"
    );
    let ds = Dataset::prepare(&cfg(UnknownSplit::Drop)).expect("drop");
    assert_eq!(ds.records.len(), 3);
    assert_eq!(
        ds.split_source,
        Some("field"),
        "the file's own splits are kept"
    );
    assert_eq!(
        ds.label_report.unknown_splits,
        vec![("holdout".to_string(), 1)]
    );
}

/// Every reader goes through the schema: a summary of another version is a clear error, and
/// a summary from before versions (no `schema` field) still reads.
#[test]
fn a_summary_of_another_schema_version_is_a_clear_error() {
    let (run, _) = shared_run();
    let current = RunSummary::read(run).expect("reads");
    assert_eq!(current.schema, alambic::store::schema::SCHEMA);
    let dir = scratch_dir("schema-version");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("s"))
            .expect("json");
    v["schema"] = serde_json::json!(99);
    std::fs::write(dir.join("summary.json"), v.to_string()).expect("write");
    let err = RunSummary::read(&dir).expect_err("v99").to_string();
    assert!(
        err.contains("schema version 99, which this build of Alambic does not read"),
        "{err}"
    );
    v.as_object_mut().expect("object").remove("schema");
    std::fs::write(dir.join("summary.json"), v.to_string()).expect("write");
    assert_eq!(RunSummary::read(&dir).expect("v1").schema, 1);
    // The report says it too.
    std::fs::copy(run.join("run.json"), dir.join("run.json")).expect("copy");
    v["schema"] = serde_json::json!(99);
    std::fs::write(dir.join("summary.json"), v.to_string()).expect("write");
    let err = alambic::report::read_run(&dir)
        .expect_err("v99")
        .to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

fn info(host: &str, pid: u32, heartbeat: f64) -> RunInfo {
    RunInfo {
        run_id: "r".into(),
        role: "student".into(),
        pid,
        host: host.into(),
        started: heartbeat - 10.0,
        heartbeat,
        device: None,
        peak_gpu_memory_bytes: None,
    }
}

/// `alambic runs` and the TUI decide a run's state by one rule: another host's run lives by
/// its heartbeat (its pid means nothing here), this host's by its pid.
#[test]
fn runs_and_the_tui_agree_on_a_run_of_another_host() {
    let dir = scratch_dir("remote-status").join("run");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("events.jsonl"), "").expect("events");
    let here = read_info(&shared_run().0).expect("info").host;
    // (host, pid, heartbeat age, expected): a pid alive here (ours) on another host says
    // nothing; a dead pid on this host is dead whatever the heartbeat.
    let cases = [
        ("gpu-node-7", std::process::id(), 5.0, Status::Running),
        ("gpu-node-7", std::process::id(), 600.0, Status::Dead),
        ("gpu-node-7", 0, 5.0, Status::Running),
        (here.as_str(), 0, 1.0, Status::Dead),
        (here.as_str(), std::process::id(), 900.0, Status::Running),
    ];
    for (host, pid, age, want) in cases {
        let i = info(host, pid, now() - age);
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string(&i).expect("json"),
        )
        .expect("write");
        let listed = status_of(&dir).expect("status").status;
        let mut view = alambic::tui::store::RunView::new(&dir);
        view.poll();
        assert_eq!(
            (listed, view.state()),
            (want, want),
            "{host} pid {pid} age {age}"
        );
    }
}

/// `pooling`, `class_weights`, `device`, `head` and `recipe` are enums parsed at load: a bad
/// value names its origin and key there, and a sweep cell with one fails the creation.
#[test]
fn typed_config_values_fail_at_load_naming_file_and_key() {
    let dir = scratch_dir("typed-config");
    let file = dir.join("c.toml");
    for (section, key, value) in [
        ("train", "pooling", "\"maxx\""),
        ("train", "class_weights", "\"inverse\""),
        ("student", "head", "\"pooler\""),
        ("distill", "recipe", "\"fitnet\""),
    ] {
        std::fs::write(&file, format!("[{section}]\n{key} = {value}\n")).expect("write");
        let err = ExperimentConfig::load(Some(&file), &[])
            .expect_err(key)
            .to_string();
        assert!(
            err.starts_with(&format!("{}: unknown variant", file.display())),
            "{err}"
        );
        assert!(err.contains(&format!("in `{section}.{key}`")), "{err}");
    }
    std::fs::write(&file, "device = \"tpu\"\n").expect("write");
    let err = ExperimentConfig::load(Some(&file), &[])
        .expect_err("device")
        .to_string();
    assert!(
        err.contains("device `tpu`: expected cpu, cuda[:N] or metal[:N]"),
        "{err}"
    );
    let cfg = ExperimentConfig::load(None, &[]).expect("defaults");
    assert_eq!(cfg.train.pooling, alambic::train::evaluate::Pooling::Max);
    let sweeps = dir.join("sweeps");
    let err = alambic::sweep::SweepDir::create(&sweeps, &cfg, &["train.pooling=max,maxx".into()])
        .err()
        .expect("bad cell")
        .to_string();
    assert!(
        err.contains("cell 1 (pooling=maxx)") && err.contains("train.pooling"),
        "{err}"
    );
    assert!(!sweeps.exists() || std::fs::read_dir(&sweeps).expect("d").next().is_none());
}
