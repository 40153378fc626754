//! The training pane: the followed runs (live, finished, dead), and for the selected one its
//! progress and curves — the loss and every distillation term, validation macro-F1 of all runs
//! overlaid, the learning rate. `z` shows the recent window instead of the whole history.

use super::super::app::App;
use super::super::store::{RunState, RunView};
use super::plot::{Plot, PlotSeries};
use super::{block, duration};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, Paragraph};

/// Steps shown by the recent window.
const RECENT: f64 = 200.0;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [list, main] =
        Layout::horizontal([Constraint::Length(34), Constraint::Min(10)]).areas(area);
    draw_runs(f, list, app);
    let Some(run) = app.selected() else {
        f.render_widget(
            Paragraph::new("No runs yet: start one (T teacher, S student, D distill, W sweep) or open a run folder: alambic tui RUN_DIR")
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block("Training", &app.theme, app.ascii, true)),
            main,
        );
        return;
    };
    let [head, curves, lower] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Percentage(55),
        Constraint::Min(3),
    ])
    .areas(main);
    draw_header(f, head, app, run);
    let from = if app.zoom_recent {
        (run.step as f64 - RECENT).max(0.0)
    } else {
        0.0
    };
    let t = &app.theme;
    let mut series = vec![PlotSeries {
        name: "loss".into(),
        points: run.loss.since(from),
        style: t.series(0),
    }];
    for (i, (name, s)) in run.terms.iter().enumerate() {
        // A single term equal to the loss (plain fine-tuning) would only repeat it.
        if run.terms.len() > 1 {
            series.push(PlotSeries {
                name: name.clone(),
                points: s.since(from),
                style: t.series(i + 1),
            });
        }
    }
    if !run.valid_loss.points.is_empty() {
        series.push(PlotSeries {
            name: "valid loss".into(),
            points: run.valid_loss.since(from),
            style: t.fg("valid"),
        });
    }
    let title = format!(
        "Loss and terms ({}, z: {}; smoothing {}, e: change)",
        if app.zoom_recent {
            "recent"
        } else {
            "all steps"
        },
        if app.zoom_recent { "all" } else { "recent" },
        smoothing_name(app.smoothing()),
    );
    draw_plot(f, curves, app, &title, series, None, app.smoothing());
    let (f1, lr) = if run.expert_load.is_empty() {
        let [f1, lr] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(lower);
        (f1, lr)
    } else {
        let [f1, lr, load] = Layout::horizontal([
            Constraint::Percentage(45),
            Constraint::Percentage(25),
            Constraint::Percentage(30),
        ])
        .areas(lower);
        draw_expert_load(f, load, app, run);
        (f1, lr)
    };
    // A corpus run (pretraining) has no macro-F1: its chart is the masked-token accuracy.
    let corpus_run = run.valid_f1.points.is_empty() && !run.valid_accuracy.points.is_empty();
    let f1_series = app
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| match corpus_run {
            true => r.valid_f1.points.is_empty() && !r.valid_accuracy.points.is_empty(),
            false => !r.valid_f1.points.is_empty(),
        })
        .map(|(i, r)| PlotSeries {
            name: run_label(i, r),
            points: match corpus_run {
                true => r.valid_accuracy.since(from),
                false => r.valid_f1.since(from),
            },
            style: t.series(i),
        })
        .collect();
    let title = match corpus_run {
        true => "Validation masked-token accuracy",
        false => "Validation macro-F1",
    };
    draw_plot(f, f1, app, title, f1_series, Some((0.0, 1.0)), 0.0);
    let lr_series = vec![PlotSeries {
        name: "lr".into(),
        points: run.lr.since(from),
        style: t.series(3),
    }];
    draw_plot(f, lr, app, "Learning rate", lr_series, None, 0.0);
}

