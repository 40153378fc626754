//! The fused kernel for attention heads: [batch, seq, heads·d] ↔ [batch, heads, seq, d].

use super::slice;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `[b, s, heads·d]` → `[b, heads, s, d]`, contiguous: candle's reshape + transpose +
/// contiguous is a strided copy on one thread, eight of them per layer and step.
struct SplitHeads {
    heads: usize,
}

/// `[b, heads, s, d]` → `[b, s, heads·d]`, the inverse.
struct MergeHeads {
    heads: usize,
}

/// Copies between the two layouts; `split` reads `[b, s, h]` and writes `[b, heads, s, d]`.
fn permute_heads(x: &[f32], dims: (usize, usize, usize), heads: usize, split: bool) -> Vec<f32> {
    let (_, s, h) = dims;
    let d = h / heads;
    let mut out = vec![0f32; x.len()];
    if split {
        // One task per (batch, head) block of the split layout: s rows of d.
        out.par_chunks_mut(s * d)
            .enumerate()
            .for_each(|(bh, block)| {
                let (bi, hi) = (bh / heads, bh % heads);
                for si in 0..s {
                    let src = (bi * s + si) * h + hi * d;
                    block[si * d..(si + 1) * d].copy_from_slice(&x[src..src + d]);
                }
            });
    } else {
        // Rows of the merged layout: one (batch, position) each.
        out.par_chunks_mut(h).enumerate().for_each(|(bs, row)| {
            let (bi, si) = (bs / s, bs % s);
            for hi in 0..heads {
                let src = ((bi * heads + hi) * s + si) * d;
                row[hi * d..(hi + 1) * d].copy_from_slice(&x[src..src + d]);
            }
        });
    }
    out
}

impl CustomOp1 for SplitHeads {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(st, l, self.name())?;
        let (b, s, h) = l.shape().dims3()?;
        if h % self.heads != 0 {
            candle_core::bail!(
                "split-heads: width {h} is not a multiple of {} heads",
                self.heads
            );
        }
        let out = permute_heads(x, (b, s, h), self.heads, true);
        Ok((
            CpuStorage::F32(out),
            Shape::from((b, self.heads, s, h / self.heads)),
        ))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let merge = MergeHeads { heads: self.heads };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&merge)?))
    }
}

impl CustomOp1 for MergeHeads {
    fn name(&self) -> &'static str {
        "merge-heads"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(st, l, self.name())?;
        let (b, heads, s, d) = l.shape().dims4()?;
        if heads != self.heads {
            candle_core::bail!("merge-heads: {heads} heads, expected {}", self.heads);
        }
        let out = permute_heads(x, (b, s, heads * d), heads, false);
        Ok((CpuStorage::F32(out), Shape::from((b, s, heads * d))))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let split = SplitHeads { heads: self.heads };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&split)?))
    }
}

/// `[b, s, heads·d]` → `[b, heads, s, d]`, differentiable.
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(SplitHeads { heads })
}

/// `[b, heads, s, d]` → `[b, s, heads·d]`, differentiable.
pub fn merge_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MergeHeads { heads })
}
