//! Where in a contract a verdict comes from: a score for every source line, for the predicted
//! (or a chosen) class, from one of three methods.
//!
//! - `windows`: each window's logit, given to the lines it covers; a line in several windows
//!   gets their mean. Free (the verdict's own forward passes), and as coarse as the windows.
//! - `ig`: integrated gradients (Sundararajan et al., 2017) on the word embeddings, from a
//!   baseline whose content tokens are all padding (the special tokens kept), N midpoint steps
//!   batched into one forward and backward; a token's score is its gradient path integral
//!   times its distance from the baseline, a line's the sum of its tokens'.
//! - `grad`: gradient × (input − baseline) at the input: one step of the same sum, cheap.
//!
//! A token in two overlapping windows gets the mean of its two scores, so the line scores sum
//! to the attribution total; for `ig` that total approaches f(input) − f(baseline) per window
//! (completeness), and `delta` says how far it is.

pub mod evaluate;
pub mod evidence;
pub mod gradient;
pub mod lines;
pub mod localise;

use crate::data::Task;
use crate::infer::{InferError, Reading, Scorer, Verdict};
use lines::LineIndex;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Windows,
    Ig,
    Grad,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Windows, Method::Ig, Method::Grad];

    pub fn name(self) -> &'static str {
        match self {
            Method::Windows => "windows",
            Method::Ig => "ig",
            Method::Grad => "grad",
        }
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "windows" | "window" => Ok(Method::Windows),
            "ig" | "integrated-gradients" => Ok(Method::Ig),
            "grad" | "gradient" | "gradxinput" => Ok(Method::Grad),
            other => Err(format!("unknown method `{other}`: windows, ig or grad")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExplainOptions {
    pub method: Method,
    /// Integrated-gradient steps (ignored by the other methods).
    pub steps: usize,
    /// The class to explain; the verdict's when `None`.
    pub class: Option<String>,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self {
            method: Method::Ig,
            steps: 16,
            class: None,
        }
    }
}

/// One line of the contract as given.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineScore {
    /// 1-based, in the file as given.
    pub line: usize,
    pub score: f32,
    /// Content tokens of this line the model read; 0 for a blank or comment line, or one
    /// outside the windows the config keeps (it takes no part in the ranking).
    pub tokens: usize,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub verdict: Verdict,
    /// The class the scores explain (its margin over the others, see [`target_weights`]).
    pub class: String,
    pub method: Method,
    /// Integrated-gradient steps (1 for `grad`, 0 for `windows`).
    pub steps: usize,
    /// Every line of the contract, in order.
    pub lines: Vec<LineScore>,
    /// The sum of the line scores.
    pub total: f32,
    /// Gradient methods: the largest gap, over windows, between a window's attribution sum
    /// and its explained margin at the input minus at the baseline (completeness; shrinks
    /// with steps).
    pub delta: Option<f32>,
}

impl Explanation {
    /// The `k` highest-scoring lines the model read, best first (ties: the earlier line).
    pub fn top(&self, k: usize) -> Vec<&LineScore> {
        let mut read: Vec<&LineScore> = self.lines.iter().filter(|l| l.tokens > 0).collect();
        read.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.line.cmp(&b.line)));
        read.truncate(k);
        read
    }

    /// The line numbers of [`Explanation::top`].
    pub fn top_lines(&self, k: usize) -> Vec<usize> {
        self.top(k).iter().map(|l| l.line).collect()
    }
}

/// The explanation of a contract's verdict (or of `opts.class`) by `opts.method`.
pub fn explain(
    scorer: &Scorer,
    raw: &str,
    opts: &ExplainOptions,
) -> Result<Explanation, InferError> {
    explain_reading(scorer, raw, &scorer.read(raw)?, opts)
}

/// [`explain`] of a contract already read (`scorer.read(raw)`): several methods on one
/// contract share its verdict's forward passes.
pub fn explain_reading(
    scorer: &Scorer,
    raw: &str,
    reading: &Reading,
    opts: &ExplainOptions,
) -> Result<Explanation, InferError> {
    let class = match &opts.class {
        None => reading.class,
        Some(name) => scorer
            .model
            .labels
            .iter()
            .position(|l| l == name)
            .ok_or_else(|| {
                InferError::Invalid(format!(
                    "--class `{name}`: the model's classes are {}",
                    scorer.model.labels.join(", ")
                ))
            })?,
    };
    let index = LineIndex::new(&reading.text, &reading.source_lines, &reading.offsets);
    let target = target_weights(scorer.cfg.dataset.task, scorer.model.labels.len(), class);
    let (token_scores, delta, steps) = match opts.method {
        Method::Windows => (window_token_scores(reading, &target), None, 0),
        Method::Ig | Method::Grad => {
            let steps = if opts.method == Method::Grad {
                1
            } else {
                opts.steps.max(1)
            };
            let (scores, delta) = gradient::token_attributions(
                &scorer.model,
                reading,
                &target,
                steps,
                opts.method == Method::Ig,
            )?;
            (scores, Some(delta), steps)
        }
    };
    let per_line = match opts.method {
        Method::Windows => index.mean_per_line(&token_scores),
        _ => index.sum_per_line(&token_scores),
    };
    let lines = index.source_line_scores(raw, &per_line);
    let total = lines.iter().map(|l| l.score).sum();
    Ok(Explanation {
        verdict: reading.verdict.clone(),
        class: scorer.model.labels[class].clone(),
        method: opts.method,
        steps,
        lines,
        total,
        delta,
    })
}

/// What is explained, as weights over the logits: for one-of-N classes the class's logit
/// minus the mean of the others (the margin the softmax reads: adding a constant to every
/// logit changes no probability, so the logit alone would credit evidence for all classes);
/// for multi-label tasks, where each class has its own sigmoid, the class's logit.
pub fn target_weights(task: Task, classes: usize, class: usize) -> Vec<f32> {
    let others = classes.saturating_sub(1).max(1) as f32;
    (0..classes)
        .map(|c| match (c == class, task) {
            (true, _) => 1.0,
            (false, Task::Multilabel) => 0.0,
            (false, _) => -1.0 / others,
        })
        .collect()
}

/// `target · logits`.
pub fn weighted(logits: &[f32], target: &[f32]) -> f32 {
    logits.iter().zip(target).map(|(l, w)| l * w).sum()
}

/// Each content token's mean target over the kept windows that hold it (`None` for a token
/// no kept window holds).
fn window_token_scores(reading: &Reading, target: &[f32]) -> Vec<Option<f32>> {
    let mut means = TokenMeans::new(reading.offsets.len());
    for (w, row) in reading.windows.iter().zip(&reading.rows) {
        let score = weighted(row, target);
        for t in w.tokens.0..w.tokens.1 {
            means.add(t, score);
        }
    }
    means.finish()
}

/// Per content token, the mean of the values the windows holding it give it: how a token in
/// two overlapping windows gets one score.
pub(crate) struct TokenMeans {
    sum: Vec<f32>,
    count: Vec<u32>,
}

impl TokenMeans {
    pub(crate) fn new(tokens: usize) -> Self {
        Self {
            sum: vec![0.0; tokens],
            count: vec![0; tokens],
        }
    }

    pub(crate) fn add(&mut self, token: usize, value: f32) {
        self.sum[token] += value;
        self.count[token] += 1;
    }

    /// `None` for a token no window held.
    pub(crate) fn finish(self) -> Vec<Option<f32>> {
        self.sum
            .iter()
            .zip(&self.count)
            .map(|(s, &n)| (n > 0).then(|| s / n as f32))
            .collect()
    }
}
