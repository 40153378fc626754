//! The report's evidence section: where the teacher and each student look on a few test
//! contracts, how well their top lines find known bug lines, and how far each student's line
//! scores agree with its teacher's.

use super::Report;
use super::page::{Block, Cell, Section, Table, heat, short_name};
use crate::explain::Method;
use crate::explain::evidence::{ContractEvidence, Evidence, evidence_agreement, run_evidence};
use crate::explain::localise::HitTally;

/// Example contracts shown line by line.
const EXAMPLES: usize = 3;
/// Lines of each model shown per example.
const EXAMPLE_LINES: usize = 3;

impl Report {
    /// Computes (or reads, when kept) each classification run's evidence on its first `limit`
    /// test contracts. A run that cannot be explained here (its checkpoints pruned, its
    /// dataset elsewhere) gets a note instead.
    pub fn attach_evidence(&mut self, method: Method, steps: usize, limit: usize) {
        self.evidence = self
            .runs
            .iter()
            .map(|run| match run_evidence(&run.path, method, steps, limit) {
                Ok(e) => Some(e),
                Err(e) => {
                    self.evidence_notes
                        .push(format!("{}: no evidence ({e})", run.name));
                    None
                }
            })
            .collect();
    }
}

pub fn section(r: &Report) -> Section {
    let mut blocks = Vec::new();
    let present: Vec<(usize, &Evidence)> = r
        .evidence
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
        .collect();
    if let Some((_, e)) = present.first() {
        blocks.push(Block::Text(format!(
            "Line scores by {} ({}) on each run's first {} test contracts: a line's score is \
             its share of the verdict's margin over the other classes. Agreement: the share of \
             the teacher's top-5 lines among the student's, and the Spearman correlation of \
             their line scores, averaged over contracts.",
            e.method,
            match e.method {
                Method::Ig => format!("integrated gradients, {} steps", e.steps),
                Method::Grad => "gradient × input".into(),
                Method::Windows => "window logits".into(),
            },
            e.limit
        )));
        blocks.push(Block::Table(summary_table(r, &present)));
        examples(r, &present, &mut blocks);
    }
    for note in &r.evidence_notes {
        blocks.push(Block::Text(note.clone()));
    }
    Section {
        id: "evidence",
        title: "Where the verdicts come from".into(),
        blocks,
    }
}

/// Per run: hit@1 / hit@3 where bug lines are known, and agreement with its teacher.
fn summary_table(r: &Report, present: &[(usize, &Evidence)]) -> Table {
    let teachers = r.reference_teachers();
    let header = [
        "run",
        "contracts",
        "flagged with bug lines",
        "hit@1",
        "hit@3",
        "teacher",
        "top-5 overlap",
        "rank corr.",
        "same verdict",
    ];
    let mut t = Table {
        header: header.iter().map(|h| Cell::name(*h)).collect(),
        rows: Vec::new(),
    };
    for &(i, e) in present {
        let run = &r.runs[i];
        let safe = safe_label(&run.config);
        let mut hits = HitTally::default();
        for c in e
            .contracts
            .iter()
            .filter(|c| c.flagged(&safe) && !c.bug_lines.is_empty())
        {
            let top: Vec<usize> = c.top.iter().map(|l| l.line).collect();
            hits.add_ranking(&top, &c.bug_lines);
        }
        let h = hits.hits();
        let mut row = vec![
            Cell::head(short_name(i, run)),
            Cell::num(e.contracts.len().to_string()),
            Cell::num(hits.n.to_string()),
            Cell::num(if hits.n > 0 {
                format!("{:.3}", h.hit1)
            } else {
                "-".into()
            }),
            Cell::num(if hits.n > 0 {
                format!("{:.3}", h.hit3)
            } else {
                "-".into()
            }),
        ];
        let teacher = teachers[i]
            .filter(|&t| t != i)
            .and_then(|t| r.evidence.get(t).and_then(Option::as_ref).map(|e| (t, e)));
        match teacher {
            Some((ti, te)) => {
                let a = evidence_agreement(te, e);
                row.extend([
                    Cell::name(short_name(ti, &r.runs[ti])),
                    Cell::num(format!("{:.3}", a.top_overlap)),
                    Cell::num(format!("{:.3}", a.rank_correlation)),
                    Cell::num(format!("{:.3}", a.same_verdict)),
                ]);
            }
            None => row.extend((0..4).map(|_| Cell::num("-"))),
        }
        t.rows.push(row);
    }
    t
}

