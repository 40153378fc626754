//! Response-based terms on logits: temperature-softened KL, hard cross-entropy, their
//! alpha-weighted sum, and logit MSE.

use super::check_same;
use candle_core::{D, Result, Tensor};
use candle_nn::ops::log_softmax;

/// KL(softmax(teacher/T) ‖ softmax(student/T)), mean over the batch, times T² (Hinton et al.:
/// keeps the soft gradients' scale independent of T).
pub fn soft_kl_t2(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    check_same("soft_kl", student, teacher)?;
    let (batch, _) = student.dims2()?;
    let log_s = log_softmax(&(student / temperature)?, D::Minus1)?;
    let log_t = log_softmax(&(teacher / temperature)?, D::Minus1)?;
    let kl = (log_t.exp()? * (log_t - log_s)?)?.sum_all()?;
    (kl / batch as f64)? * (temperature * temperature)
}

/// Cross-entropy of the student's logits with the labels (mean).
pub fn hard_ce(student: &Tensor, labels: &[usize]) -> Result<Tensor> {
    crate::train::loss::cross_entropy(student, labels, None)
}

/// `alpha · soft_kl_t2 + (1 − alpha) · hard_ce`: alpha weighs the teacher.
pub fn response(
    student: &Tensor,
    teacher: &Tensor,
    labels: &[usize],
    alpha: f64,
    temperature: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let soft = soft_kl_t2(student, teacher, temperature)?;
    let hard = hard_ce(student, labels)?;
    let total = ((&soft * alpha)? + (&hard * (1.0 - alpha))?)?;
    Ok((total, soft, hard))
}

/// Mean squared difference of the logits.
pub fn logit_mse(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    check_same("logit_mse", student, teacher)?;
    (student - teacher)?.sqr()?.mean_all()
}
