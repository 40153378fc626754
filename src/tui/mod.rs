//! The workbench: a ratatui view over the engine. It never trains in-process: runs are
//! detached `alambic` processes writing run folders, which the TUI follows (so it attaches to
//! runs started elsewhere, e.g. over SSH, and quitting it stops nothing).

pub mod app;
pub mod dataset;
pub mod event_loop;
pub mod evidence;
pub mod keymap;
pub mod launch;
pub mod panes;
pub mod store;
pub mod theme;

use crate::train::ExperimentConfig;
use app::App;
use launch::ProcessLauncher;
use std::path::PathBuf;
use theme::Theme;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub config: Option<PathBuf>,
    /// Run folders, sweep folders, or folders of runs to follow.
    pub paths: Vec<PathBuf>,
    pub theme: Option<String>,
    pub ascii: bool,
    pub runs_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] crate::train::config::ConfigError),
}

/// The app for `opts`, ready to draw (no terminal involved: tests use this too).
pub fn build(opts: &Options) -> Result<App, TuiError> {
    let cfg = opts
        .config
        .as_ref()
        .map(|c| ExperimentConfig::load(Some(c), &[]))
        .transpose()?;
    let theme_name = opts
        .theme
        .clone()
        .or_else(|| {
            cfg.as_ref().and_then(|c| {
                c.tui
                    .get("theme")
                    .and_then(|v| v.as_str().map(str::to_string))
            })
        })
        .unwrap_or_else(|| "dark".into());
    let theme =
        Theme::choose(&theme_name, std::path::Path::new("themes")).map_err(TuiError::Invalid)?;
    let mut app = App::new(theme, opts.ascii, Box::new(ProcessLauncher::current()));
    app.runs_dir = opts.runs_dir.clone();
    if let (Some(path), Some(cfg)) = (&opts.config, &cfg) {
        app.config = Some(path.clone());
        app.dataset.start_loading(
            cfg.dataset.clone(),
            vec![cfg.student.model.clone(), cfg.teacher.model.clone()],
        );
    }
    for p in &opts.paths {
        if p.join("sweep.toml").is_file() {
            app.attach_sweep(p).map_err(TuiError::Invalid)?;
        } else if p.join("run.json").is_file() {
            app.attach_run(p);
        } else if p.is_dir() {
            app.runs_dir = p.clone();
        } else {
            return Err(TuiError::Invalid(format!(
                "{}: neither a run folder (run.json), a sweep folder (sweep.toml) nor a folder of runs",
                p.display()
            )));
        }
    }
    app.watch_runs_dir = true;
    app.discover_runs();
    // Opened on runs or a sweep: show them first.
    if app.sweep.is_some() {
        app.pane = app::Pane::Sweep;
    } else if !opts.paths.is_empty() && !app.runs.is_empty() {
        app.pane = app::Pane::Training;
    }
    Ok(app)
}

pub fn run(opts: &Options) -> Result<(), TuiError> {
    let mut app = build(opts)?;
    event_loop::run(&mut app)?;
    Ok(())
}
