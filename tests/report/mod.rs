//! `alambic report` on a tiny distillation (its child teacher and the student) and a 2 × 2
//! sweep: the page parses, every section is there, the tables carry the runs' own numbers, the
//! plots carry their series.

use crate::common::{scratch_dir, summary};
use alambic::distill::distill;
use alambic::explain::Method;
use alambic::explain::evidence::{EVIDENCE_FILE, Evidence, evidence_agreement, run_evidence};
use alambic::report::{collect, html::render};
use alambic::store::{RunDir, VecSink};
use alambic::sweep::{Placement, SweepDir, prepare_teacher, work};
use alambic::train::ExperimentConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn tiny(sets: &[&str]) -> ExperimentConfig {
    let mut all = vec!["teacher.model=\"scratch:bert-tiny?tokenizer=data/demo/tokenizer.json\""];
    all.extend_from_slice(sets);
    crate::common::tiny(&all)
}

#[test]
fn a_report_of_runs_and_a_sweep_has_every_section_and_the_runs_numbers() {
    let out = scratch_dir("report");
    let cfg = tiny(&["train.max_steps=4"]);
    let mut run = RunDir::create(&out.join("runs"), "distill", &cfg.to_toml()).expect("run");
    distill(
        &cfg,
        &mut run,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .expect("distill");
    let teacher_ckpt = std::fs::read_to_string(run.path.join("teacher.txt")).expect("teacher");
    let teacher = PathBuf::from(teacher_ckpt.trim())
        .parent()
        .and_then(Path::parent)
        .expect("teacher run")
        .to_path_buf();
    let grid = [
        "distill.alpha=0.2,0.8".to_string(),
        "distill.temperature=1,4".to_string(),
    ];
    let sweep =
        SweepDir::create(&out.join("sweeps"), &tiny(&["train.max_steps=2"]), &grid).expect("sweep");
    let stop = AtomicBool::new(false);
    prepare_teacher(&sweep, &mut VecSink::default(), &stop).expect("teacher");
    let quiet = |_: &alambic::sweep::Cell| -> Box<dyn alambic::store::EventSink> {
        Box::new(VecSink::default())
    };
    work(&sweep, None, &quiet, &stop, &Placement::default()).expect("sweep");

    let mut report =
        collect(&[teacher.clone(), run.path.clone(), sweep.path.clone()]).expect("collect");
    report.attach_evidence(Method::Grad, 1, 8);
    let html = render(&report, "Weekly report");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts).expect("the page parses as XML");
    let ids: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("section"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "dataset",
            "curves",
            "comparison",
            "confusion",
            "evidence",
            "sweep",
            "frontier",
            "configs"
        ]
    );
    // The comparison table holds each run's own test numbers.
    for dir in [&teacher, &run.path] {
        let s = summary(dir);
        for key in ["accuracy", "macro_f1"] {
            let v = format!("{:.4}", s["test"][key].as_f64().expect(key));
            assert!(
                html.contains(&format!("<td>{v}</td>")),
                "{key} {v} of {}",
                dir.display()
            );
        }
    }
    // The sweep: every cell's objective in the grid, the best one marked, its test score.
    let sweep_summary = summary(&sweep.path);
    for c in sweep_summary["cells"].as_array().expect("cells") {
        let v = format!("{:.4}", c["objective"].as_f64().expect("objective"));
        assert!(html.contains(&format!("{v}</td>")), "cell {v}");
    }
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("best"))
            .count(),
        1
    );
    let best_test = format!(
        "test macro-F1 {:.4}",
        sweep_summary["best"]["test"]["macro_f1"]
            .as_f64()
            .expect("best test")
    );
    assert!(html.contains(&best_test), "{best_test}");
    // Curves: the distillation's figure carries loss, hard_ce and soft_kl; each figure says how
    // many series it has and names each in its legend.
    let figures: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure") && n.attribute("data-series").is_some())
        .collect();
    let distill_fig = figures
        .iter()
        .find(|f| {
            f.descendants().any(|t| {
                t.text()
                    .is_some_and(|x| x.contains(&format!("{} (distill)", run.info.run_id)))
            })
        })
        .expect("the distillation's curves");
    assert_eq!(distill_fig.attribute("data-series"), Some("3"));
    let texts: Vec<&str> = distill_fig.descendants().filter_map(|n| n.text()).collect();
    for name in ["loss", "hard_ce", "soft_kl"] {
        assert!(
            texts.iter().any(|t| t.trim() == name),
            "legend lacks {name}"
        );
    }
    // Evidence: kept in each run folder, read back rather than computed again, and the
    // student's agreement with its teacher in the table.
    let kept = |dir: &Path| -> Evidence {
        serde_json::from_str(&std::fs::read_to_string(dir.join(EVIDENCE_FILE)).expect("kept"))
            .expect("evidence.json")
    };
    let (te, se) = (kept(&teacher), kept(&run.path));
    assert_eq!((te.method, te.steps, te.limit), (Method::Grad, 1, 8));
    assert!(!te.contracts.is_empty() && te.contracts.len() <= 8);
    assert_eq!(
        run_evidence(&teacher, Method::Grad, 1, 8).expect("again"),
        te
    );
    let a = evidence_agreement(&te, &se);
    assert_eq!(a.contracts, te.contracts.len());
    for v in [a.top_overlap, a.rank_correlation, a.same_verdict] {
        assert!(
            html.contains(&format!("<td>{v:.3}</td>")),
            "agreement {v:.3}"
        );
    }
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("script"))
            .count(),
        0
    );
    std::fs::write(out.join("report.html"), &html).expect("write");

    // A run on another dataset (here: another max_len) gets a dataset section of its own; the
    // teacher and its student share one.
    let other = out.join("runs/other-dataset");
    std::fs::create_dir_all(&other).expect("mkdir");
    for f in ["run.json", "summary.json", "events.jsonl"] {
        std::fs::copy(run.path.join(f), other.join(f)).expect("copy");
    }
    let config = std::fs::read_to_string(run.path.join("config.toml")).expect("config");
    assert!(config.contains("max_len = 64"));
    std::fs::write(
        other.join("config.toml"),
        config.replace("max_len = 64", "max_len = 128"),
    )
    .expect("write");
    let three = collect(&[teacher.clone(), run.path.clone(), other]).expect("collect");
    let groups: Vec<Vec<usize>> = three.datasets.iter().map(|d| d.runs.clone()).collect();
    assert_eq!(groups, [vec![0, 1], vec![2]]);
    assert_eq!(
        three
            .datasets
            .iter()
            .map(|d| d.stats.tokens.as_ref().map(|t| t.max_len))
            .collect::<Vec<_>>(),
        [Some(64), Some(128)]
    );

    // The same content as Markdown through the command line: every section heading, the same
    // numbers, one SVG file beside it per figure of the HTML page, each a parsable SVG.
    let md_path = out.join("weekly.md");
    let args: Vec<String> = [&teacher, &run.path, &sweep.path]
        .iter()
        .map(|p| p.display().to_string())
        .chain([
            "--markdown".into(),
            "-o".into(),
            md_path.display().to_string(),
        ])
        .collect();
    let mut all = vec!["report"];
    all.extend(args.iter().map(String::as_str));
    let cli = crate::common::alambic(&all);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let md = std::fs::read_to_string(&md_path).expect("the Markdown report");
    for heading in [
        "## Dataset",
        "## Training curves",
        "## Teacher vs students (test split)",
        "## Confusion matrices",
        "## Where the verdicts come from",
        "## Sweeps",
        "## Efficiency frontier",
        "## Exact configs",
    ] {
        assert!(md.contains(heading), "{heading}");
    }
    for dir in [&teacher, &run.path] {
        let v = format!(
            "| {:.4} |",
            summary(dir)["test"]["macro_f1"].as_f64().expect("f1")
        );
        assert!(md.contains(&v), "macro-F1 {v} of {}", dir.display());
    }
    assert!(md.contains(&best_test), "{best_test}");
    let files = out.join("weekly_files");
    let mut svgs: Vec<String> = std::fs::read_dir(&files)
        .expect("the figures' folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    svgs.sort();
    let html_figures = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure"))
        .count();
    assert_eq!(svgs.len(), html_figures, "{svgs:?}");
    for name in &svgs {
        assert!(
            md.contains(&format!("(weekly_files/{name})")),
            "{name} linked"
        );
        let svg = std::fs::read_to_string(files.join(name)).expect("svg");
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn frontier_labels_of_runs_at_the_same_point_do_not_overlap() {
    let points = [
        ("1 teacher".to_string(), 90.0, 0.6),
        ("2 teacher".to_string(), 90.0, 0.6),
        ("3 student".to_string(), 90.0, 0.6),
        ("4 student".to_string(), 10.0, 0.5),
    ];
    let svg = alambic::report::plots::frontier("t", "x", "y", &points);
    let doc = roxmltree::Document::parse(&svg).expect("svg");
    let label_y = |label: &str| -> f64 {
        let node = doc
            .descendants()
            .find(|n| {
                n.has_tag_name("text") && n.text().is_some_and(|t| t.trim().starts_with(label))
            })
            .unwrap_or_else(|| panic!("{label} drawn"));
        node.attribute("y").expect("y").parse().expect("number")
    };
    let ys: Vec<f64> = ["1 teacher", "2 teacher", "3 student"]
        .iter()
        .map(|l| label_y(l))
        .collect();
    // Three lines of 14 px, one under the other.
    assert_eq!(ys[1] - ys[0], 14.0, "{ys:?}");
    assert_eq!(ys[2] - ys[1], 14.0, "{ys:?}");
}

/// Each run is compared with its own teacher: a distillation with the teacher run its config
/// names, a student trained alone with the teacher of its dataset and seed — not with
/// whichever teacher came last on the command line.
#[test]
fn each_run_is_measured_against_its_own_teacher() {
    use alambic::report::{Report, RunData};
    let run = |name: &str, role: &str, config: &str, run_id: &str| RunData {
        path: PathBuf::from(name),
        name: name.into(),
        role: role.into(),
        summary: crate::common::summary_with_id(run_id),
        config: config.into(),
        device: None,
        peak_gpu_memory_bytes: None,
        loss: Vec::new(),
        terms: Default::default(),
        valid_f1: Vec::new(),
        expert_load: Default::default(),
    };
    let head = "[dataset]\nmax_len = 128\n";
    let windows = "[dataset]\nmax_len = 256\n";
    let seeded = |ds: &str, seed: u32| format!("{ds}[train]\nseed = {seed}\n");
    let report = Report {
        runs: vec![
            run(
                "teacher",
                "teacher",
                &seeded(head, 13),
                "20261130-teacher-a",
            ),
            run(
                "teacher@s14",
                "teacher",
                &seeded(head, 14),
                "20261130-teacher-b",
            ),
            run("alone@s14", "student", &seeded(head, 14), "x"),
            run("alone", "student", &seeded(head, 13), "y"),
            run(
                "kd@s14",
                "distill",
                &format!(
                    "{}[teacher]\nmodel = \"runs/study/20261130-teacher-a/\"\n",
                    seeded(head, 14)
                ),
                "z",
            ),
            run("w-teacher", "teacher", &seeded(windows, 13), "w"),
            run("w-alone", "student", &seeded(windows, 99), "v"),
            run("other", "student", "[dataset]\nmax_len = 64\n", "u"),
        ],
        ..Report::default()
    };
    assert_eq!(
        report.reference_teachers(),
        [
            Some(0),
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(5),
            Some(5),
            Some(5)
        ]
    );
}

/// A Mixture-of-Experts student's report has its expert-load figure: one line per expert of
/// each mixture layer, from the run's events; its balancing term joins the loss figure.
#[test]
fn a_mixture_runs_report_has_its_expert_load() {
    use alambic::store::TrainEvent;
    let (path, events) = crate::train::runs::run_tiny(
        "report-moe",
        &[
            "student.moe.experts=3",
            "student.moe.layers=[2]",
            "train.max_steps=4",
        ],
    );
    let loads = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::ExpertLoad { .. }))
        .count();
    let report = collect(std::slice::from_ref(&path)).expect("collect");
    let data = &report.runs[0];
    assert_eq!(
        data.expert_load.keys().collect::<Vec<_>>(),
        vec!["L2 e0", "L2 e1", "L2 e2"]
    );
    assert!(data.expert_load.values().all(|v| v.len() == loads));
    assert!(data.terms.contains_key("moe_balance"));
    // Layer 2's FFN of 512 neurons became 3 experts of 512 behind a router: a token uses one.
    let s = &data.summary;
    let (hidden, neurons) = (128, 512);
    let idle = 2 * (neurons * (2 * hidden + 1)) as u64;
    assert_eq!(s.active_parameters, Some(s.parameters - idle));
    let html = render(&report, "Weekly report");
    let active = format!("({:.2} M active)", (s.parameters - idle) as f64 / 1e6);
    assert!(html.contains(&active), "the comparison lacks {active}");
    assert!(html.contains("expert load"), "no expert-load figure");
    for key in ["L2 e0", "L2 e1", "L2 e2"] {
        assert!(html.contains(key), "the figure lacks {key}");
    }
}