/// A few vulnerable test contracts the first teacher flags, line by line (● marks a known
/// bug line): each model's best
/// lines, shaded by their score (relative to that model's best on the contract).
fn examples(r: &Report, present: &[(usize, &Evidence)], blocks: &mut Vec<Block>) {
    let Some(&(ti, te)) = present.iter().find(|(i, _)| r.runs[*i].role == "teacher") else {
        return;
    };
    let safe = safe_label(&r.runs[ti].config);
    // Contracts whose bug lines are known first: there the reader can check the lines.
    let mut shown: Vec<&ContractEvidence> =
        te.contracts.iter().filter(|c| c.flagged(&safe)).collect();
    shown.sort_by_key(|c| c.bug_lines.is_empty());
    for c in shown.into_iter().take(EXAMPLES) {
        blocks.push(Block::Heading(format!(
            "{} ({}; bug lines {})",
            c.id,
            c.label,
            if c.bug_lines.is_empty() {
                "unknown".to_string()
            } else {
                join(&c.bug_lines)
            }
        )));
        let models: Vec<(usize, &ContractEvidence)> = present
            .iter()
            .filter_map(|(i, e)| e.contract(&c.id).map(|ce| (*i, ce)))
            .collect();
        let mut lines: Vec<(usize, String)> = models
            .iter()
            .flat_map(|(_, ce)| ce.top.iter().take(EXAMPLE_LINES))
            .map(|l| (l.line, l.text.clone()))
            .collect();
        lines.sort();
        lines.dedup_by_key(|l| l.0);
        let mut t = Table {
            header: vec![Cell::name("line"), Cell::name("code")],
            rows: Vec::new(),
        };
        t.header.extend(models.iter().map(|(i, ce)| {
            Cell::name(format!("{} ({})", short_name(*i, &r.runs[*i]), ce.verdict))
        }));
        for (line, text) in lines {
            // A known bug line is marked.
            let mark = if c.bug_lines.contains(&line) {
                "● "
            } else {
                ""
            };
            let mut row = vec![Cell::head(format!("{mark}{line}")), Cell::name(text)];
            for (_, ce) in &models {
                row.push(score_cell(ce, line));
            }
            t.rows.push(row);
        }
        blocks.push(Block::Table(t));
    }
}

/// A line's score, shaded by its share of the model's best line score on the contract; its
/// rank when it is among the model's top lines.
fn score_cell(ce: &ContractEvidence, line: usize) -> Cell {
    let score = ce.scores.get(line - 1).copied().unwrap_or(0.0);
    let best = ce
        .top
        .first()
        .map_or(0.0, |l| l.score)
        .max(f32::MIN_POSITIVE);
    let rank = ce.top.iter().position(|l| l.line == line);
    Cell {
        fill: Some(heat(f64::from((score / best).clamp(0.0, 1.0)))),
        bold: rank == Some(0),
        ..Cell::num(match rank {
            Some(k) => format!("#{} {score:+.3}", k + 1),
            None => format!("{score:+.3}"),
        })
    }
}

fn safe_label(config: &str) -> String {
    config
        .parse::<toml::Table>()
        .ok()
        .and_then(|c| {
            c.get("dataset")
                .and_then(|d| d.get("safe_label"))
                .and_then(toml::Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "safe".into())
}

fn join(lines: &[usize]) -> String {
    lines
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
