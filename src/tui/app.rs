//! The workbench's state and the only place it changes: `App::update(Action)`. Keys become
//! actions in `keymap.rs`; the loop (`event_loop.rs`) feeds key actions and `Tick`s (which poll
//! the followed run folders); panes only read.

use super::dataset::DatasetView;
use super::launch::{Launcher, RunKind};
use super::store::{RunState, RunView};
use super::theme::Theme;
use crate::sweep::SweepDir;
use crate::sweep::summary::{SweepStatus, status};
use std::path::PathBuf;

/// The smoothing weights `e` cycles through; TensorBoard's default, 0.6, first.
pub const SMOOTHING: [f64; 4] = [0.0, 0.6, 0.9, 0.99];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Dataset,
    Training,
    Compare,
    Sweep,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Dataset, Pane::Training, Pane::Compare, Pane::Sweep];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Dataset => "1 Dataset",
            Pane::Training => "2 Training",
            Pane::Compare => "3 Compare",
            Pane::Sweep => "4 Sweep",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Show(Pane),
    NextPane,
    PrevPane,
    Up,
    Down,
    Left,
    Right,
    Enter,
    /// `/`: start typing a filter (dataset list).
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    EndFilter,
    /// `c` / `s`: cycle the class and split filters of the contract list.
    CycleClass,
    CycleSplit,
    ToggleHelp,
    /// `z`: the recent window of the curves, or the whole history.
    ToggleZoom,
    /// `e`: the next EMA smoothing weight of the loss curves (as TensorBoard's slider).
    CycleSmoothing,
    Start(RunKind),
    /// `x`: ask the selected run to checkpoint and stop.
    StopRun,
    /// `m`: the next finished run whose verdict and line evidence the dataset pane shows.
    CycleEvidenceRun,
    /// `n`: scroll the contract to its next hottest line.
    NextHotLine,
    Tick,
    Quit,
}

pub struct App {
    pub pane: Pane,
    pub help: bool,
    pub quit: bool,
    pub ascii: bool,
    pub theme: Theme,
    pub runs: Vec<RunView>,
    pub selected_run: usize,
    pub zoom_recent: bool,
    /// Index into [`SMOOTHING`].
    pub smoothing_index: usize,
    pub dataset: DatasetView,
    pub sweep: Option<(PathBuf, SweepStatus)>,
    /// The open sweep's folder, read once (its spec does not change).
    sweep_dir: Option<SweepDir>,
    pub sweep_cursor: usize,
    /// The sweep teacher's validation macro-F1 (the heat map's reference).
    pub sweep_teacher: Option<f64>,
    /// The last thing worth telling the user (a run started, an error).
    pub message: Option<String>,
    pub config: Option<PathBuf>,
    pub runs_dir: PathBuf,
    /// Look for new run folders under `runs_dir` on each tick (runs started elsewhere, a
    /// distillation's own teacher); off in tests on fixed data.
    pub watch_runs_dir: bool,
    pub launcher: Box<dyn Launcher>,
}

impl App {
    pub fn new(theme: Theme, ascii: bool, launcher: Box<dyn Launcher>) -> Self {
        Self {
            pane: Pane::Dataset,
            help: false,
            quit: false,
            ascii,
            theme,
            runs: Vec::new(),
            selected_run: 0,
            zoom_recent: false,
            smoothing_index: 1,
            dataset: DatasetView::default(),
            sweep: None,
            sweep_dir: None,
            sweep_cursor: 0,
            sweep_teacher: None,
            message: None,
            config: None,
            runs_dir: PathBuf::from("runs"),
            watch_runs_dir: false,
            launcher,
        }
    }

    /// Follows a run folder (once).
    pub fn attach_run(&mut self, path: &std::path::Path) {
        if self.runs.iter().any(|r| r.path == path) {
            return;
        }
        let mut view = RunView::new(path);
        view.poll();
        self.runs.push(view);
    }

