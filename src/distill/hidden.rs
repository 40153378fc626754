//! Hidden-state (and embedding-layer) MSE through a learned projection from the student's
//! width to the teacher's (TinyBERT's `W_h`), trained with the student.

use candle_core::{Module, Result, Tensor};
use candle_nn::Linear;

/// MSE(student · Wᵀ + b, teacher), mean over every element.
pub fn projected_mse(student: &Tensor, teacher: &Tensor, projection: &Linear) -> Result<Tensor> {
    let projected = projection.forward(student)?;
    if projected.dims() != teacher.dims() {
        candle_core::bail!(
            "hidden_mse: projected student {:?} (from {:?}) does not match teacher {:?}",
            projected.dims(),
            student.dims(),
            teacher.dims()
        );
    }
    (projected - teacher)?.sqr()?.mean_all()
}

/// The training-loop form: the mean over real tokens only (`mask` `[windows, seq]` of 0/1), so
/// the value does not depend on how much padding a batch happens to carry. With no padding it
/// equals [`projected_mse`]. `projection` is `None` when both widths agree.
pub fn masked_mse(
    student: &Tensor,
    teacher: &Tensor,
    projection: Option<&Linear>,
    mask: &Tensor,
) -> Result<Tensor> {
    let projected = match projection {
        Some(p) => p.forward(student)?,
        None => student.clone(),
    };
    if projected.dims() != teacher.dims() {
        candle_core::bail!(
            "hidden_mse: student {:?} does not match teacher {:?}",
            projected.dims(),
            teacher.dims()
        );
    }
    let width = teacher.dim(candle_core::D::Minus1)? as f64;
    let m = mask.unsqueeze(candle_core::D::Minus1)?;
    let sq = (projected - teacher)?.sqr()?.broadcast_mul(&m)?.sum_all()?;
    sq.div(&(mask.sum_all()? * width)?)
}
