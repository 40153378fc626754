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
