//! Sweeps on the tiny config: a 2 × 2 grid to the end, resume, an interrupted cell, two
//! processes on one sweep, the Slurm script.

use crate::common::{scratch_dir, summary};
use alambic::store::events::read_events;
use alambic::store::{EventSink, TrainEvent, VecSink};
use alambic::sweep::cells::{self, CellState};
use alambic::sweep::summary::{render, status};
use alambic::sweep::{Cell, Placement, SweepDir, prepare_teacher, work};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn tiny_sweep(name: &str) -> SweepDir {
    let cfg = crate::common::tiny(&["train.max_steps=3"]);
    let grid = [
        "distill.alpha=0.2,0.8".to_string(),
        "distill.temperature=1,4".to_string(),
    ];
    SweepDir::create(&scratch_dir(name), &cfg, &grid).expect("sweep folder")
}

fn quiet(_: &Cell) -> Box<dyn EventSink> {
    Box::new(VecSink::default())
}

#[test]
fn a_2x2_sweep_ends_with_a_best_cell_scored_on_test_and_resume_skips_finished_cells() {
    let sweep = tiny_sweep("sweep-2x2");
    let stop = AtomicBool::new(false);
    let pass = prepare_teacher(&sweep, &mut VecSink::default(), &stop)
        .expect("teacher")
        .expect("pass");
    assert!(
        !pass.cache_hit,
        "the first pass computes the teacher's logits"
    );
    let report = work(&sweep, None, &quiet, &stop, &Placement::default()).expect("work");
    assert_eq!(report.ran, [0, 1, 2, 3]);
    // Every cell read the teacher's logits from the cache the pass wrote.
    for i in 0..4 {
        let events = read_events(&sweep.cell_dir(i).join("events.jsonl")).expect("events");
        let hits: Vec<bool> = events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::TeacherCache { hit, .. } => Some(*hit),
                _ => None,
            })
            .collect();
        assert_eq!(hits, [true], "cell {i}");
        // Cells leave test alone.
        let cell = summary(&sweep.cell_dir(i));
        assert!(cell["test"].is_null(), "cell {i} was scored on test");
    }
    let s = summary(&sweep.path);
    let best = s["best"]["cell"].as_u64().expect("a best cell") as usize;
    let status = status(&sweep);
    assert_eq!(status.best, Some(best));
    assert!(s["best"]["test"]["macro_f1"].as_f64().is_some(), "{s}");
    assert_eq!(s["cells"].as_array().map(Vec::len), Some(4));
    let table = render(&status);
    assert!(table.starts_with("alpha \\ temperature"), "{table}");
    assert!(table.contains(&format!("best: cell-{best:03}")), "{table}");

    // Again: nothing left to run, nothing appended.
    let lines = cells::read(&sweep.cells_log()).len();
    let again = work(&sweep, None, &quiet, &stop, &Placement::default()).expect("again");
    assert!(again.ran.is_empty());
    assert_eq!(cells::read(&sweep.cells_log()).len(), lines);
}

/// Raises the stop flag (as Ctrl-C would) when cell 0 reports step 2.
struct StopAtStep2(Arc<AtomicBool>);

