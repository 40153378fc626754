//! The real binary in tmux: keys in with `send-keys`, the screen out with `capture-pane`,
//! polling for text (never fixed sleeps). Each test has its own tmux server socket.

use crate::common::{scratch_dir, tiny};
use alambic::store::events::read_events;
use alambic::store::runs::{Status, status_of};
use alambic::store::{RunDir, TrainEvent, VecSink};
use alambic::train::train;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str) -> Self {
        let t = Self {
            socket: format!("alambic-{name}-{}", std::process::id()),
        };
        let ok = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "110",
                "-y",
                "34",
                "bash --norc --noprofile",
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    fn line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Polls the screen every 100 ms until `ok` holds (at most `secs` × 10 polls), returning it.
    fn wait(&self, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut s = String::new();
        for _ in 0..secs * 10 {
            s = self.screen();
            if ok(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("waited for {what}; the screen:\n{s}");
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["display-message", "-p", "-t", "t", format])
                .stdout,
        )
        .trim()
        .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

fn exe() -> String {
    env!("CARGO_BIN_EXE_alambic").to_string()
}

fn finished_run(out: &Path) -> PathBuf {
    let cfg = tiny(&[]);
    let mut run = RunDir::create(out, "student", &cfg.to_toml()).expect("run dir");
    train(
        &cfg,
        "student",
        &mut run,
        &mut VecSink::default(),
        &AtomicBool::new(false),
        false,
    )
    .expect("train");
    run.path
}

/// (a) A finished run: its final loss in the training pane, its test macro-F1 in the compare
/// pane; (c) `q` leaves the terminal as it was.
#[test]
fn a_finished_run_shows_its_numbers_and_q_restores_the_terminal() {
    let dir = scratch_dir("tui-e2e-finished");
    let run = finished_run(&dir.join("runs"));
    let events = read_events(&run.join("events.jsonl")).expect("events");
    let last_loss = events
        .iter()
        .rev()
        .find_map(|e| match e {
            TrainEvent::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .expect("a step");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("summary"))
            .expect("json");
    let f1 = summary["test"]["macro_f1"].as_f64().expect("test macro-F1");

    let tmux = Tmux::start("finished");
    tmux.line(&format!(
        "{} tui --runs {} {}",
        exe(),
        dir.join("none").display(),
        run.display()
    ));
    let loss = format!("loss {last_loss:.4}");
    tmux.wait(30, &loss, |s| s.contains(&loss));
    tmux.keys(&["3"]);
    let f1 = format!("{f1:.4}");
    tmux.wait(10, &format!("macro-F1 {f1}"), |s| {
        s.contains("Teacher vs students") && s.contains(&f1)
    });
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "the TUI uses the alternate screen"
    );
    tmux.keys(&["q"]);
    tmux.wait(10, "the shell again", |s| {
        !s.contains("Teacher vs students")
    });
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor shown");
    tmux.line("echo typed-$((40+2))");
    tmux.wait(10, "echo on", |s| {
        s.contains("echo typed-$((40+2))") && s.contains("typed-42")
    });
}

/// (b) A run started from the TUI trains on after the TUI quits, and a new TUI re-attaches.
#[test]
fn a_run_started_from_the_tui_outlives_it_and_is_reattached() {
    let dir = scratch_dir("tui-e2e-start");
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).expect("runs");
    let config = dir.join("slow.toml");
    let tiny_toml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/tiny.toml"),
    )
    .expect("tiny");
    // One step per event and a slower pace than the tiny config's: time to watch them go by.
    std::fs::write(
        &config,
        tiny_toml
            .replace("epochs = 3", "epochs = 6")
            .replace("max_steps = 18", "max_steps = 40"),
    )
    .expect("write");

    let tmux = Tmux::start("start");
    tmux.line(&format!(
        "{} tui --config {} --runs {}",
        exe(),
        config.display(),
        runs.display()
    ));
    tmux.wait(30, "the dataset pane", |s| s.contains("Classes per split"));
    tmux.keys(&["S"]);
    let step_of = |s: &str| -> Option<u64> {
        let i = s.find("step ")?;
        s[i + 5..].split('/').next()?.trim().parse().ok()
    };
    let first = tmux.wait(60, "a step count", |s| step_of(s).is_some_and(|n| n >= 1));
    let k1 = step_of(&first).expect("step");
    let later = tmux.wait(60, "the step count to grow", |s| {
        step_of(s).is_some_and(|n| n > k1)
    });
    assert!(step_of(&later) > Some(k1));
    tmux.keys(&["q"]);
    tmux.wait(10, "the shell again", |s| !s.contains("Loss and terms"));

    let run = std::fs::read_dir(&runs)
        .expect("runs")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("run.json").is_file())
        .expect("the run folder");
    // Polled every 200 ms, 600 times at most.
    let finished = (0..600).any(|_| {
        let done = status_of(&run).is_some_and(|s| s.status == Status::Finished);
        if !done {
            std::thread::sleep(Duration::from_millis(200));
        }
        done
    });
    assert!(finished, "the run did not finish after the TUI quit");

    let steps = read_events(&run.join("events.jsonl"))
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { step, .. } => Some(*step),
            _ => None,
        })
        .max()
        .expect("steps");
    tmux.line(&format!(
        "{} tui --runs {} {}",
        exe(),
        runs.display(),
        run.display()
    ));
    let done = format!("step {steps}/{steps}");
    tmux.wait(30, "the finished run re-attached", |s| {
        s.contains("student finished") && s.contains(&done)
    });
    tmux.keys(&["q"]);
}

/// `?` shows the key list, and it is still there after several ticks (2 s): only a key
/// closes it.
#[test]
fn help_stays_up_until_a_key_is_pressed() {
    let dir = scratch_dir("tui-e2e-help");
    let tmux = Tmux::start("help");
    tmux.line(&format!(
        "{} tui --config tests/configs/tiny.toml --runs {}",
        exe(),
        dir.join("runs").display()
    ));
    tmux.wait(30, "the dataset pane", |s| s.contains("Classes per split"));
    tmux.keys(&["?"]);
    tmux.wait(10, "the help overlay", |s| s.contains("start a sweep"));
    // Four ticks of 500 ms go by.
    std::thread::sleep(Duration::from_secs(2));
    let screen = tmux.screen();
    assert!(
        screen.contains("start a sweep"),
        "the overlay closed by itself:\n{screen}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait(10, "the overlay closed by a key", |s| {
        !s.contains("start a sweep")
    });
    tmux.keys(&["q"]);
}
