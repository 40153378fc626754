//! The report as one XHTML-clean page: sections with stable ids (`dataset`, `curves`,
//! `comparison`, `confusion`, `sweep`, `frontier`, `configs`), tables of the runs' own numbers,
//! inline SVG plots, print-friendly CSS, no script.

use super::plots::{self, Line};
use super::{Report, RunData};
use crate::sweep::summary::SweepStatus;
use serde_json::Value;
use std::fmt::Write;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: &Value, path: &str) -> Option<f64> {
    crate::sweep::summary::lookup(v, path)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;text-align:right}\
th{background:#f0f0f0}td.l,th.l{text-align:left}figure{margin:1rem 0}h2{border-bottom:1px solid #ccc}\
.best{font-weight:bold;outline:2px solid #222}pre{background:#f7f7f7;padding:.5rem;overflow-x:auto}\
@media print{section{page-break-inside:avoid}}";

pub fn render(r: &Report, title: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta charset=\"utf-8\"/><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    dataset(&mut h, r);
    curves(&mut h, r);
    comparison(&mut h, r);
    confusion(&mut h, r);
    sweeps(&mut h, r);
    frontier(&mut h, r);
    configs(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn dataset(h: &mut String, r: &Report) {
    h.push_str("<section id=\"dataset\"><h2>Dataset</h2>\n");
    let Some(s) = &r.dataset else {
        h.push_str("<p>No dataset could be read from the runs' configs.</p></section>\n");
        return;
    };
    let _ = write!(
        h,
        "<p>{} — {} contracts, task {:?}, splits {}.</p>\n<table><tr><th class=\"l\">class</th><th>train</th><th>valid</th><th>test</th><th>total</th><th>%</th></tr>\n",
        escape(&s.file),
        s.records,
        s.task,
        s.split_source.as_deref().unwrap_or("–")
    );
    for c in &s.classes {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            escape(&c.class),
            c.splits[0],
            c.splits[1],
            c.splits[2],
            c.total,
            100.0 * c.total as f64 / s.records.max(1) as f64
        );
    }
    h.push_str("</table>\n");
    if let Some(t) = &s.tokens {
        let bins: Vec<(f64, f64)> = t
            .histogram
            .iter()
            .map(|&(lo, hi, n)| ((lo + hi) as f64 / 2.0, n as f64))
            .collect();
        let top = bins.iter().map(|b| b.1).fold(0.0, f64::max);
        let cut = [(t.max_len as f64, 0.0), (t.max_len as f64, top)];
        let svg = plots::lines(
            "Token lengths per contract",
            "tokens per contract (bin centre)",
            "contracts",
            &[
                Line {
                    name: "contracts per length bin",
                    points: &bins,
                },
                Line {
                    name: "max_len (truncation)",
                    points: &cut,
                },
            ],
        );
        let _ = writeln!(
            h,
            "<figure data-series=\"2\">{svg}<figcaption>median {} tokens; {:.0}% of contracts fit in max_len {}; truncation would lose {:.0}% of tokens.</figcaption></figure>",
            t.median,
            t.fit_share * 100.0,
            t.max_len,
            t.truncation_loss * 100.0
        );
    }
    if let Some(d) = &s.duplicates {
        let leaks: usize = s.leakage.iter().map(|p| p.exact + p.near).sum();
        let _ = writeln!(
            h,
            "<p>Duplicates: {} exact groups ({} contracts), {} near groups ({} contracts). Contracts with a duplicate across splits: {leaks}.</p>",
            d.exact_groups, d.exact_records, d.near_groups, d.near_records
        );
    }
    h.push_str("</section>\n");
}

fn curves(h: &mut String, r: &Report) {
    h.push_str("<section id=\"curves\"><h2>Training curves</h2>\n");
    for run in &r.runs {
        let mut lines = vec![Line {
            name: "loss",
            points: &run.loss,
        }];
        if run.terms.len() > 1 {
            for (k, v) in &run.terms {
                lines.push(Line { name: k, points: v });
            }
        }
        let svg = plots::lines(
            &format!("{} ({}) — loss and terms", run.name, run.role),
            "optimizer step",
            "loss (nats)",
            &lines,
        );
        let _ = writeln!(h, "<figure data-series=\"{}\">{svg}</figure>", lines.len());
        if !run.valid_f1.is_empty() {
            let svg = plots::lines(
                &format!("{} — validation macro-F1", run.name),
                "optimizer step",
                "macro-F1",
                &[Line {
                    name: "valid macro-F1",
                    points: &run.valid_f1,
                }],
            );
            let _ = writeln!(h, "<figure data-series=\"1\">{svg}</figure>");
        }
    }
    h.push_str("</section>\n");
}

fn teacher(r: &Report) -> Option<&RunData> {
    r.runs.iter().rev().find(|x| x.role == "teacher")
}

fn comparison(h: &mut String, r: &Report) {
    h.push_str("<section id=\"comparison\"><h2>Teacher vs students (test split)</h2>\n<table><tr><th class=\"l\">run</th><th class=\"l\">role</th><th>parameters</th><th>MB</th><th>ms / contract</th><th>speed-up</th><th>accuracy</th><th>macro-F1</th><th>% of teacher</th></tr>\n");
    let t = teacher(r);
    let t_f1 = t.and_then(|t| num(&t.summary, "test.macro_f1"));
    let t_lat = t.and_then(|t| num(&t.summary, "latency_ms_per_contract"));
    for run in &r.runs {
        let s = &run.summary;
        let params = num(s, "parameters");
        let f1 = num(s, "test.macro_f1");
        let lat = num(s, "latency_ms_per_contract");
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&run.name),
            escape(&run.role),
            params.map_or("–".into(), |p| format!("{:.2} M", p / 1e6)),
            params.map_or("–".into(), |p| format!("{:.1}", p * 4.0 / 1e6)),
            fmt(lat, 2),
            t_lat
                .zip(lat)
                .map_or("–".into(), |(a, b)| format!("{:.1}×", a / b.max(1e-9))),
            fmt(num(s, "test.accuracy"), 4),
            fmt(f1, 4),
            t_f1.zip(f1).map_or("–".into(), |(a, b)| format!(
                "{:.0}",
                100.0 * b / a.max(1e-9)
            )),
        );
    }
    h.push_str("</table>\n<h3>Per-class F1 (test)</h3>\n");
    let classes: Vec<String> = r
        .runs
        .first()
        .and_then(|x| x.summary["classes"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    h.push_str("<table><tr><th class=\"l\">class</th>");
    for run in &r.runs {
        let _ = write!(h, "<th>{}</th>", escape(&run.role));
    }
    h.push_str("</tr>\n");
    for (i, c) in classes.iter().enumerate() {
        let _ = write!(h, "<tr><td class=\"l\">{}</td>", escape(c));
        for run in &r.runs {
            let f = run.summary["test"]["per_class"][i]["f1"].as_f64();
            let _ = write!(h, "<td>{}</td>", fmt(f, 3));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></section>\n");
}

fn confusion(h: &mut String, r: &Report) {
    h.push_str("<section id=\"confusion\"><h2>Confusion matrices (test; rows true, columns predicted)</h2>\n");
    for run in &r.runs {
        let Some(m) = run.summary["test"]["confusion"].as_array() else {
            continue;
        };
        let _ = write!(
            h,
            "<h3>{} ({})</h3><table><tr><th class=\"l\">true \\ predicted</th>",
            escape(&run.name),
            escape(&run.role)
        );
        let classes: Vec<&str> = run.summary["classes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for j in 0..m.len() {
            let _ = write!(h, "<th>{j}</th>");
        }
        h.push_str("</tr>");
        for (i, row) in m.iter().enumerate() {
            let name = classes.get(i).copied().unwrap_or("");
            let _ = write!(h, "<tr><th class=\"l\">{i} {}</th>", escape(name));
            for (j, v) in row.as_array().into_iter().flatten().enumerate() {
                let n = v.as_u64().unwrap_or(0);
                // The diagonal (right answers) in bold.
                if i == j {
                    let _ = write!(h, "<td><b>{n}</b></td>");
                } else {
                    let _ = write!(h, "<td>{n}</td>");
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");
}

/// White (the worst cell) to green (the best).
fn heat(t: f64) -> String {
    let g = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        g(255.0, 46.0),
        g(255.0, 160.0),
        g(255.0, 67.0)
    )
}

fn sweep_table(h: &mut String, s: &SweepStatus) {
    let cell_html = |i: usize| -> String {
        let Some(c) = s.cells.get(i) else {
            return "<td></td>".into();
        };
        let best = if s.best == Some(i) {
            " class=\"best\""
        } else {
            ""
        };
        match (c.state.as_str(), c.objective) {
            ("finished", Some(v)) => format!(
                "<td{best} style=\"background:{}\">{v:.4}</td>",
                heat(s.goodness(v))
            ),
            (state, _) => format!("<td>{state}</td>"),
        }
    };
    match s.axes.as_slice() {
        [a, b] if a.1.len() * b.1.len() == s.cells.len() => {
            let _ = write!(
                h,
                "<table><tr><th class=\"l\">{} \\ {}</th>",
                escape(&a.0),
                escape(&b.0)
            );
            for v in &b.1 {
                let _ = write!(h, "<th>{}</th>", escape(v));
            }
            h.push_str("</tr>\n");
            for (ri, rv) in a.1.iter().enumerate() {
                let _ = write!(h, "<tr><th class=\"l\">{}</th>", escape(rv));
                for ci in 0..b.1.len() {
                    h.push_str(&cell_html(ri * b.1.len() + ci));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
        _ => {
            h.push_str("<table><tr><th class=\"l\">cell</th><th>objective</th></tr>\n");
            for (i, c) in s.cells.iter().enumerate() {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"l\">{}</td>{}</tr>",
                    escape(&c.label),
                    cell_html(i)
                );
            }
            h.push_str("</table>\n");
        }
    }
}

fn sweeps(h: &mut String, r: &Report) {
    h.push_str("<section id=\"sweep\"><h2>Sweeps</h2>\n");
    if r.sweeps.is_empty() {
        h.push_str("<p>No sweep in this report.</p>\n");
    }
    for sw in &r.sweeps {
        let s = &sw.status;
        let _ = writeln!(
            h,
            "<h3>{}</h3><p>Objective {} ({}), chosen on validation only.</p>",
            escape(&sw.path.display().to_string()),
            escape(&s.objective),
            if s.maximize {
                "higher is better"
            } else {
                "lower is better"
            }
        );
        sweep_table(h, s);
        if let Some(best) = sw
            .summary
            .as_ref()
            .map(|v| &v["best"])
            .filter(|b| !b.is_null())
        {
            let _ = writeln!(
                h,
                "<p class=\"best-cell\">Best cell: {} — validation {}, <strong>test macro-F1 {}</strong>, test accuracy {} (the only cell scored on test).</p>",
                escape(best["label"].as_str().unwrap_or("")),
                fmt(best["objective"].as_f64(), 4),
                fmt(num(best, "test.macro_f1"), 4),
                fmt(num(best, "test.accuracy"), 4),
            );
        }
    }
    h.push_str("</section>\n");
}

fn frontier(h: &mut String, r: &Report) {
    h.push_str("<section id=\"frontier\"><h2>Efficiency frontier</h2>\n");
    let by = |path: &str, scale: f64| -> Vec<(String, f64, f64)> {
        r.runs
            .iter()
            .filter_map(|run| {
                Some((
                    run.role.clone(),
                    num(&run.summary, path)? * scale,
                    num(&run.summary, "test.macro_f1")?,
                ))
            })
            .collect()
    };
    let size = by("parameters", 4.0 / 1e6);
    let latency = by("latency_ms_per_contract", 1.0);
    if size.is_empty() {
        h.push_str("<p>No finished runs with test scores.</p>\n");
    } else {
        let svg = plots::frontier(
            "Macro-F1 against size",
            "model size (MB, f32)",
            "test macro-F1",
            &size,
        );
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    if !latency.is_empty() {
        let svg = plots::frontier(
            "Macro-F1 against latency",
            "CPU latency (ms per contract)",
            "test macro-F1",
            &latency,
        );
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    h.push_str("</section>\n");
}

fn configs(h: &mut String, r: &Report) {
    h.push_str("<section id=\"configs\"><h2>Exact configs</h2>\n");
    for run in &r.runs {
        let _ = writeln!(
            h,
            "<details><summary>{} ({})</summary><pre>{}</pre></details>",
            escape(&run.name),
            escape(&run.role),
            escape(&run.config)
        );
    }
    for sw in &r.sweeps {
        let _ = writeln!(
            h,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            escape(&sw.path.display().to_string()),
            escape(&sw.config)
        );
    }
    h.push_str("</section>\n");
}