    pub fn attach_sweep(&mut self, path: &std::path::Path) -> Result<(), String> {
        let sweep = SweepDir::open(path).map_err(|e| e.to_string())?;
        self.sweep = Some((path.to_path_buf(), status(&sweep)));
        self.sweep_teacher = super::panes::sweep::teacher_score(path);
        self.sweep_dir = Some(sweep);
        Ok(())
    }

    /// Every run folder under the runs directory (the run list), with the teachers that
    /// distillations fine-tuned for themselves (`.teachers/<key>/<run>`), oldest first.
    pub fn discover_runs(&mut self) {
        let runs = |dir: &std::path::Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default()
        };
        let mut found: Vec<PathBuf> = runs(&self.runs_dir);
        for key in runs(&self.runs_dir.join(".teachers")) {
            found.extend(runs(&key));
        }
        found.retain(|p| p.join("run.json").is_file());
        // Run folders are named by their start time: sort by name, not by path.
        found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for p in found {
            self.attach_run(&p);
        }
    }

    /// The EMA weight the loss curves are drawn with (0 = raw only).
    pub fn smoothing(&self) -> f64 {
        SMOOTHING[self.smoothing_index % SMOOTHING.len()]
    }

    pub fn selected(&self) -> Option<&RunView> {
        self.runs.get(self.selected_run)
    }

    pub fn update(&mut self, action: Action) -> Option<Action> {
        if self.dataset.filtering {
            return self.update_filter(action);
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = !self.help,
            // Ticks keep polling under the overlay; only a key closes it.
            Action::Tick => self.tick(),
            _ if self.help => self.help = false,
            Action::Show(p) => self.pane = p,
            Action::NextPane => self.pane = Pane::ALL[(self.pane.index() + 1) % 4],
            Action::PrevPane => self.pane = Pane::ALL[(self.pane.index() + 3) % 4],
            Action::Up | Action::Down => self.move_vertical(action == Action::Down),
            Action::Left | Action::Right => self.move_horizontal(action == Action::Right),
            Action::Enter => return self.enter(),
            Action::StartFilter if self.pane == Pane::Dataset => self.dataset.filtering = true,
            Action::CycleClass => self.dataset.cycle_class(),
            Action::CycleSplit => self.dataset.cycle_split(),
            Action::ToggleZoom => self.zoom_recent = !self.zoom_recent,
            Action::CycleSmoothing => {
                self.smoothing_index = (self.smoothing_index + 1) % SMOOTHING.len()
            }
            Action::Start(kind) => self.start(kind),
            Action::StopRun => self.stop_selected(),
            Action::CycleEvidenceRun => self.cycle_evidence_run(),
            Action::NextHotLine => self.dataset.next_hot_line(),
            _ => {}
        }
        None
    }

    fn update_filter(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::FilterChar(c) => self.dataset.filter.push(c),
            Action::FilterBackspace => {
                self.dataset.filter.pop();
            }
            Action::EndFilter | Action::Enter => self.dataset.filtering = false,
            Action::Quit => self.quit = true,
            Action::Tick => self.tick(),
            _ => {}
        }
        self.dataset.clamp_selection();
        None
    }

    fn move_vertical(&mut self, down: bool) {
        match self.pane {
            Pane::Dataset => self.dataset.move_selection(down),
            Pane::Training | Pane::Compare => {
                let n = self.runs.len();
                if n > 0 {
                    self.selected_run = if down {
                        (self.selected_run + 1).min(n - 1)
                    } else {
                        self.selected_run.saturating_sub(1)
                    };
                }
            }
            Pane::Sweep => self.move_sweep(if down {
                self.sweep_columns() as isize
            } else {
                -(self.sweep_columns() as isize)
            }),
        }
    }

    fn move_horizontal(&mut self, right: bool) {
        match self.pane {
            Pane::Sweep => self.move_sweep(if right { 1 } else { -1 }),
            Pane::Dataset => self.dataset.scroll_viewer(right),
            _ => {}
        }
    }

    fn sweep_columns(&self) -> usize {
        self.sweep
            .as_ref()
            .and_then(|(_, s)| (s.axes.len() == 2).then(|| s.axes[1].1.len()))
            .unwrap_or(1)
    }

    fn move_sweep(&mut self, by: isize) {
        let n = self.sweep.as_ref().map_or(0, |(_, s)| s.cells.len());
        if n == 0 {
            return;
        }
        let next = self.sweep_cursor as isize + by;
        if (0..n as isize).contains(&next) {
            self.sweep_cursor = next as usize;
        }
    }

    /// Enter on a sweep cell opens its run in the training pane.
    fn enter(&mut self) -> Option<Action> {
        if self.pane != Pane::Sweep {
            return None;
        }
        let (dir, _) = self.sweep.as_ref()?;
        let path = dir
            .join("cells")
            .join(crate::sweep::folder::cell_name(self.sweep_cursor));
        if !path.join("run.json").is_file() {
            self.message = Some(format!(
                "{} has not started yet",
                crate::sweep::folder::cell_name(self.sweep_cursor)
            ));
            return None;
        }
        self.attach_run(&path);
        self.selected_run = self.runs.iter().position(|r| r.path == path).unwrap_or(0);
        self.pane = Pane::Training;
        None
    }

    fn start(&mut self, kind: RunKind) {
        let Some(config) = self.config.clone() else {
            self.message = Some("no config to start a run from (alambic tui --config FILE)".into());
            return;
        };
        match self.launcher.start(kind, &config, &self.runs_dir) {
            Ok(path) => {
                self.message = Some(format!("started {} in {}", kind.name(), path.display()));
                if kind == RunKind::Sweep {
                    let _ = self.attach_sweep(&path);
                    self.pane = Pane::Sweep;
                } else {
                    self.attach_run(&path);
                    self.selected_run = self.runs.len() - 1;
                    self.pane = Pane::Training;
                }
            }
            Err(e) => self.message = Some(format!("could not start {}: {e}", kind.name())),
        }
    }

    fn stop_selected(&mut self) {
        let Some(run) = self.runs.get(self.selected_run) else {
            return;
        };
        let (Some(info), RunState::Running) = (&run.info, run.state()) else {
            self.message = Some(format!("{} is not running", run.name()));
            return;
        };
        self.message = Some(match self.launcher.stop(info.pid) {
            Ok(()) => format!("asked {} to checkpoint and stop", run.name()),
            Err(e) => format!("could not stop {}: {e}", run.name()),
        });
    }

    /// Polls every followed run folder and the sweep.
    pub fn tick(&mut self) {
        if self.watch_runs_dir {
            self.discover_runs();
        }
        for r in &mut self.runs {
            r.poll();
        }
        if let (Some((dir, s)), Some(sweep)) = (&mut self.sweep, &self.sweep_dir) {
            *s = status(sweep);
            self.sweep_teacher = super::panes::sweep::teacher_score(dir);
        }
        self.dataset.poll_loading();
        self.request_evidence();
    }

    /// Finished runs with a checkpoint and a classifier: those that can explain a verdict.
    fn explainable_runs(&self) -> Vec<PathBuf> {
        self.runs
            .iter()
            .filter(|r| r.summary.is_some() && r.role != "pretrain")
            .filter(|r| {
                crate::train::setup::run_checkpoint(&r.path.display().to_string()).is_some()
            })
            .map(|r| r.path.clone())
            .collect()
    }

    fn cycle_evidence_run(&mut self) {
        let runs = self.explainable_runs();
        let ev = &mut self.dataset.evidence;
        ev.cycle_run(&runs);
        self.message = Some(match &ev.run {
            Some(r) => format!(
                "evidence: {} (n: next hot line; m: next run)",
                r.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ),
            None if runs.is_empty() => "evidence: no finished run to explain with yet".into(),
            None => "evidence: off".into(),
        });
        self.request_evidence();
    }

    /// Asks for the selected contract's evidence, and picks up what has been computed.
    fn request_evidence(&mut self) {
        if self.dataset.evidence.run.is_none() {
            return;
        }
        if let Some((id, code)) = self
            .dataset
            .current()
            .map(|c| (c.id.clone(), c.code.clone()))
        {
            self.dataset.evidence.request(&id, &code);
        }
        self.dataset.evidence.poll();
    }
}
