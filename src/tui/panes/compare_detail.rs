//! The compare pane's middle band: per-class F1 of the teacher and the selected student side by
//! side (with the difference), and every finished run's size and latency as bars, so the
//! trade-off reads at a glance.

use super::super::app::App;
use super::super::store::RunView;
use super::block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// `n` of `max` as a bar of at most `width` cells (at least one for a non-zero value).
pub fn bar(value: f64, max: f64, width: usize, ascii: bool) -> String {
    let cells = if max > 0.0 && value > 0.0 {
        ((value / max * width as f64).round() as usize).clamp(1, width)
    } else {
        0
    };
    (if ascii { "#" } else { "█" }).repeat(cells)
}

/// (class, test F1) pairs from a summary.
pub fn per_class_f1(run: &RunView) -> Vec<(String, f64)> {
    let Some(test) = run.summary.as_ref().and_then(|s| s.test.as_ref()) else {
        return Vec::new();
    };
    test.metrics
        .per_class
        .iter()
        .map(|c| (c.class.clone(), c.f1))
        .collect()
}

pub fn draw_per_class(
    f: &mut Frame,
    area: Rect,
    app: &App,
    teacher: Option<&RunView>,
    student: Option<&RunView>,
) {
    let t = &app.theme;
    let title = match (teacher, student) {
        (Some(a), Some(b)) => format!(
            "Per-class F1 (test): {} | {}",
            label_of(app, a),
            label_of(app, b)
        ),
        _ => "Per-class F1 (test): teacher | student".into(),
    };
    let b = block(&title, t, app.ascii, false);
    let (Some(teacher), Some(student)) = (teacher, student) else {
        let missing = if teacher.is_none() {
            "needs a finished teacher"
        } else {
            "needs a finished student"
        };
        f.render_widget(
            Paragraph::new(Span::styled(missing, t.muted())).block(b),
            area,
        );
        return;
    };
    let (tc, sc) = (per_class_f1(teacher), per_class_f1(student));
    // Name 17, two values and the difference 18, borders 2: the rest is the two bars.
    let width = (usize::from(area.width).saturating_sub(37) / 2).clamp(3, 20);
    let mut lines = Vec::new();
    for (name, tf) in &tc {
        let sf = sc.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let name: String = name.chars().take(16).collect();
        let mut spans = vec![
            Span::styled(format!("{name:<16} "), t.muted()),
            Span::styled(
                format!("{:<width$}", bar(*tf, 1.0, width, app.ascii)),
                t.fg("teacher"),
            ),
            Span::styled(format!(" {tf:.2}  "), t.text()),
        ];
        if let Some(sf) = sf {
            let delta = sf - tf;
            spans.push(Span::styled(
                format!("{:<width$}", bar(sf, 1.0, width, app.ascii)),
                t.fg("student"),
            ));
            spans.push(Span::styled(format!(" {sf:.2} "), t.text()));
            spans.push(Span::styled(
                format!("{delta:+.2}"),
                if delta < 0.0 {
                    t.fg("warning")
                } else {
                    t.fg("good")
                },
            ));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).block(b), area);
}

pub fn draw_cost(f: &mut Frame, area: Rect, app: &App, runs: &[(usize, &RunView)]) {
    let t = &app.theme;
    let b = block("Size and latency", t, app.ascii, false);
    let value = |r: &RunView, k: &str| r.summary_number(k).unwrap_or(0.0);
    let max_p = runs
        .iter()
        .map(|(_, r)| value(r, "parameters"))
        .fold(0.0, f64::max);
    let max_l = runs
        .iter()
        .map(|(_, r)| value(r, "latency_ms_per_contract"))
        .fold(0.0, f64::max);
    // Label 13, the two values 16, borders 2: the rest is the two bars.
    let width = (usize::from(area.width).saturating_sub(31) / 2).clamp(3, 24);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<13}{:<w2$}{}",
            "run",
            "parameters",
            "ms/contract",
            w2 = width + 9
        ),
        t.muted(),
    ))];
    for (i, r) in runs {
        let (p, l) = (value(r, "parameters"), value(r, "latency_ms_per_contract"));
        let style = if r.role == "teacher" {
            t.fg("teacher")
        } else {
            t.fg("student")
        };
        let label = super::training::run_label(*i, r);
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<12} ", label.chars().take(12).collect::<String>()),
                t.text(),
            ),
            Span::styled(
                format!("{:<width$}", bar(p, max_p, width, app.ascii)),
                style,
            ),
            Span::styled(format!(" {:>5.1}M  ", p / 1e6), t.text()),
            Span::styled(
                format!("{:<width$}", bar(l, max_l, width, app.ascii)),
                style,
            ),
            Span::styled(format!(" {l:>5.1}"), t.text()),
        ]));
    }
    f.render_widget(Paragraph::new(lines).block(b), area);
}

/// What a student-side view waits for.
pub fn waiting_for(student: Option<&RunView>) -> &'static str {
    if student.is_none() {
        "needs a finished student"
    } else {
        "needs both runs' predictions"
    }
}

/// A run's `#i role` label, by its place in the run list.
fn label_of(app: &App, run: &RunView) -> String {
    let i = app
        .runs
        .iter()
        .position(|r| r.path == run.path)
        .unwrap_or(0);
    super::training::run_label(i, run)
}

/// The test contracts on which the teacher and the student disagree: id, truth, each
/// verdict, and who was right — where to look first when a student falls short.
pub fn draw_disagreements(
    f: &mut Frame,
    area: Rect,
    app: &App,
    teacher: Option<&RunView>,
    student: Option<&RunView>,
) {
    let t = &app.theme;
    let preds = teacher
        .and_then(|r| Some((r.predictions.as_ref()?.split("test")?, r.summary.as_ref()?)))
        .zip(student.and_then(|r| r.predictions.as_ref()?.split("test")));
    let Some(((tp, summary), sp)) = preds else {
        let b = block("Where they disagree (test)", t, app.ascii, false);
        let wait = waiting_for(student);
        f.render_widget(Paragraph::new(Span::styled(wait, t.muted())).block(b), area);
        return;
    };
    let name = |c: usize| summary.classes.get(c).map_or("?", String::as_str);
    let rows: Vec<(&String, usize, usize, Option<usize>)> = tp
        .iter()
        .filter_map(|(id, a)| {
            let b = sp.get(id)?;
            (a.p != b.p).then_some((id, a.p, b.p, a.t))
        })
        .collect();
    let title = format!("Where they disagree (test): {} contracts", rows.len());
    let b = block(&title, t, app.ascii, false);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<24} {:<18} {:<18} {:<18} right",
            "id", "truth", "teacher", "student"
        ),
        t.muted(),
    ))];
    for (id, a, b, truth) in rows.iter().take(usize::from(area.height.saturating_sub(3))) {
        let right = match truth {
            Some(x) if x == a => ("teacher", t.fg("teacher")),
            Some(x) if x == b => ("student", t.fg("student")),
            _ => ("neither", t.muted()),
        };
        let id: String = id.chars().take(24).collect();
        lines.push(Line::from(vec![
            Span::styled(format!("{id:<24} "), t.text()),
            Span::styled(format!("{:<18} ", truth.map_or("-", name)), t.text()),
            Span::styled(format!("{:<18} ", name(*a)), t.fg("teacher")),
            Span::styled(format!("{:<18} ", name(*b)), t.fg("student")),
            Span::styled(right.0, right.1),
        ]));
    }
    f.render_widget(Paragraph::new(lines).block(b), area);
}
