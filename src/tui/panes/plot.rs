//! A line plot in terminal cells: each column holds the mean of the points that fall in it, and
//! consecutive columns are joined by a vertical run, so a curve reads as a line whatever its
//! length (hundreds of steps were a cloud of dots). Glyphs are plain (`•` and `│`; `*` and `|`
//! in ASCII mode): braille and box glyphs break on many SSH terminals. With smoothing on, the
//! raw curve is drawn dimmed and its exponential moving average over it, as TensorBoard does.

use super::super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

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
    /// EMA weight in [0, 1): 0 draws the raw curves only.
    pub smoothing: f64,
}

/// TensorBoard's smoothing: an exponential moving average, debiased so the first points are
/// not pulled towards 0 (`ema_n / (1 − w^n)`).
pub fn ema(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let mut last = 0.0;
    let mut debias = 1.0;
    points
        .iter()
        .map(|&(x, y)| {
            last = last * weight + (1.0 - weight) * y;
            debias *= weight;
            (x, last / (1.0 - debias).max(1e-12))
        })
        .collect()
}

/// A y-axis label that shows the value's own precision ("0.0020", not "0.001" or "1.00").
pub fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    plot: Rect,
}

impl Frame {
    /// Mean y of the points in each column.
    fn columns(&self, points: &[(f64, f64)]) -> Vec<Option<f64>> {
        let w = self.plot.width as f64;
        let mut sums = vec![(0.0, 0usize); self.plot.width as usize];
        for &(x, y) in points {
            let col = if self.x1 > self.x0 {
                ((x - self.x0) / (self.x1 - self.x0) * (w - 1.0)).round() as usize
            } else {
                0
            };
            if let Some(slot) = sums.get_mut(col) {
                slot.0 += y;
                slot.1 += 1;
            }
        }
        sums.into_iter()
            .map(|(s, n)| (n > 0).then(|| s / n as f64))
            .collect()
    }

    fn row(&self, y: f64) -> u16 {
        let h = self.plot.height as f64;
        let y = y.clamp(self.y0, self.y1);
        ((self.y1 - y) / (self.y1 - self.y0) * (h - 1.0)).round() as u16
    }

    /// Draws the curve through the columns' means: each column's point, joined to the
    /// previous column that has one by a vertical run (interpolated over empty columns).
    fn line(&self, buf: &mut Buffer, cols: &[Option<f64>], point: &str, run: &str, style: Style) {
        let mut prev: Option<(usize, u16)> = None;
        for (col, y) in cols.iter().enumerate() {
            let Some(y) = y else { continue };
            let row = self.row(*y);
            let Some((pc, pr)) = prev else {
                self.put(buf, col, row, point, style);
                prev = Some((col, row));
                continue;
            };
            // Row of the straight line from (pc, pr) to (col, row) at column c.
            let at = |c: usize| {
                let t = (c - pc) as f64 / (col - pc) as f64;
                (pr as f64 + (row as f64 - pr as f64) * t).round() as u16
            };
            for c in pc + 1..=col {
                let (before, here) = (at(c - 1), at(c));
                // Strictly between the two rows: the endpoints are points.
                for r in before.min(here) + 1..before.max(here) {
                    self.put(buf, c, r, run, style);
                }
                self.put(buf, c, here, point, style);
            }
            prev = Some((col, row));
        }
    }

    fn points(&self, buf: &mut Buffer, cols: &[Option<f64>], glyph: &str, style: Style) {
        for (col, y) in cols.iter().enumerate() {
            if let Some(y) = y {
                self.put(buf, col, self.row(*y), glyph, style);
            }
        }
    }

    fn put(&self, buf: &mut Buffer, col: usize, row: u16, glyph: &str, style: Style) {
        if col < self.plot.width as usize && row < self.plot.height {
            buf.set_string(self.plot.x + col as u16, self.plot.y + row, glyph, style);
        }
    }
}

impl Plot<'_> {
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in self.series.iter().flat_map(|s| s.points.iter()) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if let Some((lo, hi)) = self.y_range {
            (y0, y1) = (lo, hi);
        }
        (x0, x1, y0, y1)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        if area.height < 3 || area.width < 12 {
            return;
        }
        let (x0, x1, mut y0, mut y1) = self.bounds();
        if x0 > x1 {
            buf.set_string(area.x, area.y, "no data yet", self.theme.muted());
            return;
        }
        if (y1 - y0).abs() < 1e-12 {
            // A flat curve (a constant learning rate): a range around its value, not [v, v + 1],
            // which labelled an lr of 0.001 with "1.00".
            let pad = if y0 == 0.0 { 1.0 } else { y0.abs() * 0.5 };
            (y0, y1) = (y0 - pad, y1 + pad);
        }
        let gutter = 8u16;
        let frame = Frame {
            x0,
            x1,
            y0,
            y1,
            plot: Rect {
                x: area.x + gutter,
                y: area.y + 1,
                width: area.width - gutter,
                height: area.height - 2,
            },
        };
        self.axes(&frame, area, buf);
        let glyphs: [&str; 4] = if self.ascii {
            ["*", "+", "o", "x"]
        } else {
            ["•", "+", "o", "x"]
        };
        let run = if self.ascii { "|" } else { "│" };
        let mut legend_x = area.x;
        for (i, s) in self.series.iter().enumerate() {
            let glyph = glyphs[i % glyphs.len()];
            let tag = format!("{glyph} {}  ", s.name);
            if legend_x + (tag.chars().count() as u16) < area.x + area.width {
                buf.set_string(legend_x, area.y, &tag, s.style);
                legend_x += tag.chars().count() as u16;
            }
            let raw = frame.columns(s.points);
            if self.smoothing > 0.0 {
                // The raw curve as faint points only: its vertical runs would bury the line.
                let dim = s.style.add_modifier(Modifier::DIM);
                frame.points(buf, &raw, if self.ascii { "." } else { "·" }, dim);
                let smooth = frame.columns(&ema(s.points, self.smoothing));
                frame.line(
                    buf,
                    &smooth,
                    glyph,
                    run,
                    s.style.add_modifier(Modifier::BOLD),
                );
            } else {
                frame.line(buf, &raw, glyph, run, s.style);
            }
        }
    }

    fn axes(&self, frame: &Frame, area: Rect, buf: &mut Buffer) {
        let muted = self.theme.muted();
        let plot = frame.plot;
        let gutter = plot.x - area.x;
        buf.set_string(area.x, plot.y, format!("{:>7}", label(frame.y1)), muted);
        buf.set_string(
            area.x,
            plot.y + plot.height.saturating_sub(1),
            format!("{:>7}", label(frame.y0)),
            muted,
        );
        let axis = if self.ascii { "|" } else { "│" };
        for row in 0..plot.height {
            buf.set_string(area.x + gutter - 1, plot.y + row, axis, muted);
        }
        let bottom = area.y + area.height - 1;
        // x is a step count.
        buf.set_string(plot.x, bottom, format!("{:.0}", frame.x0), muted);
        let last = format!("{:.0}", frame.x1);
        let right = (plot.x + plot.width).saturating_sub(last.len() as u16);
        buf.set_string(right, bottom, &last, muted);
    }
}
