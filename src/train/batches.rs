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
    order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
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
