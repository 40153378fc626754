//! `App::update` without a terminal: keys' actions and run events change the state.

use super::fixtures::{app, run};
use alambic::tui::app::{Action, Pane};
use alambic::tui::launch::RunKind;
use alambic::tui::panes::compare::agreement_counts;
use alambic::tui::store::{RunState, SERIES_CAP, Series};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::Path;

fn key(c: char) -> Action {
    alambic::tui::keymap::action(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), false)
        .expect("bound")
}

#[test]
fn keys_move_between_panes_and_filter_the_contracts() {
    let (mut app, _) = app(false);
    assert_eq!(app.pane, Pane::Dataset);
    app.update(key('3'));
    assert_eq!(app.pane, Pane::Compare);
    app.update(Action::NextPane);
    assert_eq!(app.pane, Pane::Sweep);
    app.update(Action::NextPane);
    assert_eq!(app.pane, Pane::Dataset);
    app.update(Action::PrevPane);
    assert_eq!(app.pane, Pane::Sweep);
    app.update(key('1'));

    let all = app.dataset.visible().len();
    assert_eq!(all, 480);
    app.update(key('/'));
    assert!(app.dataset.filtering);
    for c in "tx.origin".chars() {
        app.update(Action::FilterChar(c));
    }
    app.update(Action::EndFilter);
    let with_origin = app.dataset.visible().len();
    assert!(with_origin > 0 && with_origin < all, "{with_origin}");
    app.update(key('c'));
    assert_eq!(app.dataset.class.as_deref(), Some("safe"));
    app.update(key('s'));
    assert_eq!(app.dataset.split.as_deref(), Some("train"));
    assert!(app.dataset.visible().iter().all(|&i| {
        let c = &app.dataset.loaded.as_ref().expect("loaded").contracts[i];
        c.label == "safe" && c.split == "train" && c.code.to_lowercase().contains("tx.origin")
    }));
    app.update(Action::Down);
    assert_eq!(app.dataset.selected, 1.min(app.dataset.visible().len() - 1));
}

#[test]
fn help_opens_and_any_key_closes_it_and_q_quits() {
    let (mut app, _) = app(false);
    app.update(key('?'));
    assert!(app.help);
    // The loop ticks twice a second: the overlay stays until a key is pressed.
    for _ in 0..4 {
        app.update(Action::Tick);
    }
    assert!(app.help, "a tick must not close the overlay");
    app.update(key('2'));
    assert!(!app.help, "a key closes the overlay");
    assert_eq!(app.pane, Pane::Dataset, "…without acting");
    app.update(key('q'));
    assert!(app.quit);
}

#[test]
fn each_kind_of_run_starts_its_own_command() {
    use alambic::tui::launch::command_line;
    let (config, dir) = (Path::new("c.toml"), Path::new("runs/r"));
    let args = |kind| command_line(kind, config, dir).join(" ");
    assert_eq!(
        args(RunKind::Pretrain),
        "pretrain --config c.toml --run-dir runs/r"
    );
    assert_eq!(
        args(RunKind::Distill),
        "distill --config c.toml --run-dir runs/r"
    );
    assert_eq!(
        args(RunKind::Student),
        "train --config c.toml --run-dir runs/r --role student"
    );
}

#[test]
fn starting_runs_goes_through_the_launcher_and_follows_them() {
    let (mut app, launcher) = app(false);
    app.update(key('D'));
    app.update(key('P'));
    app.update(key('T'));
    let started = launcher.started.lock().expect("lock").clone();
    assert_eq!(
        started,
        [RunKind::Distill, RunKind::Pretrain, RunKind::Teacher]
    );
    assert_eq!(app.pane, Pane::Training);
    assert_eq!(app.runs.len(), 6);
    assert!(app.runs[app.selected_run].path.ends_with("fake-teacher"));
    // Stopping a run that is not running says so instead of signalling anything.
    app.selected_run = 0;
    app.update(key('x'));
    assert!(launcher.stopped.lock().expect("lock").is_empty());
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("is not running"))
    );
}

#[test]
fn sweep_cursor_moves_on_the_grid() {
    let (mut app, _) = app(false);
    app.update(key('4'));
    app.update(Action::Right);
    assert_eq!(app.sweep_cursor, 1);
    app.update(Action::Down);
    assert_eq!(app.sweep_cursor, 3, "down a row of two columns");
    app.update(Action::Right);
    app.update(Action::Right);
    assert_eq!(app.sweep_cursor, 5);
    app.update(Action::Down);
    assert_eq!(app.sweep_cursor, 5, "the last row stays");
    // The cell has no run folder: Enter says so and stays.
    app.update(Action::Enter);
    assert_eq!(app.pane, Pane::Sweep);
}

#[test]
fn events_fill_the_run_and_series_stay_bounded() {
    let r = run("r", "distill", 30, 0.5);
    assert_eq!(r.state(), RunState::Finished);
    assert_eq!(r.step, 30);
    assert_eq!(r.loss.points.len(), 30);
    assert_eq!(r.terms.keys().collect::<Vec<_>>(), ["hard_ce", "soft_kl"]);
    assert_eq!(
        r.valid_f1.points,
        [(10.0, 0.5 / 3.0), (20.0, 0.5 * 2.0 / 3.0), (30.0, 0.5)]
    );
    assert_eq!(r.summary_number("test.macro_f1"), Some(0.5));
    assert_eq!(r.valid_loss.points, [(10.0, 1.4), (20.0, 1.3), (30.0, 1.2)]);

    let mut s = Series::default();
    for i in 0..100_000 {
        s.push(i as f64, 1.0);
    }
    assert!(s.points.len() <= SERIES_CAP, "{}", s.points.len());
    assert!(s.points.len() > SERIES_CAP / 2);
    assert_eq!(s.points.first().map(|p| p.1), Some(1.0));
}

#[test]
fn agreement_counts_join_verdicts_by_contract() {
    let t = super::fixtures::predictions(&[(0, 0), (1, 1), (0, 0), (1, 2)]);
    let s = super::fixtures::predictions(&[(0, 0), (1, 1), (1, 0), (2, 2)]);
    // both right: c0, c1; teacher only: c2; student only: c3; same verdict: c0, c1.
    assert_eq!(agreement_counts(&t, &s), Some([2, 1, 1, 0, 2]));
}
