//! The dataset pane: classes per split, token lengths against `max_len` (and what truncation
//! loses), duplicates and leakage; the contract list (filters: `/` text, `c` class, `s` split)
//! and the selected contract, highlighted.

use super::super::app::App;
use super::super::dataset::Loaded;
use super::block;
use super::solidity::highlight;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, Paragraph};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let d = &app.dataset;
    let Some(loaded) = &d.loaded else {
        let text = match (&d.error, d.loading.is_some()) {
            (Some(e), _) => format!("cannot load the dataset: {e}"),
            (None, true) => "loading the dataset (reading, cleaning, duplicate search)…".into(),
            (None, false) => "No dataset: alambic tui --config FILE".into(),
        };
        f.render_widget(
            Paragraph::new(text).block(block("Dataset", t, app.ascii, true)),
            area,
        );
        return;
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(5)]).areas(area);
    let [classes, tokens] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);
    draw_classes(f, classes, app, loaded);
    draw_tokens(f, tokens, app, loaded);
    let [list, viewer] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(bottom);
    draw_list(f, list, app);
    draw_viewer(f, viewer, app);
}

fn bar(n: usize, max: usize, width: usize, ascii: bool) -> String {
    let w = if max == 0 {
        0
    } else {
        (n * width).div_ceil(max)
    };
    (if ascii { "#" } else { "█" }).repeat(w.min(width))
}

fn draw_classes(f: &mut Frame, area: Rect, app: &App, l: &Loaded) {
    let t = &app.theme;
    let s = &l.stats;
    let max = s.classes.iter().map(|c| c.total).max().unwrap_or(0);
    let total = s.records.max(1);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<18} {:>5} {:>5} {:>5} {:>6}",
            "class", "train", "valid", "test", "%"
        ),
        t.title(false),
    ))];
    for c in &s.classes {
        let name: String = c.class.chars().take(18).collect();
        lines.push(Line::from(vec![
            Span::styled(format!("{name:<18} "), t.text()),
            Span::styled(
                format!("{:>5} {:>5} {:>5} ", c.splits[0], c.splits[1], c.splits[2]),
                t.text(),
            ),
            Span::styled(
                format!("{:>5.1}% ", 100.0 * c.total as f64 / total as f64),
                t.muted(),
            ),
            Span::styled(bar(c.total, max, 12, app.ascii), t.series(1)),
        ]));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "{} contracts · splits {} · task {:?}",
            s.records,
            s.split_source.as_deref().unwrap_or("-"),
            s.task
        ),
        t.muted(),
    )));
    f.render_widget(
        Paragraph::new(lines).block(block("Classes per split", t, app.ascii, true)),
        area,
    );
}

fn draw_tokens(f: &mut Frame, area: Rect, app: &App, l: &Loaded) {
    let t = &app.theme;
    let s = &l.stats;
    let mut lines = Vec::new();
    match &s.tokens {
        Some(tok) => {
            let max = tok.histogram.iter().map(|h| h.2).max().unwrap_or(0);
            for &(lo, hi, n) in &tok.histogram {
                // The bin holding max_len carries the line that truncation cuts at.
                let cut = lo <= tok.max_len && tok.max_len < hi;
                let marker = if cut { "◀ max_len" } else { "" };
                let marker = if app.ascii && cut {
                    "< max_len"
                } else {
                    marker
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{:>13} ", crate::data::stats::bin_label(lo, hi)),
                        t.muted(),
                    ),
                    Span::styled(format!("{:<14}", bar(n, max, 14, app.ascii)), t.series(0)),
                    Span::styled(
                        format!("{n:>5} {marker}"),
                        if cut { t.fg("warning") } else { t.text() },
                    ),
                ]));
            }
            lines.push(Line::from(Span::styled(
                format!(
                    "median {} tokens · {:.0}% fit in {} · truncation would lose {:.0}% of tokens",
                    tok.median,
                    tok.fit_share * 100.0,
                    tok.max_len,
                    tok.truncation_loss * 100.0
                ),
                t.text(),
            )));
        }
        None => lines.push(Line::from(Span::styled(
            "token lengths need a tokenizer named in the config",
            t.muted(),
        ))),
    }
    if let Some(dup) = &s.duplicates {
        lines.push(Line::from(Span::styled(
            format!(
                "duplicates: exact {} groups ({} contracts), near {} groups ({})",
                dup.exact_groups, dup.exact_records, dup.near_groups, dup.near_records
            ),
            t.text(),
        )));
    }
    let leaks: usize = s.leakage.iter().map(|p| p.exact + p.near).sum();
    lines.push(Line::from(Span::styled(
        format!("leakage between splits: {leaks} contracts"),
        if leaks > 0 {
            t.fg("warning")
        } else {
            t.fg("good")
        },
    )));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block("Token lengths", t, app.ascii, false)),
        area,
    );
}

