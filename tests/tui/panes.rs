//! Every pane on fixed data, as text (ratatui's TestBackend, 100 × 30), in the default and
//! ASCII modes, plus the help overlay; and every pane at 20 × 5 without a panic.

use super::fixtures::app;
use alambic::tui::app::Pane;
use alambic::tui::panes::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn screen(pane: Pane, ascii: bool, help: bool, w: u16, h: u16) -> String {
    let (mut app, _) = app(ascii);
    app.pane = pane;
    app.help = help;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| draw(f, &app)).expect("draw");
    terminal.backend().to_string()
}

fn name(pane: Pane) -> &'static str {
    match pane {
        Pane::Dataset => "dataset",
        Pane::Training => "training",
        Pane::Compare => "compare",
        Pane::Sweep => "sweep",
    }
}

#[test]
fn every_pane_as_text() {
    for pane in Pane::ALL {
        for ascii in [false, true] {
            let text = screen(pane, ascii, false, 100, 30);
            let mode = if ascii { "ascii" } else { "unicode" };
            insta::assert_snapshot!(format!("{}_{mode}", name(pane)), text);
            if ascii {
                assert!(
                    text.is_ascii(),
                    "{} in --ascii mode drew non-ASCII:\n{text}",
                    name(pane)
                );
            }
        }
    }
}

#[test]
fn help_overlay_lists_every_key() {
    for ascii in [false, true] {
        let text = screen(Pane::Training, ascii, true, 100, 30);
        let mode = if ascii { "ascii" } else { "unicode" };
        insta::assert_snapshot!(format!("help_{mode}"), text);
        for (keys, what) in alambic::tui::keymap::BINDINGS {
            let start: String = what.chars().take(20).collect();
            assert!(text.contains(&start), "help lacks {keys}: {what}\n{text}");
        }
    }
}

#[test]
fn every_pane_draws_at_20_by_5() {
    for pane in Pane::ALL {
        for help in [false, true] {
            let text = screen(pane, false, help, 20, 5);
            assert_eq!(text.lines().count(), 5);
        }
    }
}

/// A Mixture-of-Experts run's training pane has the expert-load bars, fed by the run's
/// `expert_load` events (the latest one), in both modes; a dense run's pane has none.
#[test]
fn training_pane_shows_a_mixture_runs_expert_load() {
    use alambic::store::TrainEvent;
    for ascii in [false, true] {
        let (mut app, _) = app(ascii);
        app.pane = Pane::Training;
        let dense = {
            let mut terminal = Terminal::new(TestBackend::new(140, 42)).expect("terminal");
            terminal.draw(|f| draw(f, &app)).expect("draw");
            terminal.backend().to_string()
        };
        assert!(!dense.contains("Expert load"), "{dense}");
        for shares in [[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1]] {
            app.runs[2].ingest(&TrainEvent::ExpertLoad {
                step: 40,
                layers: [("2".to_string(), shares.to_vec())].into(),
            });
        }
        let mut terminal = Terminal::new(TestBackend::new(140, 42)).expect("terminal");
        terminal.draw(|f| draw(f, &app)).expect("draw");
        let text = terminal.backend().to_string();
        assert!(text.contains("Expert load (share of tokens)"), "{text}");
        let bar = if ascii { "#" } else { "█" };
        // The busiest expert's bar is the longest: the 30 columns inside the box less 14 of
        // labels; the others in proportion (0.30 of 0.40 → 12).
        assert!(
            text.contains(&format!("L2  e0  {} 0.40", bar.repeat(16))),
            "{text}"
        );
        assert!(
            text.contains(&format!("e1  {} 0.30", bar.repeat(12))),
            "{text}"
        );
        assert!(text.contains(" 0.10"), "{text}");
        assert!(
            !text.contains(" 0.70"),
            "the older event's shares stayed:\n{text}"
        );
    }
}

/// A Mixture-of-Experts run's row in the compare pane gives its total and per-token
/// parameters; with no such run the column is the plain count.
#[test]
fn compare_pane_shows_a_mixture_runs_active_parameters() {
    let (mut app, _) = app(false);
    app.pane = Pane::Compare;
    let plain = {
        let mut terminal = Terminal::new(TestBackend::new(140, 30)).expect("terminal");
        terminal.draw(|f| draw(f, &app)).expect("draw");
        terminal.backend().to_string()
    };
    assert!(
        !plain.contains("params/active") && plain.contains("4.40M"),
        "{plain}"
    );
    if let Some(s) = app.runs[2].summary.as_mut() {
        s.active_parameters = Some(2_900_000);
    }
    let mut terminal = Terminal::new(TestBackend::new(140, 30)).expect("terminal");
    terminal.draw(|f| draw(f, &app)).expect("draw");
    let text = terminal.backend().to_string();
    assert!(text.contains("params/active"), "{text}");
    assert!(text.contains("4.4M/2.9M"), "{text}");
    assert!(
        text.contains("4.40M"),
        "the dense runs keep their count:\n{text}"
    );
}
