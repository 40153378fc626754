//! Batches of contracts: seeded shuffling per epoch, length bucketing (contracts of similar
//! length together, so dynamic padding wastes little), and padding to the longest window.

use super::samples::Sample;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The batches (lists of sample indices) of one epoch. Deterministic in (seed, epoch), so a
/// resumed run replays the same order.
pub fn epoch_batches(
    samples: &[Sample],
    batch: usize,
    seed: u64,
    epoch: usize,
    bucket: bool,
) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1)));
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.shuffle(&mut rng);
    if bucket {
        // Sort within chunks of 50 batches: similar lengths meet, randomness stays.
        for chunk in order.chunks_mut(batch * 50) {
            chunk.sort_by_key(|&i| samples[i].tokens());
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch).map(<[usize]>::to_vec).collect();
    batches.shuffle(&mut rng);
    batches
}

/// Consecutive batches for evaluation (no shuffling), sorted by length for speed.
pub fn eval_batches(samples: &[Sample], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| samples[i].tokens());
    let mut out = Vec::new();
    for chunk in order.chunks(batch.max(1)) {
        let chosen: Vec<&Sample> = chunk.iter().map(|&i| &samples[i]).collect();
        for part in micro_batches(&chosen, EVAL_TOKENS) {
            out.push(chunk[part].to_vec());
        }
    }
    out
}

/// Padded tokens one inference forward may hold: a batch of long contracts (cgt_dasp's p99
/// is 66 windows of 256) is scored in parts instead of as a thousand windows at once.
pub const EVAL_TOKENS: usize = 32_768;

/// Consecutive parts of a batch whose padded size (windows × longest window) stays within
/// `budget` tokens; a contract is never split (its windows pool into one verdict), so one
/// longer than the budget is a part of its own. `budget` 0: one part.
pub fn micro_batches(samples: &[&Sample], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut parts = Vec::new();
    let (mut start, mut windows, mut longest) = (0, 0, 0);
    for (i, s) in samples.iter().enumerate() {
        let w = windows + s.windows.len();
        let l = longest.max(s.windows.iter().map(Vec::len).max().unwrap_or(0));
        if budget > 0 && i > start && w * l > budget {
            parts.push(start..i);
            start = i;
            windows = s.windows.len();
            longest = s.windows.iter().map(Vec::len).max().unwrap_or(0);
        } else {
            windows = w;
            longest = l;
        }
    }
    if start < samples.len() {
        parts.push(start..samples.len());
    }
    parts
}

/// The flattened windows of a batch, padded to the longest, with the mask and, per contract,
/// its range of rows.
pub struct Padded {
    pub ids: Vec<Vec<u32>>,
    pub mask: Vec<Vec<u32>>,
    pub rows: Vec<(usize, usize)>,
}

pub fn pad(samples: &[&Sample], pad_id: u32) -> Padded {
    let len = samples
        .iter()
        .flat_map(|s| s.windows.iter().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut out = Padded {
        ids: Vec::new(),
        mask: Vec::new(),
        rows: Vec::new(),
    };
    for s in samples {
        let start = out.ids.len();
        for w in &s.windows {
            let mut ids = w.clone();
            let mut mask = vec![1u32; w.len()];
            ids.resize(len, pad_id);
            mask.resize(len, 0);
            out.ids.push(ids);
            out.mask.push(mask);
        }
        out.rows.push((start, out.ids.len() - start));
    }
    out
}
