//! Measuring explanations: whether the top lines hold a known bug line (hit@k), what a random
//! line and the longest line would score, and how far two models' line scores agree.

use super::{Explanation, LineScore};
use crate::eval::spearman;
use serde::Serialize;

/// Whether one of the `k` best lines of `ranked` (best first) is a bug line.
pub fn hit(ranked: &[usize], bug_lines: &[usize], k: usize) -> bool {
    ranked.iter().take(k).any(|l| bug_lines.contains(l))
}

/// The chance that `k` lines drawn at random, without replacement, from the `candidates`
/// lines the model read include one of the `bugs` among them: 1 − C(n−b, k) / C(n, k).
pub fn random_hit_chance(candidates: usize, bugs: usize, k: usize) -> f64 {
    let (n, b) = (candidates, bugs.min(candidates));
    if b == 0 || n == 0 {
        return 0.0;
    }
    let miss: f64 = (0..k.min(n))
        .map(|i| (n - b).saturating_sub(i) as f64 / (n - i) as f64)
        .product();
    1.0 - miss
}

/// The lines the model read, longest first (by their trimmed text; ties: the earlier line):
/// the baseline a reader skimming for the densest line would follow.
pub fn longest_lines(lines: &[LineScore]) -> Vec<usize> {
    let mut read: Vec<&LineScore> = lines.iter().filter(|l| l.tokens > 0).collect();
    read.sort_by(|a, b| {
        b.text
            .trim()
            .len()
            .cmp(&a.text.trim().len())
            .then(a.line.cmp(&b.line))
    });
    read.iter().map(|l| l.line).collect()
}

/// hit@1 and hit@3 as shares of the scored contracts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Hits {
    pub hit1: f64,
    pub hit3: f64,
}

/// Running hit@1 / hit@3 sums.
#[derive(Clone, Copy, Debug, Default)]
pub struct HitTally {
    pub n: usize,
    pub hit1: f64,
    pub hit3: f64,
}

impl HitTally {
    pub fn add(&mut self, hit1: f64, hit3: f64) {
        self.n += 1;
        self.hit1 += hit1;
        self.hit3 += hit3;
    }

    pub fn add_ranking(&mut self, ranked: &[usize], bug_lines: &[usize]) {
        self.add(
            f64::from(u8::from(hit(ranked, bug_lines, 1))),
            f64::from(u8::from(hit(ranked, bug_lines, 3))),
        );
    }

    pub fn hits(&self) -> Hits {
        let n = self.n.max(1) as f64;
        Hits {
            hit1: self.hit1 / n,
            hit3: self.hit3 / n,
        }
    }
}

/// How two explanations of one contract agree: the share of their top-`k` lines they share,
/// and the Spearman rank correlation of their scores over the lines both read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub top_overlap: f64,
    pub rank_correlation: f64,
}

pub fn agreement(a: &Explanation, b: &Explanation, k: usize) -> Agreement {
    let scores = |e: &Explanation| -> (Vec<f32>, Vec<usize>) {
        e.lines.iter().map(|l| (l.score, l.tokens)).unzip()
    };
    let ((sa, na), (sb, nb)) = (scores(a), scores(b));
    agreement_of_scores((&a.top_lines(k), &sa, &na), (&b.top_lines(k), &sb, &nb))
}

/// [`agreement`] from each side's top lines, line scores and tokens read per line.
pub fn agreement_of_scores(
    a: (&[usize], &[f32], &[usize]),
    b: (&[usize], &[f32], &[usize]),
) -> Agreement {
    let shared = a.0.iter().filter(|l| b.0.contains(l)).count();
    let (xa, xb): (Vec<f64>, Vec<f64>) =
        a.1.iter()
            .zip(a.2)
            .zip(b.1.iter().zip(b.2))
            .filter(|((_, na), (_, nb))| **na > 0 && **nb > 0)
            .map(|((&x, _), (&y, _))| (f64::from(x), f64::from(y)))
            .unzip();
    Agreement {
        top_overlap: shared as f64 / a.0.len().max(b.0.len()).max(1) as f64,
        rank_correlation: spearman(&xa, &xb),
    }
}
