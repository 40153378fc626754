//! A line plot that draws with one glyph per column and series: `•` normally, `*` in ASCII
//! mode (braille and box glyphs break on many SSH terminals). Each column shows the mean of the
//! points that fall in it, so any history length draws in constant time per column.

use super::super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

pub struct PlotSeries<'a> {
    pub name: String,
    pub points: &'a [(f64, f64)],
    pub style: Style,
}

pub struct Plot<'a> {
    pub series: Vec<PlotSeries<'a>>,
    pub ascii: bool,
    pub theme: &'a Theme,
    /// Fixed y range (metrics in 0..1), else the data's.
    pub y_range: Option<(f64, f64)>,
}

fn label(v: f64) -> String {
    if v.abs() >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

impl Plot<'_> {
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let all = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if let Some((lo, hi)) = self.y_range {
            (y0, y1) = (lo, hi);
        }
        if area.height < 3 || area.width < 12 {
            return;
        }
        if x0 > x1 {
            buf.set_string(area.x, area.y, "no data yet", self.theme.muted());
            return;
        }
        if (y1 - y0).abs() < 1e-12 {
            y1 = y0 + 1.0;
        }
        let legend_rows = 1u16;
        let gutter = 7u16;
        let plot = Rect {
            x: area.x + gutter,
            y: area.y + legend_rows,
            width: area.width - gutter,
            height: area.height - legend_rows - 1,
        };
        let muted = self.theme.muted();
        buf.set_string(area.x, plot.y, format!("{:>6}", label(y1)), muted);
        buf.set_string(
            area.x,
            plot.y + plot.height.saturating_sub(1),
            format!("{:>6}", label(y0)),
            muted,
        );
        let axis = if self.ascii { "|" } else { "│" };
        for row in 0..plot.height {
            buf.set_string(area.x + gutter - 1, plot.y + row, axis, muted);
        }
        let bottom = area.y + area.height - 1;
        // x is a step count.
        buf.set_string(plot.x, bottom, format!("{x0:.0}"), muted);
        let last = format!("{x1:.0}");
        let right = (plot.x + plot.width).saturating_sub(last.len() as u16);
        buf.set_string(right, bottom, &last, muted);
        let glyphs: [&str; 4] = if self.ascii {
            ["*", "+", "o", "x"]
        } else {
            ["•", "+", "o", "x"]
        };
        let (w, h) = (plot.width as f64, plot.height as f64);
        let mut legend_x = area.x;
        for (i, s) in self.series.iter().enumerate() {
            let glyph = glyphs[i % glyphs.len()];
            let tag = format!("{glyph} {}  ", s.name);
            if legend_x + (tag.chars().count() as u16) < area.x + area.width {
                buf.set_string(legend_x, area.y, &tag, s.style);
                legend_x += tag.chars().count() as u16;
            }
            let mut sums = vec![(0.0, 0usize); plot.width as usize];
            for &(x, y) in s.points {
                let col = if x1 > x0 {
                    ((x - x0) / (x1 - x0) * (w - 1.0)).round() as usize
                } else {
                    0
                };
                if let Some(slot) = sums.get_mut(col) {
                    slot.0 += y;
                    slot.1 += 1;
                }
            }
            for (col, (sum, n)) in sums.into_iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let y = (sum / n as f64).clamp(y0, y1);
                let row = ((y1 - y) / (y1 - y0) * (h - 1.0)).round() as u16;
                buf.set_string(plot.x + col as u16, plot.y + row, glyph, s.style);
            }
        }
    }
}
