//! Teacher vs students: accuracy, macro-F1, per-class F1, size, CPU latency per contract,
//! speed-up, the share of the teacher's macro-F1 kept; the test confusion matrices of the
//! teacher and the selected student side by side, and where they agree and disagree.

use super::super::app::App;
use super::super::store::{RunState, RunView};
use super::block;
use super::compare_detail as detail;
use crate::store::schema::Predictions;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

/// The finished runs with their index in the run list (their label, `#i`).
fn finished(app: &App) -> Vec<(usize, &RunView)> {
    app.runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.state() == RunState::Finished && r.summary.is_some())
        .collect()
}

/// The latest finished teacher.
fn teacher<'a>(runs: &[(usize, &'a RunView)]) -> Option<&'a RunView> {
    runs.iter()
        .rev()
        .find(|(_, r)| r.role == "teacher")
        .map(|(_, r)| *r)
}

fn num(r: &RunView, path: &str) -> Option<f64> {
    r.summary_number(path)
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let runs = finished(app);
    if runs.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No finished runs yet: the comparison fills in as teacher and student runs finish.",
            )
            .block(block("Compare", t, app.ascii, true)),
            area,
        );
        return;
    }
    let teacher = teacher(&runs);
    let classes = runs
        .iter()
        .map(|(_, r)| detail::per_class_f1(r).len())
        .max()
        .unwrap_or(0);
    let [table_area, middle, lower] = Layout::vertical([
        Constraint::Length(runs.len() as u16 + 3),
        Constraint::Length((classes.max(runs.len() + 1) as u16 + 2).max(4)),
        Constraint::Min(3),
    ])
    .areas(area);
    let t_f1 = teacher.and_then(|r| num(r, "test.macro_f1"));
    let t_lat = teacher.and_then(|r| num(r, "latency_ms_per_contract"));
    // Mixture-of-Experts runs also say how many parameters a token goes through.
    let any_active = runs
        .iter()
        .any(|(_, r)| num(r, "active_parameters").is_some());
    let header = Row::new([
        "run",
        "role",
        if any_active {
            "params/active"
        } else {
            "params"
        },
        "MB",
        "ms/contract",
        "speed-up",
        "accuracy",
        "macro-F1",
        "kept",
    ])
    .style(t.title(false));
    let rows: Vec<Row> = runs
        .iter()
        .map(|&(i, r)| {
            let params = num(r, "parameters");
            let f1 = num(r, "test.macro_f1");
            let lat = num(r, "latency_ms_per_contract");
            let speed = t_lat.zip(lat).map(|(a, b)| a / b.max(1e-9));
            let kept = t_f1.zip(f1).map(|(a, b)| 100.0 * b / a.max(1e-9));
            let name = r.name();
            let tail: String = name
                .chars()
                .rev()
                .take(21)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Row::new(vec![
                format!("#{:<2} {tail}", i + 1),
                r.role.clone(),
                match (params, num(r, "active_parameters")) {
                    (Some(p), Some(a)) => format!("{:.1}M/{:.1}M", p / 1e6, a / 1e6),
                    (Some(p), None) => format!("{:.2}M", p / 1e6),
                    _ => "-".into(),
                },
                num(r, "size_mb")
                    .or(params.map(|p| p * 4.0 / 1e6))
                    .map_or("-".into(), |mb| format!("{mb:.1}")),
                cell(lat, 2),
                speed.map_or("-".into(), |s| format!("{s:.1}x")),
                cell(num(r, "test.accuracy"), 4),
                cell(f1, 4),
                kept.map_or("-".into(), |k| format!("{k:.0}%")),
            ])
            .style(if r.role == "teacher" {
                t.fg("teacher")
            } else {
                t.fg("student")
            })
        })
        .collect();
    let widths = [
        Constraint::Length(25),
        Constraint::Length(8),
        Constraint::Length(if any_active { 13 } else { 7 }),
        Constraint::Length(6),
        Constraint::Length(11),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(5),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).block(block(
            "Teacher vs students (test split)",
            t,
            app.ascii,
            true,
        )),
        table_area,
    );
    let student = app
        .selected()
        .filter(|r| r.role != "teacher" && r.summary.is_some())
        .or_else(|| {
            runs.iter()
                .rev()
                .find(|(_, r)| r.role != "teacher")
                .map(|(_, r)| *r)
        });
    let [per_class, cost] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle);
    detail::draw_per_class(f, per_class, app, teacher, student);
    detail::draw_cost(f, cost, app, &runs);
    let [matrices, disagreements] =
        Layout::vertical([Constraint::Length(classes as u16 + 8), Constraint::Min(3)]).areas(lower);
    let [left, middle, right] = Layout::horizontal([
        Constraint::Percentage(36),
        Constraint::Percentage(36),
        Constraint::Percentage(28),
    ])
    .areas(matrices);
    draw_confusion(f, left, app, teacher, "Teacher confusion (test)");
    draw_confusion(f, middle, app, student, "Student confusion (test)");
    draw_agreement(f, right, app, teacher, student);
    detail::draw_disagreements(f, disagreements, app, teacher, student);
}

