//! The terminal view of a run: a progress bar on a terminal, one plain line per event
//! otherwise (logs, CI, `nohup`).

use alambic::store::{EventSink, TrainEvent};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        Self { bar: None }
    }

    fn line(&self, text: String) {
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
                if std::io::stdout().is_terminal() {
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
                loss,
                lr,
                samples_per_s,
                ..
            } => match &self.bar {
                Some(bar) => {
                    bar.set_position(*step);
                    bar.set_message(format!(
                        "loss {loss:.4}  lr {lr:.2e}  {samples_per_s:.1} contracts/s"
                    ));
                }
                None => println!(
                    "step {step}  epoch {epoch}  loss {loss:.4}  lr {lr:.2e}  {samples_per_s:.1} contracts/s"
                ),
            },
            TrainEvent::Eval {
                step,
                split,
                metrics,
            } => self.line(format!(
                "eval {split} @ {step}: accuracy {:.4}  macro-F1 {:.4}",
                metrics["accuracy"].as_f64().unwrap_or(f64::NAN),
                metrics["macro_f1"].as_f64().unwrap_or(f64::NAN)
            )),
            TrainEvent::TeacherCache {
                hit,
                path,
                bytes,
                seconds,
            } => self.line(format!(
                "teacher logits {} {path} ({:.1} kB, {seconds:.1} s)",
                if *hit { "read from" } else { "computed into" },
                *bytes as f64 / 1e3
            )),
            TrainEvent::Checkpoint { step, kind } if kind == "interrupted" => {
                self.line(format!("stopped at step {step}; checkpoint saved"))
            }
            TrainEvent::Finished { summary } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                println!(
                    "finished: best valid macro-F1 {:.4} (step {}); test macro-F1 {:.4}, accuracy {:.4}",
                    summary["best_valid_macro_f1"].as_f64().unwrap_or(f64::NAN),
                    summary["best_step"],
                    summary["test"]["macro_f1"].as_f64().unwrap_or(f64::NAN),
                    summary["test"]["accuracy"].as_f64().unwrap_or(f64::NAN)
                );
            }
            TrainEvent::Failed { error } => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon();
                }
                eprintln!("failed: {error}");
            }
            _ => {}
        }
    }
}