fn draw_list(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let d = &app.dataset;
    let visible = d.visible();
    let Some(l) = &d.loaded else { return };
    let rows = area.height.saturating_sub(3) as usize;
    let start = d.selected.saturating_sub(rows.saturating_sub(1));
    let items: Vec<ListItem> = visible
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, &ci)| {
            let c = &l.contracts[ci];
            let id: String = c.id.chars().take(16).collect();
            let label: String = c.label.chars().take(12).collect();
            let item = ListItem::new(Line::from(vec![
                Span::styled(format!("{id:<16} "), t.text()),
                Span::styled(format!("{:<5} ", c.split), t.muted()),
                Span::styled(label, t.fg("valid")),
            ]));
            if i == d.selected {
                item.style(t.selected())
            } else {
                item
            }
        })
        .collect();
    let filters = format!(
        "{} shown · /{}{} · c {} · s {}",
        visible.len(),
        d.filter,
        match (d.filtering, app.ascii) {
            (false, _) => "",
            (true, true) => "_",
            (true, false) => "▏",
        },
        d.class.as_deref().unwrap_or("all"),
        d.split.as_deref().unwrap_or("all")
    );
    let title = format!("Contracts ({filters})");
    f.render_widget(
        List::new(items).block(block(&title, t, app.ascii, true)),
        area,
    );
}

fn draw_viewer(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(c) = app.dataset.current() else {
        f.render_widget(
            Paragraph::new("no contract matches").block(block("Contract", t, app.ascii, false)),
            area,
        );
        return;
    };
    let rows = area.height.saturating_sub(2) as usize;
    let skip = app.dataset.viewer_scroll;
    let mut lines = highlight(&c.code, t, skip, rows);
    let labels = if c.labels.is_empty() {
        "safe".to_string()
    } else {
        c.labels.join(", ")
    };
    let ev = &app.dataset.evidence;
    let mut title = format!("{} · {} · {}", c.id, c.split, labels);
    if let Some(run) = &ev.run {
        // `20261202-170621-teacher-c3cf57` → `teacher-c3cf57`: the title is narrow.
        let folder = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = folder.splitn(3, '-').nth(2).unwrap_or(&folder).to_string();
        match ev.get(&c.id) {
            None => title.push_str(&format!(" · {name}: explaining…")),
            Some(Err(e)) => title.push_str(&format!(" · {name}: {e}")),
            Some(Ok(e)) => {
                title.push_str(&format!(
                    " · {name}: {} {:.2}{}",
                    e.verdict,
                    e.probability,
                    hot_line_note(e, ev.hot)
                ));
                gutter(&mut lines, e, skip, t, app.ascii);
            }
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(block(&title, t, app.ascii, false)),
        area,
    );
}

/// Shades beside each line by its share of the contract's best line score (marks in
/// `--ascii`); lines that speak against the verdict stay blank.
fn gutter(
    lines: &mut [Line<'static>],
    e: &super::super::evidence::LineEvidence,
    skip: usize,
    t: &super::super::theme::Theme,
    ascii: bool,
) {
    let best = e
        .scores
        .iter()
        .copied()
        .fold(0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let marks: [&str; 5] = if ascii {
        ["  ", ". ", ": ", "+ ", "# "]
    } else {
        ["  ", "░ ", "▒ ", "▓ ", "█ "]
    };
    for (i, line) in lines.iter_mut().enumerate() {
        let share = e
            .scores
            .get(skip + i)
            .map_or(0.0, |s| (s / best).clamp(0.0, 1.0));
        let level = (share * 4.0).round() as usize;
        let style = if level > 0 {
            t.fg("warning")
        } else {
            t.muted()
        };
        line.spans
            .insert(0, Span::styled(marks[level.min(4)], style));
    }
}

fn hot_line_note(e: &super::super::evidence::LineEvidence, hot: Option<usize>) -> String {
    match (hot, e.ranked.first()) {
        (Some(r), _) => format!(
            " · hot #{} line {}",
            r + 1,
            e.ranked.get(r).copied().unwrap_or(0)
        ),
        (None, Some(l)) => format!(" · hottest line {l} (n)"),
        (None, None) => String::new(),
    }
}
