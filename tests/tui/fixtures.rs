//! Fixed data for the panes: synthetic runs (events fed in, no files), the demo dataset, a
//! sweep status. Nothing here depends on the clock.

use alambic::eval::{ClassMetrics, Metrics};
use alambic::store::TrainEvent;
use alambic::store::schema::{Prediction, Predictions, RunSummary, SCHEMA, SplitSizes};
use alambic::sweep::summary::{CellStatus, SweepStatus};
use alambic::train::evaluate::Scores;
use alambic::tui::app::App;
use alambic::tui::launch::{Launcher, RunKind};
use alambic::tui::store::RunView;
use alambic::tui::theme::Theme;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Records what the app asked to start and stop.
#[derive(Clone, Default)]
pub struct FakeLauncher {
    pub started: Arc<Mutex<Vec<RunKind>>>,
    pub stopped: Arc<Mutex<Vec<u32>>>,
}

impl Launcher for FakeLauncher {
    fn start(&self, kind: RunKind, _config: &Path, runs_dir: &Path) -> Result<PathBuf, String> {
        self.started.lock().map_err(|e| e.to_string())?.push(kind);
        Ok(runs_dir.join(format!("fake-{}", kind.name())))
    }
    fn stop(&self, pid: u32) -> Result<(), String> {
        self.stopped.lock().map_err(|e| e.to_string())?.push(pid);
        Ok(())
    }
}

/// Test scores with the given accuracy and macro-F1 over three classes.
fn scores(acc: f64, f1: f64) -> Scores {
    let class = |name: &str, f1: f64, support: usize| ClassMetrics {
        class: name.into(),
        precision: f1,
        recall: f1,
        f1,
        support,
    };
    Scores {
        metrics: Metrics {
            n: 10,
            accuracy: acc,
            macro_f1: f1,
            weighted_f1: f1,
            per_class: vec![
                class("safe", 0.8, 5),
                class("reentrancy", 0.5, 3),
                class("tx_origin", 0.5, 2),
            ],
            confusion: vec![vec![4, 1, 0], vec![1, 2, 0], vec![0, 1, 1]],
        },
        roc_auc: None,
        pr_auc: None,
        threshold: None,
        multilabel: None,
        accuracy_ci: None,
        macro_f1_ci: None,
    }
}

/// A run summary through the schema, as the trainer writes it.
pub fn summary(role: &str, f1: f64, acc: f64, params: u64, latency: f64) -> Box<RunSummary> {
    Box::new(RunSummary {
        schema: SCHEMA,
        run_id: format!("{role}-run"),
        role: role.into(),
        model: "scratch:bert-tiny".into(),
        task: alambic::data::Task::Multiclass,
        classes: vec!["safe".into(), "reentrancy".into(), "tx_origin".into()],
        parameters: params,
        active_parameters: None,
        size_mb: None,
        latency_ms_per_contract: Some(latency),
        steps: 40,
        best_step: 40,
        best_valid_macro_f1: Some(f1),
        train_seconds: 60.0,
        contracts: SplitSizes {
            train: 80,
            valid: 10,
            test: 10,
        },
        valid: scores(acc, f1),
        test: Some(scores(acc, f1)),
        teacher_agreement: None,
    })
}

