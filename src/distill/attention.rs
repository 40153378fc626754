//! Attention transfer: TinyBERT's MSE on pre-softmax scores, and KL between attention
//! distributions.

use super::check_same;
use crate::model::ops::softmax_last_dim;
use candle_core::{D, Result, Tensor};

/// TinyBERT (`task_distill.py`): scores at or below −100 (masked keys) count as 0 on both
/// sides, then MSE over every element.
pub fn score_mse(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    check_same("attention_score_mse", student, teacher)?;
    let clean = |x: &Tensor| -> Result<Tensor> {
        let keep = x.gt(-100.0)?;
        keep.where_cond(x, &x.zeros_like()?)
    };
    (clean(student)? - clean(teacher)?)?.sqr()?.mean_all()
}

/// KL(teacher ‖ student) of the attention distributions over keys (+1e-12 inside the logs),
/// averaged over the valid query rows (`mask` `[batch, seq]` = 1) of every batch and head.
pub fn prob_kl(student_scores: &Tensor, teacher_scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_same("attention_prob_kl", student_scores, teacher_scores)?;
    let (_, heads, _, _) = student_scores.dims4()?;
    let p_s = softmax_last_dim(student_scores)?;
    let p_t = softmax_last_dim(teacher_scores)?;
    let kl = (&p_t * ((&p_t + 1e-12)?.log()? - (p_s + 1e-12)?.log()?)?)?.sum(D::Minus1)?;
    let rows = mask.unsqueeze(1)?;
    let total = kl.broadcast_mul(&rows)?.sum_all()?;
    let count = (mask.sum_all()? * heads as f64)?;
    total.div(&count)
}

/// The training-loop form of [`score_mse`]: padded query rows are left out (masked keys are 0
/// on both sides already), and the mean runs over the real (query, key) pairs of every head,
/// so the value does not depend on a batch's padding. With no padding it equals `score_mse`.
pub fn masked_score_mse(student: &Tensor, teacher: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_same("attention_score_mse", student, teacher)?;
    let (_, heads, _, _) = student.dims4()?;
    let clean = |x: &Tensor| -> Result<Tensor> {
        let keep = x.gt(-100.0)?;
        keep.where_cond(x, &x.zeros_like()?)
    };
    let rows = mask.unsqueeze(1)?.unsqueeze(D::Minus1)?;
    let sq = (clean(student)? - clean(teacher)?)?
        .sqr()?
        .broadcast_mul(&rows)?
        .sum_all()?;
    // Σ over windows of (real tokens)², times heads.
    let pairs = (mask.sum(D::Minus1)?.sqr()?.sum_all()? * heads as f64)?;
    sq.div(&pairs)
}
