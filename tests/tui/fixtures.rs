//! Fixed data for the panes: synthetic runs (events fed in, no files), the demo dataset, a
//! sweep status. Nothing here depends on the clock.

use alambic::store::TrainEvent;
use alambic::sweep::summary::{CellStatus, SweepStatus};
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

fn summary(role: &str, f1: f64, acc: f64, params: f64, latency: f64) -> serde_json::Value {
    json!({
        "role": role,
        "classes": ["safe", "reentrancy", "tx_origin"],
        "parameters": params,
        "latency_ms_per_contract": latency,
        "best_valid_macro_f1": f1,
        "test": {
            "accuracy": acc, "macro_f1": f1, "n": 10,
            "per_class": [
                {"class": "safe", "precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 5},
                {"class": "reentrancy", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3},
                {"class": "tx_origin", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
            ],
            "confusion": [[4, 1, 0], [1, 2, 0], [0, 1, 1]]
        }
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
        (11.2e6, 8.0)
    } else {
        (4.4e6, 2.0)
    };
    r.ingest(&TrainEvent::Finished {
        summary: summary(role, f1, 0.7, params, latency),
    });
    r
}

pub fn predictions(verdicts: &[(u64, u64)]) -> serde_json::Value {
    let test: serde_json::Map<String, serde_json::Value> = verdicts
        .iter()
        .enumerate()
        .map(|(i, (p, t))| (format!("c{i}"), json!({"p": p, "t": t})))
        .collect();
    json!({"test": test})
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
