//! The `?` overlay: every key, from the keymap's own table.

use super::super::app::App;
use super::super::keymap::BINDINGS;
use super::block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let width = 64.min(area.width);
    let height = (BINDINGS.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>11}  "), t.title(true)),
                Span::styled(*what, t.text()),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        "  alpha weighs the teacher: alpha·KL·T² + (1 − alpha)·CE",
        t.muted(),
    )));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(block("Keys", t, app.ascii, true)),
        r,
    );
}