fn draw_confusion(f: &mut Frame, area: Rect, app: &App, run: Option<&RunView>, title: &str) {
    let t = &app.theme;
    let b = block(title, t, app.ascii, false);
    let Some(summary) = run.and_then(|r| r.summary.as_ref()) else {
        let wait = if title.starts_with("Teacher") {
            "needs a finished teacher"
        } else {
            "needs a finished student"
        };
        f.render_widget(Paragraph::new(Span::styled(wait, t.muted())).block(b), area);
        return;
    };
    let classes = &summary.classes;
    let matrix: Vec<Vec<usize>> = summary
        .test
        .as_ref()
        .map(|t| t.metrics.confusion.clone())
        .unwrap_or_default();
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:>10} {}",
            "true\\pred",
            (0..classes.len())
                .map(|i| format!("{i:>4}"))
                .collect::<String>()
        ),
        t.muted(),
    ))];
    for (i, row) in matrix.iter().enumerate() {
        let name: String = classes
            .get(i)
            .map_or(String::new(), |c| c.chars().take(7).collect());
        let mut spans = vec![Span::styled(format!("{i:>2} {name:<7} "), t.muted())];
        for (j, v) in row.iter().enumerate() {
            let style = if i == j {
                t.fg("good")
            } else if *v > 0 {
                t.fg("warning")
            } else {
                t.muted()
            };
            spans.push(Span::styled(format!("{v:>4}"), style));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).block(b), area);
}

/// Contract by contract on test: both right, teacher right and student wrong, the reverse,
/// both wrong; and how often their verdicts match.
pub fn agreement_counts(teacher: &Predictions, student: &Predictions) -> Option<[usize; 5]> {
    let (a, b) = (teacher.split("test")?, student.split("test")?);
    let mut counts = [0usize; 5];
    for (id, tv) in a {
        let Some(sv) = b.get(id) else { continue };
        let Some(truth) = tv.t else { continue };
        let (tp, sp) = (tv.p, sv.p);
        let idx = match (tp == truth, sp == truth) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        counts[idx] += 1;
        counts[4] += usize::from(tp == sp);
    }
    Some(counts)
}

fn draw_agreement(
    f: &mut Frame,
    area: Rect,
    app: &App,
    teacher: Option<&RunView>,
    student: Option<&RunView>,
) {
    let t = &app.theme;
    let counts = teacher
        .and_then(|r| r.predictions.as_ref())
        .zip(student.and_then(|r| r.predictions.as_ref()))
        .and_then(|(a, b)| agreement_counts(a, b));
    let lines = match counts {
        Some([both, t_only, s_only, neither, same]) => {
            let n = (both + t_only + s_only + neither).max(1);
            vec![
                Line::from(format!("both right      {both:>5}")),
                Line::from(format!("teacher only    {t_only:>5}")),
                Line::from(format!("student only    {s_only:>5}")),
                Line::from(format!("both wrong      {neither:>5}")),
                Line::from(Span::styled(
                    format!("same verdict {:>5.1}%", 100.0 * same as f64 / n as f64),
                    t.title(false),
                )),
            ]
        }
        None => vec![Line::from(Span::styled(
            detail::waiting_for(student),
            t.muted(),
        ))],
    };
    f.render_widget(
        Paragraph::new(lines).block(block("Agreement (test)", t, app.ascii, false)),
        area,
    );
}
