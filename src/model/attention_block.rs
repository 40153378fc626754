//! Inference attention without the attention matrix in memory: one task per (contract, head)
//! computes its scores, softmax and context in a block that stays in cache, reading q, k and
//! v in the layout the dense layers wrote them (`[batch, seq, heads·d]`) and writing the
//! context straight into that layout. The materialised path reads and writes each
//! `[batch, heads, seq, seq]` tensor three times (50 MB per layer at 16 × 256).
//!
//! Inference only (no backward); training, and any caller that asks for the attention
//! scores, use the materialised path.

use super::fused::{exp_row_softmax, fusable};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct BlockAttention {
    heads: usize,
    scale: f32,
    masked: f32,
    /// `[batch, seq]` 0/1.
    mask: Vec<f32>,
}

fn values<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("block attention: contiguous f32 inputs only"),
    }
}

impl CustomOp3 for BlockAttention {
    fn name(&self) -> &'static str {
        "block-attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (q, k, v) = (values(sq, lq)?, values(sk, lk)?, values(sv, lv)?);
        let (b, s, h) = lq.shape().dims3()?;
        if lk.dims() != lq.dims() || lv.dims() != lq.dims() || self.mask.len() != b * s {
            candle_core::bail!("block attention: q, k, v and mask shapes disagree");
        }
        let d = h / self.heads;
        let mut out = vec![0f32; q.len()];
        // Tasks write disjoint column blocks of the same rows, so they share the buffer by
        // address; each (contract, head) pair is written by exactly one task.
        let out_addr = out.as_mut_ptr() as usize;
        (0..b * self.heads).into_par_iter().for_each(|task| {
            let (bi, hi) = (task / self.heads, task % self.heads);
            let base = bi * s * h + hi * d;
            let mut scores = vec![0f32; s * s];
            // SAFETY: the pointers address q, k, v (s rows of d at stride h from `base`) and
            // this task's block of `out`, all in bounds; gemm writes only `scores` and that
            // block.
            unsafe {
                gemm::gemm(
                    s,
                    s,
                    d,
                    scores.as_mut_ptr(),
                    1,
                    s as isize,
                    false,
                    q.as_ptr().add(base),
                    1,
                    h as isize,
                    k.as_ptr().add(base),
                    h as isize,
                    1,
                    0.0,
                    self.scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let mask = &self.mask[bi * s..(bi + 1) * s];
            for row in scores.chunks_mut(s) {
                for (x, &m) in row.iter_mut().zip(mask) {
                    *x += (1.0 - m) * self.masked;
                }
                exp_row_softmax(row);
            }
            unsafe {
                gemm::gemm(
                    s,
                    d,
                    s,
                    (out_addr as *mut f32).add(base),
                    1,
                    h as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    s as isize,
                    v.as_ptr().add(base),
                    1,
                    h as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
        Ok((CpuStorage::F32(out), lq.shape().clone()))
    }
}

/// The attention context `softmax(q·kᵀ · scale + mask) · v` per head, for inference: q, k, v
/// `[batch, seq, heads·d]` as the dense layers give them, `mask` `[batch, seq]` of 0/1; the
/// result is `[batch, seq, heads·d]`. `None` when the inputs are not CPU f32.
pub fn block_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    heads: usize,
    scale: f64,
    masked: f64,
) -> Result<Option<Tensor>> {
    if !fusable(q) {
        return Ok(None);
    }
    let op = BlockAttention {
        heads,
        scale: scale as f32,
        masked: masked as f32,
        mask: mask.flatten_all()?.to_vec1::<f32>()?,
    };
    Ok(Some(q.contiguous()?.apply_op3_no_bwd(
        &k.contiguous()?,
        &v.contiguous()?,
        &op,
    )?))
}
