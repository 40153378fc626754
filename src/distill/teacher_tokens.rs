//! The teacher's window-level outputs that token-level terms read: the hidden states of the
//! mapped layers, their pre-softmax attention scores, and the mean-pooled last layer (cosine).
//! Either computed live, batch by batch, or read from a cache built once: per contract, its
//! windows cut to their own length and stored in f16 (half the bytes; the terms' values move
//! by about 1e-3 relative).

use crate::model::encoder::{Batch, MASKED_SCORE};
use crate::model::heads::mean_pool;
use crate::model::{Classifier, Mode};
use crate::train::batches::{Padded, pad};
use crate::train::samples::Sample;
use candle_core::{DType, Result, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Which teacher outputs the configured terms read (teacher layer numbers, 0 = embeddings).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Needs {
    pub hidden: BTreeSet<usize>,
    pub scores: BTreeSet<usize>,
    pub pooled: bool,
    /// The teacher's id of each student id, when the student's vocabulary is a renumbered
    /// part of the teacher's (a `prune:` student); `None`: the same ids.
    pub teacher_ids: Option<Arc<Vec<u32>>>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.hidden.is_empty() && self.scores.is_empty() && !self.pooled
    }

    /// For cache keys and messages: `hidden 0,2,4 scores 2,4 pooled`.
    pub fn describe(&self) -> String {
        let list =
            |s: &BTreeSet<usize>| s.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        format!(
            "hidden {} scores {}{}",
            list(&self.hidden),
            list(&self.scores),
            if self.pooled { " pooled" } else { "" }
        )
    }

    /// What the cached outputs depend on: the layers, and how student ids read as the
    /// teacher's.
    pub fn cache_tag(&self) -> String {
        let mut tag = self.describe();
        if let Some(ids) = &self.teacher_ids {
            let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            tag.push_str(&format!(" ids {:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)));
        }
        tag
    }

    /// The student's padded ids as the teacher's.
    fn teacher_view<'a>(&self, padded: &'a Padded) -> std::borrow::Cow<'a, [Vec<u32>]> {
        match &self.teacher_ids {
            None => std::borrow::Cow::Borrowed(&padded.ids),
            Some(map) => std::borrow::Cow::Owned(
                padded
                    .ids
                    .iter()
                    .map(|row| row.iter().map(|&id| map[id as usize]).collect())
                    .collect(),
            ),
        }
    }
}

/// The teacher's outputs for one batch, shaped like the student's (`[windows, seq, …]`).
#[derive(Debug, Default)]
pub struct TeacherBatch {
    /// Teacher layer → `[windows, seq, hidden]`.
    pub hidden: HashMap<usize, Tensor>,
    /// Teacher layer → `[windows, heads, seq, seq]`, masked keys at −10000.
    pub scores: HashMap<usize, Tensor>,
    /// `[windows, hidden]`.
    pub pooled: Option<Tensor>,
}

pub enum TeacherTokens {
    Live {
        model: Box<Classifier>,
        needs: Needs,
    },
    Cached {
        tensors: HashMap<String, Tensor>,
    },
}

impl TeacherTokens {
    /// The teacher's outputs on the student's padded batch (both share a tokenizer).
    pub fn batch(&self, samples: &[&Sample], padded: &Padded) -> Result<TeacherBatch> {
        match self {
            Self::Live { model, needs } => live(model, needs, padded),
            Self::Cached { tensors } => cached(tensors, samples, padded),
        }
    }
}

/// The teacher's outputs, detached: its weights are `Var`s, so without `detach` every output
/// would keep the teacher's whole forward graph alive (the cache held every batch's
/// activations, 24 GB on 1,777 contracts at 128 tokens) and the student's backward pass would
/// walk into the teacher.
fn live(model: &Classifier, needs: &Needs, padded: &Padded) -> Result<TeacherBatch> {
    let ids = needs.teacher_view(padded);
    let out = model.forward(
        &Batch {
            input_ids: &ids,
            attention_mask: &padded.mask,
        },
        &mut Mode::Eval,
        !needs.scores.is_empty(),
    )?;
    let enc = out.encoder;
    let layer = |l: usize| {
        enc.hidden_states.get(l).map(Tensor::detach).ok_or_else(|| {
            candle_core::Error::Msg(format!("the teacher has no layer {l} (0 = embeddings)"))
        })
    };
    let mut batch = TeacherBatch::default();
    for &l in &needs.hidden {
        batch.hidden.insert(l, layer(l)?);
    }
    for &l in &needs.scores {
        let s = l
            .checked_sub(1)
            .and_then(|i| enc.scores.get(i))
            .map(Tensor::detach);
        let s = s.ok_or_else(|| {
            candle_core::Error::Msg(format!("the teacher has no attention scores at layer {l}"))
        })?;
        batch.scores.insert(l, s);
    }
    if needs.pooled {
        batch.pooled = Some(mean_pool(enc.last()?, &enc.mask)?.detach());
    }
    Ok(batch)
}

