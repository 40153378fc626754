//! The fused kernel for dropout.

use super::{MIN_ELEMS_PER_TASK, simd, slice};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// The uniform draw in [0, 1) rand makes of one word (24 high bits), so a word drops its
/// element exactly when `SeededRng::dropout_mask` would. The 24 bits go through `i32`, the
/// same value: x86 converts signed integers to floats in vectors, unsigned ones one by one
/// (5 % of a training step).
#[inline(always)]
fn uniform(word: u32) -> f32 {
    ((word >> 8) as i32) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Inverted dropout with the draws already made (one word per element): the forward and the
/// backward apply the same mask without storing it as floats.
struct Dropout {
    words: std::sync::Arc<Vec<u32>>,
    p: f32,
}

impl Dropout {
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let keep = 1.0 / (1.0 - self.p);
        let mut out = vec![0f32; x.len()];
        let c = MIN_ELEMS_PER_TASK;
        out.par_chunks_mut(c)
            .zip(x.par_chunks(c).zip(self.words.par_chunks(c)))
            .for_each(|(o, (xc, wc))| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for ((ov, &xv), &w) in o.iter_mut().zip(xc).zip(wc) {
                            *ov = if uniform(w) < self.p { 0.0 } else { xv * keep };
                        }
                    },
                )
            });
        out
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        if x.len() != self.words.len() {
            candle_core::bail!(
                "dropout: {} draws for {} elements",
                self.words.len(),
                x.len()
            );
        }
        Ok((CpuStorage::F32(self.apply(x)), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let same = Dropout {
            words: self.words.clone(),
            p: self.p,
        };
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&DropoutBackward(same))?,
        ))
    }
}

/// The backward of dropout is dropout of the gradient with the same draws.
struct DropoutBackward(Dropout);

impl CustomOp1 for DropoutBackward {
    fn name(&self) -> &'static str {
        "dropout-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.0.cpu_fwd(s, l)
    }
}

/// Inverted dropout of `x` with one draw (a word of the seeded stream) per element.
pub fn dropout(x: &Tensor, words: Vec<u32>, p: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Dropout {
        words: std::sync::Arc::new(words),
        p: p as f32,
    })
}
