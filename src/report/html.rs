//! The report as one XHTML-clean page: sections with stable ids (`dataset`, `curves`,
//! `comparison`, `confusion`, `sweep`, `frontier`, `configs`), inline SVG plots,
//! print-friendly CSS, no script.

use super::Report;
use super::page::{self, Block, Cell, Figure, Table};
use std::fmt::Write;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;text-align:right}\
th{background:#f0f0f0}td.l,th.l{text-align:left}figure{margin:1rem 0}h2{border-bottom:1px solid #ccc}\
.best{font-weight:bold;outline:2px solid #222}pre{background:#f7f7f7;padding:.5rem;overflow-x:auto}\
@media print{section{page-break-inside:avoid}}";

pub fn render(r: &Report, title: &str) -> String {
    let p = page::build(r, title);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta charset=\"utf-8\"/><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&p.title),
        escape(&p.title)
    );
    for s in &p.sections {
        let _ = writeln!(h, "<section id=\"{}\"><h2>{}</h2>", s.id, escape(&s.title));
        for b in &s.blocks {
            block(&mut h, b);
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body></html>\n");
    h
}

fn block(h: &mut String, b: &Block) {
    match b {
        Block::Heading(t) => {
            let _ = writeln!(h, "<h3>{}</h3>", escape(t));
        }
        Block::Text(t) => {
            let _ = writeln!(h, "<p>{}</p>", escape(t));
        }
        Block::Highlight(t) => {
            let _ = writeln!(
                h,
                "<p class=\"best-cell\"><strong>{}</strong></p>",
                escape(t)
            );
        }
        Block::Table(t) => table(h, t),
        Block::Figure(f) => figure(h, f),
        Block::Details { summary, text } => {
            let _ = writeln!(
                h,
                "<details><summary>{}</summary><pre>{}</pre></details>",
                escape(summary),
                escape(text)
            );
        }
    }
}

fn cell(h: &mut String, tag: &str, c: &Cell) {
    let mut attrs = String::new();
    if c.best {
        attrs.push_str(" class=\"best\"");
    } else if c.left {
        attrs.push_str(" class=\"l\"");
    }
    if let Some(fill) = &c.fill {
        let _ = write!(attrs, " style=\"background:{fill}\"");
    }
    let text = escape(&c.text);
    if c.bold {
        let _ = write!(h, "<{tag}{attrs}><b>{text}</b></{tag}>");
    } else {
        let _ = write!(h, "<{tag}{attrs}>{text}</{tag}>");
    }
}

fn table(h: &mut String, t: &Table) {
    h.push_str("<table><tr>");
    for c in &t.header {
        cell(h, "th", c);
    }
    h.push_str("</tr>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for c in row {
            cell(h, if c.head { "th" } else { "td" }, c);
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn figure(h: &mut String, f: &Figure) {
    match f.series {
        Some(n) => {
            let _ = write!(h, "<figure data-series=\"{n}\">");
        }
        None => h.push_str("<figure>"),
    }
    h.push_str(&f.svg);
    if let Some(c) = &f.caption {
        let _ = write!(h, "<figcaption>{}</figcaption>", escape(c));
    }
    h.push_str("</figure>\n");
}