/// A finished run of `steps` steps with a falling loss and (for distillation) two terms.
pub fn run(name: &str, role: &str, steps: u64, f1: f64) -> RunView {
    let mut r = RunView::new(Path::new(&format!("runs/{name}")));
    r.ingest(&TrainEvent::Started {
        run_id: name.into(),
        role: role.into(),
        total_steps: steps,
        resumed_from: None,
    });
    for s in 1..=steps {
        let loss = 2.0 / (1.0 + s as f64 * 0.1);
        let mut terms = BTreeMap::new();
        if role == "distill" {
            terms.insert("soft_kl".to_string(), loss * 0.6);
            terms.insert("hard_ce".to_string(), loss * 0.4);
        } else {
            terms.insert("ce".to_string(), loss);
        }
        r.ingest(&TrainEvent::Step {
            step: s,
            epoch: (s / 10) as usize,
            stage: None,
            loss,
            terms,
            lr: 1e-3 * (1.0 - s as f64 / steps as f64),
            samples_per_s: 12.5,
        });
        if s % 10 == 0 {
            r.ingest(&TrainEvent::Eval {
                step: s,
                split: "valid".into(),
                metrics: json!({"accuracy": 0.5 + 0.004 * s as f64, "macro_f1": f1 * s as f64 / steps as f64, "loss": 1.5 - 0.01 * s as f64}),
            });
        }
    }
    let (params, latency) = if role == "teacher" {
        (11_200_000, 8.0)
    } else {
        (4_400_000, 2.0)
    };
    r.ingest(&TrainEvent::Finished {
        summary: summary(role, f1, 0.7, params, latency),
    });
    r
}

pub fn predictions(verdicts: &[(usize, usize)]) -> Predictions {
    let test = verdicts
        .iter()
        .enumerate()
        .map(|(i, &(p, t))| (format!("c{i}"), Prediction { p, t: Some(t) }))
        .collect();
    Predictions {
        schema: SCHEMA,
        splits: BTreeMap::from([("test".to_string(), test)]),
    }
}

pub fn sweep_status() -> SweepStatus {
    let alphas = ["0.1", "0.5", "0.9"];
    let temps = ["1", "4"];
    let mut cells = Vec::new();
    for (i, a) in alphas.iter().enumerate() {
        for (j, t) in temps.iter().enumerate() {
            let index = i * 2 + j;
            let (state, objective, error) = match index {
                4 => ("running", None, None),
                5 => (
                    "failed",
                    None,
                    Some("the loss became NaN at step 3".to_string()),
                ),
                _ => ("finished", Some(0.40 + 0.05 * index as f64), None),
            };
            cells.push(CellStatus {
                index,
                label: format!("alpha={a} temperature={t}"),
                state: state.into(),
                objective,
                error,
            });
        }
    }
    SweepStatus {
        objective: "valid.macro_f1".into(),
        maximize: true,
        axes: vec![
            ("distill.alpha".into(), alphas.map(String::from).to_vec()),
            (
                "distill.temperature".into(),
                temps.map(String::from).to_vec(),
            ),
        ],
        cells,
        best: Some(3),
    }
}

/// The app on fixed data: a teacher, a student and a distilled student; the demo dataset;
/// a 3 × 2 sweep.
pub fn app(ascii: bool) -> (App, FakeLauncher) {
    let launcher = FakeLauncher::default();
    let mut app = App::new(Theme::bundled("dark"), ascii, Box::new(launcher.clone()));
    app.runs_dir = PathBuf::from("runs");
    app.runs
        .push(run("20261130-100000-teacher-aaaaaa", "teacher", 60, 0.62));
    app.runs
        .push(run("20261130-110000-student-bbbbbb", "student", 40, 0.48));
    let mut distilled = run("20261130-120000-distill-cccccc", "distill", 40, 0.55);
    distilled.predictions = Some(predictions(&[(0, 0), (1, 1), (1, 0), (2, 2)]));
    app.runs[0].predictions = Some(predictions(&[(0, 0), (1, 1), (0, 0), (1, 2)]));
    app.runs.push(distilled);
    app.selected_run = 2;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = alambic::data::DataConfig {
        file: root.join("data/demo/contracts.jsonl"),
        ..Default::default()
    };
    let tok = format!(
        "scratch:bert-tiny?tokenizer={}",
        root.join("data/demo/tokenizer.json").display()
    );
    app.dataset.loaded = Some(alambic::tui::dataset::load(&cfg, &[&tok]).expect("demo data"));
    app.sweep = Some((PathBuf::from("runs/sweep-0000"), sweep_status()));
    app.sweep_teacher = Some(0.62);
    app.config = Some(PathBuf::from("data/demo.toml"));
    (app, launcher)
}