/// A Mixture-of-Experts run's share of tokens per expert and layer, as bars (the longest bar
/// is the busiest expert; an even load reads 1/E everywhere).
fn draw_expert_load(f: &mut Frame, area: Rect, app: &App, run: &RunView) {
    let b = block(
        "Expert load (share of tokens)",
        &app.theme,
        app.ascii,
        false,
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let busiest = run
        .expert_load
        .values()
        .flatten()
        .copied()
        .fold(f64::EPSILON, f64::max);
    let width = (inner.width as usize).saturating_sub(14).max(1);
    let glyph = if app.ascii { "#" } else { "█" };
    let mut lines = Vec::new();
    let mut layers: Vec<(&String, &Vec<f64>)> = run.expert_load.iter().collect();
    layers.sort_by_key(|(l, _)| l.parse::<usize>().unwrap_or(0));
    for (layer, shares) in layers {
        for (e, share) in shares.iter().enumerate() {
            let label = if e == 0 {
                format!("L{layer:<3}")
            } else {
                "    ".into()
            };
            let n = ((share / busiest) * width as f64).round() as usize;
            lines.push(Line::from(vec![
                Span::raw(format!("{label}e{e:<2} ")),
                Span::styled(glyph.repeat(n), app.theme.series(e)),
                Span::raw(format!(" {share:.2}")),
            ]));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// A run's short, stable label: its number in the run list and its role (the full name is
/// in the list), so legends never cut a name in the middle.
pub fn run_label(index: usize, r: &RunView) -> String {
    format!("#{} {}", index + 1, r.role)
}

fn smoothing_name(w: f64) -> String {
    if w == 0.0 {
        "off".into()
    } else {
        format!("{w}")
    }
}

fn draw_plot(
    f: &mut Frame,
    area: Rect,
    app: &App,
    title: &str,
    series: Vec<PlotSeries>,
    y_range: Option<(f64, f64)>,
    smoothing: f64,
) {
    let b = block(title, &app.theme, app.ascii, false);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let plot = Plot {
        series,
        ascii: app.ascii,
        theme: &app.theme,
        y_range,
        smoothing,
    };
    plot.render(inner, f.buffer_mut());
}

fn draw_runs(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let items: Vec<ListItem> = app
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let state = r.state();
            let style = match state {
                RunState::Failed | RunState::Dead => t.fg("error"),
                RunState::Running => t.fg("good"),
                _ => t.text(),
            };
            let line = Line::from(vec![
                Span::styled(format!("#{:<2} ", i + 1), t.muted()),
                Span::styled(format!("{:<9}", r.role), t.title(false)),
                Span::styled(format!("{:<9}", state.name()), style),
                Span::styled(format!("{:>5}/{:<5}", r.step, r.total_steps), t.muted()),
            ]);
            let item = ListItem::new(vec![
                line,
                Line::from(Span::styled(format!(" {}", r.name()), t.muted())),
            ]);
            if i == app.selected_run {
                item.style(t.selected())
            } else {
                item
            }
        })
        .collect();
    f.render_widget(
        List::new(items).block(block("Runs", t, app.ascii, true)),
        area,
    );
}

fn draw_header(f: &mut Frame, area: Rect, app: &App, run: &RunView) {
    let t = &app.theme;
    let progress = if run.total_steps > 0 {
        run.step as f64 / run.total_steps as f64
    } else {
        0.0
    };
    let width = 20usize;
    let filled = (progress * width as f64).round() as usize;
    let (full, empty) = if app.ascii {
        ("#", ".")
    } else {
        ("█", "░")
    };
    let bar = format!(
        "{}{}",
        full.repeat(filled),
        empty.repeat(width - filled.min(width))
    );
    let eta = run
        .eta_seconds()
        .map(|s| format!("  ETA {}", duration(s)))
        .unwrap_or_default();
    let stage = run
        .stage
        .as_ref()
        .map(|s| format!("  stage {s}"))
        .unwrap_or_default();
    let line1 = Line::from(vec![
        Span::styled(format!("{} ", run.role), t.title(true)),
        Span::styled(format!("{}  ", run.state().name()), t.text()),
        Span::styled(
            run.info
                .as_ref()
                .and_then(|i| i.device.as_deref())
                .map(|d| format!("on {d}  "))
                .unwrap_or_default(),
            t.muted(),
        ),
        Span::styled(bar, t.series(1)),
        Span::styled(
            format!(
                "  step {}/{}  epoch {}{stage}  {:.1} contracts/s{eta}",
                run.step, run.total_steps, run.epoch, run.samples_per_s
            ),
            t.text(),
        ),
    ]);
    let last = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
    let mut line2 = vec![
        Span::styled("loss ", t.muted()),
        Span::styled(last(run.loss.last()), t.text()),
    ];
    if run.valid_f1.points.is_empty() && !run.valid_loss.points.is_empty() {
        // A corpus run: held-out loss, and the masked-token accuracy of pretraining.
        line2.push(Span::styled("  valid loss ", t.muted()));
        line2.push(Span::styled(last(run.valid_loss.last()), t.text()));
        if !run.valid_accuracy.points.is_empty() {
            line2.push(Span::styled("  masked-token accuracy ", t.muted()));
            line2.push(Span::styled(last(run.valid_accuracy.last()), t.text()));
        }
    } else {
        line2.push(Span::styled("  valid macro-F1 ", t.muted()));
        line2.push(Span::styled(last(run.valid_f1.last()), t.text()));
    }
    if let Some(f1) = run.summary_number("test.macro_f1") {
        line2.push(Span::styled("  test macro-F1 ", t.muted()));
        line2.push(Span::styled(format!("{f1:.4}"), t.fg("good")));
    }
    if let Some(e) = &run.error {
        line2.push(Span::styled(format!("  error: {e}"), t.fg("error")));
    }
    let name = run.name();
    let p = Paragraph::new(vec![line1, Line::from(line2)]).block(block(&name, t, app.ascii, false));
    f.render_widget(p, area);
}
