//! Inference attention without the attention matrix in memory: one task per (contract, head)
//! computes its scores, softmax and context in a block that stays in cache, reading q, k and
//! v in the layout the dense layers wrote them (`[batch, seq, heads·d]`) and writing the
//! context straight into that layout. The materialised path reads and writes each
//! `[batch, heads, seq, seq]` tensor three times (50 MB per layer at 16 × 256).
//!
//! Inference only (no backward); training, and any caller that asks for the attention
//! scores, use the materialised path.

use super::fused::{fusable, slice, softmax_rows_with_bias};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct BlockAttention {
    heads: usize,
    scale: f32,
    /// `[batch, seq]`: 0 for tokens, the masked score for padding.
    additive: Vec<f32>,
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
        let (q, k, v) = (
            slice(sq, lq, self.name())?,
            slice(sk, lk, self.name())?,
            slice(sv, lv, self.name())?,
        );
        let (b, s, h) = lq.shape().dims3()?;
        if lk.dims() != lq.dims() || lv.dims() != lq.dims() || self.additive.len() != b * s {
            candle_core::bail!("block attention: q, k, v and mask shapes disagree");
        }
        let d = h / self.heads.max(1);
        if d * self.heads != h {
            candle_core::bail!(
                "block attention: {h} features do not split into {} heads",
                self.heads
            );
        }
        // Every element of `out` is written by exactly one task's second product (which
        // does not read it), so it is not zero-filled first.
        let mut out: Vec<f32> = Vec::with_capacity(q.len());
        let inputs = Inputs {
            q,
            k,
            v,
            seq: s,
            width: h,
            head_dim: d,
            scale: self.scale,
        };
        // Tasks write disjoint column blocks of the same rows, so they share the buffer by
        // address; each (contract, head) pair is written by exactly one task.
        let out_addr = out.spare_capacity_mut().as_mut_ptr() as usize;
        (0..b * self.heads).into_par_iter().for_each(|task| {
            let (bi, hi) = (task / self.heads, task % self.heads);
            let base = bi * s * h + hi * d;
            SCORES.with_borrow_mut(|scores| {
                // One block per thread, reused: a fresh zeroed block per task was 2 % of an
                // inference step in memset.
                scores.resize(s * s, 0.0);
                block(
                    &inputs,
                    base,
                    &self.additive[bi * s..(bi + 1) * s],
                    scores,
                    out_addr,
                );
            });
        });
        // SAFETY: the tasks above wrote all `q.len()` elements (b · heads blocks of s × d).
        unsafe { out.set_len(q.len()) };
        Ok((CpuStorage::F32(out), lq.shape().clone()))
    }
}

thread_local! {
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What every task reads: q, k, v `[batch, seq, width]` (width = heads · head_dim) and the
/// score scale.
struct Inputs<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    seq: usize,
    width: usize,
    head_dim: usize,
    scale: f32,
}

/// One (contract, head) block, starting `base` elements into q, k, v and `out`: scores,
/// softmax, and its context written into `out`.
fn block(inputs: &Inputs, base: usize, additive: &[f32], scores: &mut [f32], out_addr: usize) {
    let Inputs {
        q,
        k,
        v,
        seq: s,
        width: h,
        head_dim: d,
        scale,
    } = *inputs;
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
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    softmax_rows_with_bias(scores, additive);
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
        additive: (mask.flatten_all()?.to_vec1::<f32>()?.into_iter())
            .map(|m| (1.0 - m) * masked as f32)
            .collect(),
    };
    Ok(Some(q.contiguous()?.apply_op3_no_bwd(
        &k.contiguous()?,
        &v.contiguous()?,
        &op,
    )?))
}
