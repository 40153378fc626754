//! The sweep grid as a heat map: rows the first key (alpha), columns the second (temperature),
//! each finished cell coloured by its objective between the worst and best so far, running and
//! failed cells marked, the best starred, the teacher's validation score as the reference.
//! Enter opens the cell under the cursor in the training pane.

use super::super::app::App;
use super::block;
use crate::sweep::folder::cell_name;
use crate::sweep::summary::CellStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::path::Path;

/// The teacher's best validation macro-F1, from the run its `teacher.json` names (read on
/// the app's tick, not per frame).
pub fn teacher_score(dir: &Path) -> Option<f64> {
    let pass = crate::store::schema::TeacherPass::read(dir).ok()?;
    Some(pass.summary()?.valid.metrics.macro_f1)
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some((dir, s)) = &app.sweep else {
        f.render_widget(
            Paragraph::new(
                "No sweep open: W starts one from the config, or alambic tui SWEEP_DIR.",
            )
            .block(block("Sweep", t, app.ascii, true)),
            area,
        );
        return;
    };
    let short = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let (rows, cols, row_name, col_name) = match s.axes.as_slice() {
        [a, b] if a.1.len() * b.1.len() == s.cells.len() => {
            (a.1.clone(), b.1.clone(), short(&a.0), short(&b.0))
        }
        _ => (
            s.cells.iter().map(|c| cell_name(c.index)).collect(),
            vec![String::from("objective")],
            "cell".into(),
            String::new(),
        ),
    };
    let mark = |c: &CellStatus| -> (String, ratatui::style::Style) {
        let best = s.best == Some(c.index);
        match c.state.as_str() {
            "finished" => {
                let v = c.objective.unwrap_or(f64::NAN);
                let text = format!("{v:.4}{}", if best { "*" } else { " " });
                let mut style = t.heat(s.goodness(v));
                if best {
                    style = style.add_modifier(Modifier::BOLD);
                }
                (text, style)
            }
            "failed" => ("FAIL".into(), t.fg("error")),
            "running" | "taken_over" => ("run…".into(), t.fg("good")),
            "stopped" => ("stop".into(), t.fg("warning")),
            _ => ("·".into(), t.muted()),
        }
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{:>14} ", format!("{row_name} \\ {col_name}")),
            t.muted(),
        ),
        Span::styled(
            cols.iter().map(|c| format!("{c:>10}")).collect::<String>(),
            t.title(false),
        ),
    ])];
    for (r, rv) in rows.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{rv:>14} "), t.title(false))];
        for col in 0..cols.len() {
            let Some(c) = s.cells.get(r * cols.len() + col) else {
                continue;
            };
            let (text, mut style) = mark(c);
            if c.index == app.sweep_cursor {
                style = style.add_modifier(Modifier::REVERSED);
            }
            spans.push(Span::raw(" "));
            spans.push(Span::styled(format!("{text:>9}"), style));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    let done = s.cells.iter().filter(|c| c.state == "finished").count();
    let failed = s.cells.iter().filter(|c| c.state == "failed").count();
    lines.push(Line::from(Span::styled(
        format!(
            "{done}/{} finished, {failed} failed · objective {} ({})",
            s.cells.len(),
            s.objective,
            if s.maximize {
                "higher is better"
            } else {
                "lower is better"
            }
        ),
        t.text(),
    )));
    if let Some(v) = app.sweep_teacher {
        lines.push(Line::from(Span::styled(
            format!("teacher (reference): valid macro-F1 {v:.4}"),
            t.fg("teacher"),
        )));
    }
    if let Some(b) = s.best.and_then(|b| s.cells.get(b)) {
        lines.push(Line::from(Span::styled(
            format!(
                "best: {} {} = {:.4}",
                cell_name(b.index),
                b.label,
                b.objective.unwrap_or(f64::NAN)
            ),
            t.fg("good"),
        )));
    }
    if let Some(c) = s.cells.get(app.sweep_cursor) {
        let extra = c
            .error
            .as_ref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default();
        lines.push(Line::from(Span::styled(
            format!(
                "cursor: {} {} ({}){extra} · Enter opens its run",
                cell_name(c.index),
                c.label,
                c.state
            ),
            t.muted(),
        )));
    }
    let title = format!(
        "Sweep {}",
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    f.render_widget(
        Paragraph::new(lines).block(block(&title, t, app.ascii, true)),
        area,
    );
}
