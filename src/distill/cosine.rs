//! Cosine loss on pooled vectors: mean over the batch of 1 − cos(student, teacher).

use super::check_same;
use candle_core::{D, Result, Tensor};

pub fn cosine(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    check_same("cosine", student, teacher)?;
    let dot = (student * teacher)?.sum(D::Minus1)?;
    let norm = |x: &Tensor| x.sqr()?.sum(D::Minus1)?.sqrt();
    let cos = (dot / (norm(student)? * norm(teacher)?)?.clamp(1e-8, f64::MAX)?)?;
    (cos.neg()? + 1.0)?.mean_all()
}
