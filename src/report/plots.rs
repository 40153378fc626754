//! SVG plots for the report (plotters' SVG backend): training curves and the efficiency
//! frontier. Every plot has axis labels with units and a legend, so it reads on paper too.

use plotters::prelude::*;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub struct Line<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
}

fn bounds(lines: &[Line]) -> (f64, f64, f64, f64) {
    let pts = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    // A single value sits in the middle of its axis, not on the frame.
    if x1 - x0 < 1e-9 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    if y1 - y0 < 1e-9 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    (x0, x1, y0, y1)
}

/// Line series against the step; one `<path>` per series.
pub fn lines(title: &str, x_label: &str, y_label: &str, lines: &[Line]) -> String {
    draw_lines(title, x_label, y_label, lines, None)
}

/// Scores in [0, 1] (F1, accuracy) on the whole scale: a single evaluation or a flat curve
/// is not stretched into a range no score can take.
pub fn scores(title: &str, x_label: &str, y_label: &str, lines: &[Line]) -> String {
    draw_lines(title, x_label, y_label, lines, Some((0.0, 1.0)))
}

fn draw_lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    y_range: Option<(f64, f64)>,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let (x0, x1, mut y0, mut y1) = bounds(lines);
        if let Some(r) = y_range {
            (y0, y1) = r;
        }
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1);
        let Ok(mut chart) = chart else {
            return svg_error(title);
        };
        let _ = chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw();
        for (i, l) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            // Marks as well as the line: a series of one point (one evaluation) still shows.
            let _ = chart.draw_series(l.points.iter().map(|&p| Circle::new(p, 3, color.filled())));
            if let Ok(series) = chart.draw_series(LineSeries::new(
                l.points.iter().copied(),
                color.stroke_width(2),
            )) {
                series.label(l.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw();
        let _ = root.present();
    }
    svg
}

/// Named points with their Pareto frontier (higher y and lower x are better) drawn as a line.
pub fn frontier(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(String, f64, f64)],
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let all: Vec<(f64, f64)> = points.iter().map(|p| (p.1, p.2)).collect();
        let (x0, x1, y0, y1) = bounds(&[Line {
            name: "",
            points: &all,
        }]);
        let pad_x = (x1 - x0) * 0.15;
        let pad_y = (y1 - y0) * 0.15;
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(
                (x0 - pad_x).max(0.0)..x1 + pad_x,
                (y0 - pad_y).max(0.0)..(y1 + pad_y).min(1.0),
            );
        let Ok(mut chart) = chart else {
            return svg_error(title);
        };
        let _ = chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw();
        let pareto = pareto(points);
        let mut front: Vec<(f64, f64)> =
            pareto.iter().map(|&i| (points[i].1, points[i].2)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let _ = chart.draw_series(LineSeries::new(front, PALETTE[3].stroke_width(1)));
        let mut placed: Vec<(i32, i32, i32)> = Vec::new();
        for (i, (name, x, y)) in points.iter().enumerate() {
            let on = pareto.contains(&i);
            let color = if on { PALETTE[3] } else { PALETTE[0] };
            let _ = chart.draw_series(std::iter::once(Circle::new((*x, *y), 5, color.filled())));
            let (px, py) = chart.backend_coord(&(*x, *y));
            // Said in words too, so the frontier survives a black-and-white print.
            let label = if on {
                format!("{name} (Pareto)")
            } else {
                name.clone()
            };
            let (lx, ly) = place_label(&mut placed, &label, px + 8, py - 6);
            let _ = root.draw(&Text::new(label, (lx, ly), ("sans-serif", 12)));
        }
        let _ = root.present();
    }
    svg
}

/// Label height and a generous width per character at 12 px sans-serif.
const LABEL_H: i32 = 14;
const CHAR_W: i32 = 7;

/// Where a label goes: at the point's right, moved down a line at a time until it overlaps no
/// label already placed (runs of the same size share an x, and a teacher's two runs often share
/// both coordinates). Records the label's box `(x, y, width)`.
fn place_label(placed: &mut Vec<(i32, i32, i32)>, text: &str, x: i32, mut y: i32) -> (i32, i32) {
    let w = CHAR_W * text.chars().count() as i32;
    let overlaps = |y: i32, placed: &[(i32, i32, i32)]| {
        placed
            .iter()
            .any(|&(px, py, pw)| x < px + pw && px < x + w && y < py + LABEL_H && py < y + LABEL_H)
    };
    while overlaps(y, placed) {
        y += LABEL_H;
    }
    placed.push((x, y, w));
    (x, y)
}

/// Indices of the points no other point beats on both axes (smaller x, larger y).
pub fn pareto(points: &[(String, f64, f64)]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            !points.iter().enumerate().any(|(j, q)| {
                j != i
                    && q.1 <= points[i].1
                    && q.2 >= points[i].2
                    && (q.1 < points[i].1 || q.2 > points[i].2)
            })
        })
        .collect()
}

fn svg_error(title: &str) -> String {
    format!("<p>could not draw {title}</p>")
}
