//! From a prepared dataset to what the model reads: per contract its windows of token ids
//! (the configured selection) and its target.

use crate::data::config::{Task, WindowSelection};
use crate::data::{DataConfig, Dataset, Record, Split};
use crate::tokenize::{TextTokenizer, TokenizeError, Window, WindowSpec};
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Class(usize),
    /// One 0/1 per class (multi-label).
    Labels(Vec<f32>),
    /// A transfer-set contract: the teacher's soft targets only.
    Unlabeled,
}

#[derive(Clone, Debug)]
pub struct Sample {
    /// Index of the record in the dataset.
    pub record: usize,
    pub windows: Vec<Vec<u32>>,
    /// Byte ranges of the windows in the contract text (for `predict`).
    pub spans: Vec<(usize, usize)>,
    pub target: Target,
}

impl Sample {
    pub fn tokens(&self) -> usize {
        self.windows.iter().map(Vec::len).sum()
    }
}

pub fn target_of(r: &Record, ds: &Dataset) -> Option<Target> {
    if r.split == Some(Split::Unlabeled) {
        return Some(Target::Unlabeled);
    }
    match ds.task {
        Task::Multilabel => Some(Target::Labels(
            ds.classes
                .iter()
                .map(|c| if r.labels.contains(c) { 1.0 } else { 0.0 })
                .collect(),
        )),
        _ => ds.class_index(&r.label).map(Target::Class),
    }
}

/// Windows of one text under the config's selection.
pub fn windows_of(
    tok: &TextTokenizer,
    text: &str,
    cfg: &DataConfig,
) -> Result<(Vec<Vec<u32>>, crate::tokenize::Offsets), TokenizeError> {
    let (kept, _) = selected_windows(tok, text, cfg)?;
    Ok(kept.into_iter().map(|w| (w.ids, w.bytes)).unzip())
}

/// The windows the config's selection keeps, in order, and the byte range of every content
/// token of the text (for attribution, which maps tokens back to lines).
pub fn selected_windows(
    tok: &TextTokenizer,
    text: &str,
    cfg: &DataConfig,
) -> Result<(Vec<Window>, crate::tokenize::Offsets), TokenizeError> {
    let (all, offsets) = tok.windows_with_offsets(
        text,
        WindowSpec {
            max_len: cfg.max_len,
            stride: cfg.stride,
        },
    )?;
    let n = all.len();
    let k = cfg.max_windows;
    let keep: Vec<usize> = if cfg.windows == WindowSelection::All || k == 0 || n <= k {
        (0..n).collect()
    } else if cfg.windows == WindowSelection::HeadTail {
        let head = k.div_ceil(2);
        (0..head).chain(n - (k - head)..n).collect()
    } else {
        (0..k).collect()
    };
    let mut all: Vec<Option<Window>> = all.into_iter().map(Some).collect();
    let kept = keep.into_iter().filter_map(|i| all[i].take()).collect();
    Ok((kept, offsets))
}

/// The samples of one split, in dataset order.
pub fn samples(
    ds: &Dataset,
    split: Split,
    tok: &TextTokenizer,
    cfg: &DataConfig,
) -> Result<Vec<Sample>, TokenizeError> {
    let chosen: Vec<(usize, &Record)> = ds
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.split == Some(split))
        .collect();
    chosen
        .par_iter()
        .filter_map(|&(i, r)| target_of(r, ds).map(|t| (i, r, t)))
        .map(|(i, r, target)| sample_of(i, &r.code, target, tok, cfg))
        .collect()
}

/// One contract's sample: its windows under the config's selection, and its target.
pub fn sample_of(
    record: usize,
    text: &str,
    target: Target,
    tok: &TextTokenizer,
    cfg: &DataConfig,
) -> Result<Sample, TokenizeError> {
    let (windows, spans) = windows_of(tok, text, cfg)?;
    Ok(Sample {
        record,
        windows,
        spans,
        target,
    })
}
