//! The terminal view of a run: a progress bar on a terminal, one plain line per event
//! otherwise (logs, CI, `nohup`).

use alambic::store::{EventSink, TrainEvent};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
    /// For sweep cells run side by side: no bar, no step lines, each line prefixed.
    prefix: Option<String>,
    /// A Mixture-of-Experts run's latest expert load, printed after each evaluation.
    expert_load: Option<String>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            bar: None,
            prefix: None,
            expert_load: None,
        }
    }

    pub fn for_cell(prefix: String) -> Self {
        Self {
            bar: None,
            prefix: Some(prefix),
            expert_load: None,
        }
    }

    fn line(&self, text: String) {
        let text = match &self.prefix {
            Some(p) => format!("{p}  {text}"),
            None => text,
        };
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }
}

impl EventSink for Progress {
    fn emit(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started {
                run_id,
                role,
                total_steps,
                resumed_from,
            } => {
                if std::io::stdout().is_terminal() && self.prefix.is_none() {
                    let bar = ProgressBar::new(*total_steps);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]",
                    ) {
                        bar.set_style(style);
                    }
                    bar.set_position(resumed_from.unwrap_or(0));
                    self.bar = Some(bar);
                }
                let from = resumed_from
                    .map(|s| format!(", resumed at step {s}"))
                    .unwrap_or_default();
                self.line(format!("run {run_id} ({role}): {total_steps} steps{from}"));
            }
            TrainEvent::Step {
                step,
                epoch,
                stage,
                loss,
                lr,
                samples_per_s,
                ..
            } => {
                let stage = stage
                    .as_ref()
                    .map(|s| format!("{s}  "))
                    .unwrap_or_default();
                match &self.bar {
                    _ if self.prefix.is_some() => {}
                    Some(bar) => {
                        bar.set_position(*step);
                        bar.set_message(format!(
                            "{stage}loss {loss:.4}  lr {lr:.2e}  {samples_per_s:.1} contracts/s"
                        ));
                    }
                    None => println!(
                        "step {step}  {stage}epoch {epoch}  loss {loss:.4}  lr {lr:.2e}  {samples_per_s:.1} contracts/s"
                    ),
                }
            }
            TrainEvent::Eval {
                step,
                split,
                metrics,
            } if metrics.get("macro_f1").is_none() => {
                let n = |k: &str| metrics[k].as_f64().unwrap_or(f64::NAN);
                let line = match metrics.get("perplexity") {
                    Some(_) => format!(
                        "eval {split} @ {step}: MLM loss {:.4}  perplexity {:.2}  masked-token accuracy {:.4}",
                        n("loss"),
                        n("perplexity"),
                        n("masked_accuracy")
                    ),
                    None => format!("eval {split} @ {step}: distillation loss {:.4}", n("loss")),
                };
                self.line(line);
            }
            TrainEvent::Eval {
                step,
                split,
                metrics,
            } => {
                self.line(format!(
                    "eval {split} @ {step}: accuracy {:.4}  macro-F1 {:.4}",
                    metrics["accuracy"].as_f64().unwrap_or(f64::NAN),
                    metrics["macro_f1"].as_f64().unwrap_or(f64::NAN)
                ));
                if let Some(load) = self.expert_load.take() {
                    self.line(load);
                }
            }
            TrainEvent::ExpertLoad { layers, .. } => {
                self.expert_load = Some(expert_load_line(layers));
            }
            TrainEvent::TeacherCache {
                hit,
                path,
                bytes,
                seconds,
            } => self.line(format!(
                "teacher outputs {} {path} ({:.1} kB, {seconds:.1} s)",
                if *hit { "read from" } else { "computed into" },
                *bytes as f64 / 1e3
            )),
            TrainEvent::Transfer {
                file,
                kept,
                dropped_leaking,
            } => self.line(format!(
                "transfer set {file}: {kept} contracts kept, {dropped_leaking} dropped (a duplicate is in validation or test)"
            )),
            TrainEvent::Checkpoint { step, kind } if kind == "interrupted" => {
                self.line(format!("stopped at step {step}; checkpoint saved"))
            }
            TrainEvent::Finished { summary } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let agreement = summary
                    .teacher_agreement
                    .as_ref()
                    .and_then(|a| a.valid)
                    .map(|a| format!("; agrees with the teacher on {:.1}% of validation", a * 100.0))
                    .unwrap_or_default();
                // Sweep cells leave test alone (only the best cell is scored on it).
                let test = match &summary.test {
                    Some(t) => format!(
                        "; test macro-F1 {:.4}, accuracy {:.4}",
                        t.metrics.macro_f1, t.metrics.accuracy
                    ),
                    None => String::new(),
                };
                self.line(format!(
                    "finished: best valid macro-F1 {:.4} (step {}){test}{agreement}",
                    summary.best_valid_macro_f1.unwrap_or(f64::NAN),
                    summary.best_step,
                ));
            }
            TrainEvent::Pretrained { summary } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let line = held_out_line(summary);
                self.line(line);
            }
            TrainEvent::Failed { error } => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon();
                }
                match &self.prefix {
                    Some(_) => self.line(format!("failed: {error}")),
                    None => eprintln!("failed: {error}"),
                }
            }
            _ => {}
        }
    }
}

/// A corpus run's end: held-out perplexity (MLM) or loss (general distillation), before and
/// after, and the tokens it read.
fn held_out_line(s: &alambic::store::schema::PretrainSummary) -> String {
    let score = |h: &alambic::store::schema::HeldOutScores| match h.perplexity {
        Some(p) => format!("perplexity {p:.2}"),
        None => format!("loss {:.4}", h.loss),
    };
    let before = s
        .before
        .as_ref()
        .map(|b| format!(" (before: {})", score(b)))
        .unwrap_or_default();
    let accuracy = s
        .best
        .masked_accuracy
        .map(|a| format!(", masked-token accuracy {a:.4}"))
        .unwrap_or_default();
    format!(
        "finished: held-out {}{before}{accuracy} (step {}); {} tokens in {:.0} s ({:.0} tokens/s)",
        score(&s.best),
        s.best_step,
        s.tokens,
        s.train_seconds,
        s.tokens_per_s
    )
}

/// `expert load  L1 0.26 0.19 0.40 0.15  L2 …`: each mixture layer's share of tokens per expert.
fn expert_load_line(layers: &std::collections::BTreeMap<String, Vec<f64>>) -> String {
    let mut by_layer: Vec<(&String, &Vec<f64>)> = layers.iter().collect();
    by_layer.sort_by_key(|(l, _)| l.parse::<usize>().unwrap_or(0));
    let parts: Vec<String> = by_layer
        .into_iter()
        .map(|(l, shares)| {
            let s: Vec<String> = shares.iter().map(|x| format!("{x:.2}")).collect();
            format!("L{l} {}", s.join(" "))
        })
        .collect();
    format!("expert load  {}", parts.join("  "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn expert_load_line_lists_layers_in_order() {
        let layers = [
            ("10".to_string(), vec![0.5, 0.5]),
            ("2".to_string(), vec![0.25, 0.75]),
        ]
        .into();
        assert_eq!(
            super::expert_load_line(&layers),
            "expert load  L2 0.25 0.75  L10 0.50 0.50"
        );
    }
}
