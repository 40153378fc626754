//! The workbench attached to a long run: a run folder with 100,000 step events (two loss
//! terms each, an evaluation every 1,000 steps) is followed, then the training pane is drawn
//! 200 times at 120 × 40. Prints the time to read the history, the mean frame time, and the
//! process's resident memory before and after.
//!
//!     cargo bench --bench tui_frame

use alambic::store::TrainEvent;
use alambic::tui::app::{App, Pane};
use alambic::tui::launch::ProcessLauncher;
use alambic::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    const STEPS: u64 = 100_000;
    let dir = alambic::testing::target_dir().join("bench-tui/run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let info = serde_json::json!({"run_id": "bench", "role": "distill", "pid": 0, "host": "bench",
        "started": 0.0, "heartbeat": 0.0});
    std::fs::write(dir.join("run.json"), info.to_string()).expect("run.json");
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(dir.join("events.jsonl")).expect("events"));
    let start = TrainEvent::Started {
        run_id: "bench".into(),
        role: "distill".into(),
        total_steps: STEPS,
        resumed_from: None,
    };
    writeln!(f, "{}", serde_json::to_string(&start).expect("json")).expect("write");
    for s in 1..=STEPS {
        let loss = 2.0 / (1.0 + s as f64 * 1e-3) + 0.05 * ((s as f64) * 0.37).sin();
        let terms = BTreeMap::from([
            ("soft_kl".to_string(), loss * 0.6),
            ("hard_ce".to_string(), loss * 0.4),
        ]);
        let e = TrainEvent::Step {
            step: s,
            epoch: (s / 5000) as usize,
            stage: None,
            loss,
            terms,
            lr: 1e-3,
            samples_per_s: 20.0,
        };
        writeln!(f, "{}", serde_json::to_string(&e).expect("json")).expect("write");
        if s % 1000 == 0 {
            let e = TrainEvent::Eval {
                step: s,
                split: "valid".into(),
                metrics: serde_json::json!({"accuracy": 0.6, "macro_f1": 0.5}),
            };
            writeln!(f, "{}", serde_json::to_string(&e).expect("json")).expect("write");
        }
    }
    drop(f);
    let bytes = std::fs::metadata(dir.join("events.jsonl")).map_or(0, |m| m.len());
    let before = rss_mb();
    let mut app = App::new(
        Theme::bundled("dark"),
        false,
        Box::new(ProcessLauncher::current()),
    );
    let clock = Instant::now();
    app.attach_run(&dir);
    let read = clock.elapsed();
    app.pane = Pane::Training;
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let frames = 200;
    let clock = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|f| alambic::tui::panes::draw(f, &app))
            .expect("draw");
    }
    let per_frame = clock.elapsed().as_secs_f64() * 1e3 / frames as f64;
    let after = rss_mb();
    let run = &app.runs[0];
    println!("events.jsonl: {STEPS} steps, {:.1} MB", bytes as f64 / 1e6);
    println!(
        "attach (read + ingest the history): {:.0} ms",
        read.as_secs_f64() * 1e3
    );
    println!(
        "points kept: loss {}, soft_kl {}, valid F1 {}",
        run.loss.points.len(),
        run.terms["soft_kl"].points.len(),
        run.valid_f1.points.len()
    );
    println!("training pane at 120x40: {per_frame:.2} ms per frame (mean of {frames})");
    println!("resident memory: {before:.1} MB before attaching, {after:.1} MB after");
}
