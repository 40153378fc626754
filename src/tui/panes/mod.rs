//! The panes: pure functions of `App` drawing into a frame. `draw` lays out the tab bar, the
//! current pane, the status line and the help overlay.

pub mod compare;
pub mod compare_detail;
pub mod dataset;
pub mod help;
pub mod plot;
pub mod solidity;
pub mod sweep;
pub mod training;

use super::app::{App, Pane};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Borders drawn with `+ - |` only: box-drawing glyphs break on some SSH terminals and fonts.
pub const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

pub fn block<'a>(title: &'a str, theme: &Theme, ascii: bool, focused: bool) -> Block<'a> {
    let b = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(focused))
        .title(Span::styled(format!(" {title} "), theme.title(focused)));
    if ascii { b.border_set(ASCII_BORDER) } else { b }
}

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(f, tabs, app);
    match app.pane {
        Pane::Dataset => dataset::draw(f, body, app),
        Pane::Training => training::draw(f, body, app),
        Pane::Compare => compare::draw(f, body, app),
        Pane::Sweep => sweep::draw(f, body, app),
    }
    draw_status(f, status, app);
    if app.help {
        help::draw(f, body, app);
    }
    if app.ascii {
        asciify(f.buffer_mut());
    }
}

/// `--ascii`: whatever a pane drew (a `·`, a bar, a glyph inside a contract's text) leaves as
/// plain ASCII, so the promise holds for every screen rather than pane by pane.
pub fn asciify(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let plain = match sym {
            "·" | "—" | "–" | "−" | "─" | "━" => "-",
            "…" => ".",
            "◀" => "<",
            "▶" => ">",
            "█" | "▇" | "▆" | "▅" | "▄" => "#",
            "░" => ".",
            "•" => "*",
            "│" | "┃" => "|",
            "▏" => "_",
            "²" => "2",
            "≤" => "<",
            "≥" => ">",
            "×" => "x",
            "↑" => "^",
            "↓" => "v",
            "←" => "<",
            "→" => ">",
            _ => "?",
        };
        cell.set_symbol(plain);
    }
}

fn draw_tabs(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" alambic ", t.title(true))];
    for p in Pane::ALL {
        let style = if p == app.pane {
            t.selected().add_modifier(Modifier::BOLD)
        } else {
            t.muted()
        };
        spans.push(Span::styled(format!(" {} ", p.title()), style));
    }
    spans.push(Span::styled("  ? help  q quit", t.muted()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(f: &mut Frame, area: Rect, app: &App) {
    let text = match &app.message {
        Some(m) => m.clone(),
        None => format!(
            "{} runs followed{}",
            app.runs.len(),
            app.config
                .as_ref()
                .map(|c| format!("  ·  config {}", c.display()))
                .unwrap_or_default()
        ),
    };
    f.render_widget(Paragraph::new(Span::styled(text, app.theme.muted())), area);
}

/// `12.3k`, `1.2M`: compact counts for narrow columns.
pub fn compact(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// `3m 20s`, `1h 05m`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
