//! Keys → actions. Every binding is listed in `BINDINGS`, which the help overlay prints, so the
//! overlay cannot drift from what the keys do.

use super::app::{Action, Pane};
use super::launch::RunKind;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// (keys, what they do) for the help overlay.
pub const BINDINGS: [(&str, &str); 20] = [
    ("1 2 3 4", "dataset, training, compare, sweep pane"),
    ("Tab S-Tab", "next / previous pane"),
    ("↑ ↓  k j", "move in lists, runs, the sweep grid"),
    ("← →  h l", "scroll the contract; move in the grid"),
    ("Enter", "open the sweep cell's run in the training pane"),
    ("/", "filter contracts by text (Enter or Esc ends)"),
    ("c", "cycle the class filter"),
    ("s", "cycle the split filter"),
    ("m", "contract evidence: next finished run"),
    ("n", "contract: next hottest line"),
    ("z", "curves: recent window / whole history"),
    ("e", "loss smoothing: off, 0.6, 0.9, 0.99 (EMA)"),
    ("T", "start a teacher run from the config"),
    ("S", "start a student run (labels only)"),
    ("D", "start a distillation"),
    ("P", "start pretraining on [pretrain].corpus"),
    ("W", "start a sweep"),
    ("x", "stop the selected run (checkpoint, then exit)"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit (runs go on)"),
];

/// The action for a key; while a filter is being typed, characters go to the filter.
pub fn action(key: KeyEvent, filtering: bool) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if filtering {
        return match key.code {
            KeyCode::Char(c) => Some(Action::FilterChar(c)),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Enter | KeyCode::Esc => Some(Action::EndFilter),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::EndFilter,
        KeyCode::Char('1') => Action::Show(Pane::Dataset),
        KeyCode::Char('2') => Action::Show(Pane::Training),
        KeyCode::Char('3') => Action::Show(Pane::Compare),
        KeyCode::Char('4') => Action::Show(Pane::Sweep),
        KeyCode::Tab => Action::NextPane,
        KeyCode::BackTab => Action::PrevPane,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Left | KeyCode::Char('h') => Action::Left,
        KeyCode::Right | KeyCode::Char('l') => Action::Right,
        KeyCode::Enter => Action::Enter,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('c') => Action::CycleClass,
        KeyCode::Char('s') => Action::CycleSplit,
        KeyCode::Char('z') => Action::ToggleZoom,
        KeyCode::Char('e') => Action::CycleSmoothing,
        KeyCode::Char('T') => Action::Start(RunKind::Teacher),
        KeyCode::Char('S') => Action::Start(RunKind::Student),
        KeyCode::Char('D') => Action::Start(RunKind::Distill),
        KeyCode::Char('P') => Action::Start(RunKind::Pretrain),
        KeyCode::Char('W') => Action::Start(RunKind::Sweep),
        KeyCode::Char('x') => Action::StopRun,
        KeyCode::Char('m') => Action::CycleEvidenceRun,
        KeyCode::Char('n') => Action::NextHotLine,
        _ => return None,
    })
}