fn hidden_name(layer: usize, record: usize) -> String {
    format!("h{layer}.{record}")
}

fn scores_name(layer: usize, record: usize) -> String {
    format!("s{layer}.{record}")
}

fn pooled_name(record: usize) -> String {
    format!("p.{record}")
}

/// Runs the teacher over `samples` and keeps, per contract, its windows' outputs in f16.
pub fn compute(
    teacher: &Classifier,
    needs: &Needs,
    samples: &[Sample],
    batch_size: usize,
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for chunk in samples.chunks(batch_size.max(1)) {
        let refs: Vec<&Sample> = chunk.iter().collect();
        let padded = pad(&refs, teacher.config.pad_token_id);
        let batch = live(teacher, needs, &padded)?;
        for (s, &(start, n)) in chunk.iter().zip(&padded.rows) {
            let len = s.windows.iter().map(Vec::len).max().unwrap_or(0);
            for (&l, h) in &batch.hidden {
                let mine = h.narrow(0, start, n)?.narrow(1, 0, len)?;
                out.insert(hidden_name(l, s.record), mine.to_dtype(DType::F16)?);
            }
            for (&l, sc) in &batch.scores {
                let mine = sc
                    .narrow(0, start, n)?
                    .narrow(2, 0, len)?
                    .narrow(3, 0, len)?;
                out.insert(scores_name(l, s.record), mine.to_dtype(DType::F16)?);
            }
            if let Some(p) = &batch.pooled {
                let mine = p.narrow(0, start, n)?;
                out.insert(pooled_name(s.record), mine.to_dtype(DType::F16)?);
            }
        }
    }
    Ok(out)
}

/// Which layers a cache holds, read back from its tensor names.
fn cached_layers(tensors: &HashMap<String, Tensor>, prefix: char) -> BTreeSet<usize> {
    tensors
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect()
}

fn cached(
    tensors: &HashMap<String, Tensor>,
    samples: &[&Sample],
    padded: &Padded,
) -> Result<TeacherBatch> {
    let seq = padded.ids.first().map_or(0, Vec::len);
    let get = |name: String| {
        tensors
            .get(&name)
            .ok_or_else(|| candle_core::Error::Msg(format!("teacher cache lacks `{name}`")))
            .and_then(|t| t.to_dtype(DType::F32))
    };
    let mut batch = TeacherBatch::default();
    for l in cached_layers(tensors, 'h') {
        let parts = samples
            .iter()
            .map(|s| {
                let h = get(hidden_name(l, s.record))?;
                let len = h.dim(1)?;
                h.pad_with_zeros(1, 0, seq - len)
            })
            .collect::<Result<Vec<_>>>()?;
        batch.hidden.insert(l, Tensor::cat(&parts, 0)?);
    }
    for l in cached_layers(tensors, 's') {
        let parts = samples
            .iter()
            .map(|s| pad_scores(&get(scores_name(l, s.record))?, seq))
            .collect::<Result<Vec<_>>>()?;
        batch.scores.insert(l, Tensor::cat(&parts, 0)?);
    }
    if tensors.keys().any(|k| k.starts_with("p.")) {
        let parts = samples
            .iter()
            .map(|s| get(pooled_name(s.record)))
            .collect::<Result<Vec<_>>>()?;
        batch.pooled = Some(Tensor::cat(&parts, 0)?);
    }
    Ok(batch)
}

/// Grows `[windows, heads, len, len]` scores to `seq`, the new keys masked as the encoder
/// masks padding (the new query rows are padding too, and the losses skip them).
fn pad_scores(scores: &Tensor, seq: usize) -> Result<Tensor> {
    let (w, h, len, _) = scores.dims4()?;
    if len == seq {
        return Ok(scores.clone());
    }
    let dev = scores.device();
    let keys = Tensor::full(MASKED_SCORE as f32, (w, h, len, seq - len), dev)?;
    let wide = Tensor::cat(&[scores, &keys], 3)?;
    let rows = Tensor::full(MASKED_SCORE as f32, (w, h, seq - len, seq), dev)?;
    Tensor::cat(&[&wide, &rows], 2)
}
