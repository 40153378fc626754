//! Long contracts become overlapping windows of `max_len` tokens, each wrapped in the
//! tokenizer's special tokens. A contract's verdict later pools its windows.

use super::{Offsets, TextTokenizer, TokenizeError};
use serde::{Deserialize, Serialize};

/// `stride` is the number of content tokens two consecutive windows share (as in transformers'
/// `return_overflowing_tokens`), so a window starts `max_len - specials - stride` tokens after
/// the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub max_len: usize,
    pub stride: usize,
}

impl WindowSpec {
    /// Content tokens per window and the step between window starts.
    pub fn body_and_step(&self, specials: usize) -> Result<(usize, usize), TokenizeError> {
        let body = self.max_len.saturating_sub(specials);
        if body == 0 || self.stride >= body {
            return Err(TokenizeError::Window(format!(
                "max_len {} leaves {body} content tokens after {specials} special tokens; the \
                 stride (overlap) {} must be smaller than that",
                self.max_len, self.stride
            )));
        }
        Ok((body, body - self.stride))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// With special tokens; at most `max_len`.
    pub ids: Vec<u32>,
    /// Range of content tokens of the contract this window covers.
    pub tokens: (usize, usize),
    /// Byte range of the contract's text it covers.
    pub bytes: (usize, usize),
}

/// How many windows a contract of `content_tokens` tokens becomes.
pub fn window_count(content_tokens: usize, body: usize, step: usize) -> usize {
    if content_tokens <= body {
        1
    } else {
        1 + (content_tokens - body).div_ceil(step)
    }
}

impl TextTokenizer {
    pub fn windows(&self, text: &str, spec: WindowSpec) -> Result<Vec<Window>, TokenizeError> {
        Ok(self.windows_with_offsets(text, spec)?.0)
    }

    /// The windows, and the byte range of every content token of the text (a window's
    /// `tokens` index it).
    pub fn windows_with_offsets(
        &self,
        text: &str,
        spec: WindowSpec,
    ) -> Result<(Vec<Window>, Offsets), TokenizeError> {
        let (body, step) = spec.body_and_step(self.special_count())?;
        let (ids, offsets) = self.encode_content(text)?;
        let n = window_count(ids.len(), body, step);
        let mut out = Vec::with_capacity(n);
        for w in 0..n {
            let start = w * step;
            let end = (start + body).min(ids.len());
            let mut window_ids = Vec::with_capacity(end - start + self.special_count());
            window_ids.extend_from_slice(self.prefix());
            window_ids.extend_from_slice(&ids[start..end]);
            window_ids.extend_from_slice(self.suffix());
            let bytes = if start < end {
                (offsets[start].0, offsets[end - 1].1)
            } else {
                (0, 0)
            };
            out.push(Window {
                ids: window_ids,
                tokens: (start, end),
                bytes,
            });
        }
        Ok((out, offsets))
    }
}
