//! The report as Markdown (GitHub-flavoured tables, `<details>` for configs) with every plot
//! written as an SVG file in a folder beside it (`report.md` → `report_files/`), for a wiki,
//! a repository or an e-mail.

use super::Report;
use super::page::{self, Block, Cell, Table};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The page's Markdown and its figures as (file name, SVG) to write into `files_dir`, which the
/// links name relative to the Markdown file.
pub struct Markdown {
    pub text: String,
    pub files: Vec<(String, String)>,
}

/// `report.md` → `report_files`.
pub fn files_dir(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    out.with_file_name(format!("{stem}_files"))
}

pub fn render(r: &Report, title: &str, files_dir_name: &str) -> Markdown {
    let p = page::build(r, title);
    let mut md = format!("# {}\n\n", p.title);
    let mut files = Vec::new();
    for s in &p.sections {
        let _ = writeln!(md, "## {}\n", s.title);
        for b in &s.blocks {
            match b {
                Block::Heading(t) => {
                    let _ = writeln!(md, "### {}\n", inline(t));
                }
                Block::Text(t) => {
                    let _ = writeln!(md, "{}\n", inline(t));
                }
                Block::Highlight(t) => {
                    let _ = writeln!(md, "**{}**\n", inline(t));
                }
                Block::Table(t) => table(&mut md, t),
                Block::Figure(f) => {
                    let file = format!("{}.svg", f.name);
                    let alt = f.caption.as_deref().unwrap_or(&f.name);
                    let _ = writeln!(md, "![{}]({files_dir_name}/{file})\n", inline(alt));
                    if let Some(c) = &f.caption {
                        let _ = writeln!(md, "*{}*\n", inline(c));
                    }
                    files.push((file, f.svg.clone()));
                }
                Block::Details { summary, text } => {
                    let _ = writeln!(
                        md,
                        "<details><summary>{}</summary>\n\n```toml\n{}\n```\n\n</details>\n",
                        super::html::escape(summary),
                        text.trim_end()
                    );
                }
            }
        }
    }
    Markdown { text: md, files }
}

/// Characters Markdown would read as markup, escaped (run names hold `_`, configs `*`).
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(
            ch,
            '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn cell(c: &Cell) -> String {
    let t = inline(&c.text);
    if !t.is_empty() && (c.bold || c.best || c.head) {
        format!("**{t}**")
    } else {
        t
    }
}

fn table(md: &mut String, t: &Table) {
    let row = |cells: &[Cell]| -> String {
        let inner: Vec<String> = cells.iter().map(cell).collect();
        format!("| {} |\n", inner.join(" | "))
    };
    md.push_str(&row(&t.header));
    let rule: Vec<&str> = t
        .header
        .iter()
        .map(|c| if c.left { ":---" } else { "---:" })
        .collect();
    let _ = writeln!(md, "| {} |", rule.join(" | "));
    for r in &t.rows {
        md.push_str(&row(r));
    }
    md.push('\n');
}