impl EventSink for StopAtStep2 {
    fn emit(&mut self, event: &TrainEvent) {
        if let TrainEvent::Step { step: 2, .. } = event {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn an_interrupted_cell_resumes_from_its_checkpoint() {
    let sweep = tiny_sweep("sweep-interrupted");
    let stop = Arc::new(AtomicBool::new(false));
    prepare_teacher(&sweep, &mut VecSink::default(), &stop).expect("teacher");
    let flag = stop.clone();
    let sinks = move |cell: &Cell| -> Box<dyn EventSink> {
        if cell.index == 0 {
            Box::new(StopAtStep2(flag.clone()))
        } else {
            Box::new(VecSink::default())
        }
    };
    let report = work(&sweep, None, &sinks, &stop, &Placement::default()).expect("first");
    assert!(report.interrupted);
    assert!(report.ran.is_empty());
    let latest = cells::latest(&cells::read(&sweep.cells_log()));
    assert_eq!(latest[&0].state, CellState::Stopped);

    let report = work(
        &sweep,
        None,
        &quiet,
        &AtomicBool::new(false),
        &Placement::default(),
    )
    .expect("resume");
    assert_eq!(report.ran, [0, 1, 2, 3]);
    let events = read_events(&sweep.cell_dir(0).join("events.jsonl")).expect("events");
    let resumed: Vec<Option<u64>> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Started { resumed_from, .. } => Some(*resumed_from),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, [None, Some(2)], "cell 0 went on from step 2");
}

#[test]
fn chosen_cells_run_alone_and_the_rest_stay_pending_until_resumed() {
    let sweep = tiny_sweep("sweep-chosen-cells");
    let stop = AtomicBool::new(false);
    let err =
        work(&sweep, Some(&[1, 4]), &quiet, &stop, &Placement::default()).expect_err("cell 4 of 4");
    assert!(
        err.to_string()
            .contains("has 4 cells (0..3); there is no cell 4"),
        "{err}"
    );
    prepare_teacher(&sweep, &mut VecSink::default(), &stop).expect("teacher");
    let report =
        work(&sweep, Some(&[3, 1]), &quiet, &stop, &Placement::default()).expect("two cells");
    assert_eq!(report.ran, [1, 3], "in grid order");
    let latest = cells::latest(&cells::read(&sweep.cells_log()));
    assert_eq!(latest.keys().copied().collect::<Vec<_>>(), [1, 3]);
    assert!(
        !sweep.path.join("summary.json").exists(),
        "no best cell while cells 0 and 2 are pending"
    );
    let partial = status(&sweep);
    assert!(matches!(partial.best, Some(1 | 3)), "{:?}", partial.best);
    assert!(render(&partial).contains('·'), "pending cells are shown");
    let report = work(&sweep, None, &quiet, &stop, &Placement::default()).expect("the rest");
    assert_eq!(report.ran, [0, 2]);
    assert!(summary(&sweep.path)["best"]["cell"].is_u64());
}

#[test]
fn two_processes_share_one_sweep_without_running_a_cell_twice() {
    let sweep = tiny_sweep("sweep-two-processes");
    let dir = sweep.path.display().to_string();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_alambic"))
            .args(["sweep", "--resume", &dir])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().expect("a").success() && b.wait().expect("b").success());
    let events = cells::read(&sweep.cells_log());
    for i in 0..4 {
        let count = |state| {
            events
                .iter()
                .filter(|e| e.cell == i && e.state == state)
                .count()
        };
        assert_eq!(
            (count(CellState::Running), count(CellState::Finished)),
            (1, 1),
            "cell {i} ran once: {events:?}"
        );
    }
    assert!(summary(&sweep.path)["best"]["cell"].is_u64());
    let teachers = std::fs::read_dir(sweep.path.join("cells/.teachers"))
        .expect("teachers")
        .flat_map(|k| std::fs::read_dir(k.expect("key").path()).expect("runs"))
        .count();
    assert_eq!(teachers, 1, "one teacher fine-tuned for both processes");

    // `sweep status` prints the grid; the Slurm script is valid bash naming every cell.
    let out = crate::common::alambic(&["sweep", "status", &dir]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("alpha \\ temperature") && text.contains("best: cell-"),
        "{text}"
    );
    let out = crate::common::alambic(&["sweep", "slurm", &dir]);
    let script = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(script.contains("#SBATCH --array=0-3"), "{script}");
    for i in 0..4 {
        assert!(
            script.contains(&format!("cell-{i:03} (task {i})")),
            "{script}"
        );
    }
    let file = sweep.path.join("job.sh");
    std::fs::write(&file, &script).expect("write");
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
