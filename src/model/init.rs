//! Our own seeded random numbers: candle's CPU generator cannot be seeded, and reproducible
//! initialisation, dropout and resumable training need a generator whose state we own.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct SeededRng(ChaCha8Rng);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RngState {
    pub seed: String,
    pub stream: u64,
    /// A u128, as text (JSON numbers are not that wide).
    pub word_pos: String,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator for one named purpose, so adding a parameter does not shift every other
    /// parameter's draws.
    pub fn for_name(seed: u64, name: &str) -> Self {
        Self::new(seed ^ xxhash_rust::xxh3::xxh3_64(name.as_bytes()))
    }

    /// Normal(0, std) as transformers initialises Linear and Embedding weights.
    pub fn normal(
        &mut self,
        shape: &[usize],
        std: f64,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n: usize = shape.iter().product();
        let dist = Normal::new(0.0f32, std as f32).map_err(candle_core::Error::wrap)?;
        let values: Vec<f32> = (0..n).map(|_| dist.sample(&mut self.0)).collect();
        Tensor::from_vec(values, shape, device)
    }

    /// `n` raw words of the stream, in bulk: the same words `n` calls of `next_u32` give, so a
    /// mask built from them equals `dropout_mask`'s draw for draw.
    /// ChaCha can start anywhere in its stream, so blocks of it are generated in parallel,
    /// each from its own word position (generating 29 M words a step on one thread left the
    /// other core idle).
    pub fn words(&mut self, n: usize) -> Vec<u32> {
        const BLOCK: usize = 1 << 16;
        let start = self.0.get_word_pos();
        let base = self.0.clone();
        let mut w = vec![0u32; n];
        w.par_chunks_mut(BLOCK).enumerate().for_each(|(i, block)| {
            let mut rng = base.clone();
            rng.set_word_pos(start + (i * BLOCK) as u128);
            rng.fill(block);
        });
        self.0.set_word_pos(start + n as u128);
        w
    }

    /// A dropout mask: 0 with probability `p`, else `1 / (1 - p)`.
    pub fn dropout_mask(
        &mut self,
        shape: &[usize],
        p: f64,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n: usize = shape.iter().product();
        let keep = 1.0 / (1.0 - p) as f32;
        let p = p as f32;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                if self.0.random::<f32>() < p {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        Tensor::from_vec(values, shape, device)
    }

    /// Seed and position, enough to continue the exact stream after a restart.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self
                .0
                .get_seed()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            stream: self.0.get_stream(),
            word_pos: self.0.get_word_pos().to_string(),
        }
    }

    pub fn restore(state: &RngState) -> Option<Self> {
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(state.seed.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(state.stream);
        rng.set_word_pos(state.word_pos.parse().ok()?);
        Some(Self(rng))
    }

    pub fn inner(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }
}
