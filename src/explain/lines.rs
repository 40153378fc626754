//! From token scores to line scores: each content token belongs to the cleaned line of its
//! first visible character, and each cleaned line to a line of the contract as given.

use super::LineScore;
use crate::tokenize::Offsets;

pub struct LineIndex {
    /// The cleaned line (0-based) of each content token.
    token_line: Vec<usize>,
    /// For each cleaned line, the 1-based line of the contract as given.
    source_lines: Vec<usize>,
}

/// A cleaned line's score and how many content tokens the model read on it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scored {
    pub score: f32,
    pub tokens: usize,
}

impl LineIndex {
    pub fn new(text: &str, source_lines: &[usize], offsets: &Offsets) -> Self {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let token_line = offsets
            .iter()
            .map(|&(a, b)| {
                // A byte-level BPE token may begin with the line break before its word.
                let span = text.get(a..b.max(a)).unwrap_or("");
                let visible = span.find(|c: char| !c.is_whitespace()).map_or(a, |i| a + i);
                starts.partition_point(|&s| s <= visible).saturating_sub(1)
            })
            .collect();
        Self {
            token_line,
            source_lines: source_lines.to_vec(),
        }
    }

    pub fn lines(&self) -> usize {
        self.source_lines.len()
    }

    /// Per cleaned line, the sum of its tokens' scores (gradient attributions add up).
    pub fn sum_per_line(&self, token_scores: &[Option<f32>]) -> Vec<Scored> {
        let mut out = vec![Scored::default(); self.lines()];
        for (&line, score) in self.token_line.iter().zip(token_scores) {
            if let (Some(s), Some(slot)) = (score, out.get_mut(line)) {
                slot.score += s;
                slot.tokens += 1;
            }
        }
        out
    }

    /// Per cleaned line, the mean of its tokens' scores (a window's logit is not additive).
    pub fn mean_per_line(&self, token_scores: &[Option<f32>]) -> Vec<Scored> {
        let mut out = self.sum_per_line(token_scores);
        for s in &mut out {
            if s.tokens > 0 {
                s.score /= s.tokens as f32;
            }
        }
        out
    }

    /// Every line of the contract as given (`raw`), with the score of the cleaned line it
    /// became (0 and no tokens for a line cleaning removed).
    pub fn source_line_scores(&self, raw: &str, per_line: &[Scored]) -> Vec<LineScore> {
        let mut out: Vec<LineScore> = raw
            .lines()
            .enumerate()
            .map(|(i, text)| LineScore {
                line: i + 1,
                score: 0.0,
                tokens: 0,
                text: text.to_string(),
            })
            .collect();
        for (cleaned, scored) in per_line.iter().enumerate() {
            let Some(&source) = self.source_lines.get(cleaned) else {
                continue;
            };
            if let Some(l) = out.get_mut(source.saturating_sub(1)) {
                l.score += scored.score;
                l.tokens += scored.tokens;
            }
        }
        out
    }
}
