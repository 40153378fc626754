//! Truncated SVD on model weights (nalgebra, in f64): the best rank-k factorisations that
//! `bottleneck:` and `factor:` initialise their narrower matrices with.

use super::ModelError;
use candle_core::{Device, Tensor};
use nalgebra::DMatrix;

/// `(P, Q)` with `P · Qᵀ` the best rank-`k` approximation of `m` (`P` m × k, `Q` n × k).
/// A long matrix is first reduced to its square QR factor (an FFN's 1536 × 384 then costs a
/// 384 × 384 SVD: MiniLM's six layers take 4 s instead of 9).
pub fn factor(m: &DMatrix<f64>, k: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    if m.nrows() > m.ncols() {
        let (q, r) = m.clone().qr().unpack();
        let (p, v) = factor_square(&r, k);
        return (q * p, v);
    }
    if m.ncols() > m.nrows() {
        let (v, p) = factor(&m.transpose(), k);
        return (p, v);
    }
    factor_square(m, k)
}

/// `factor` by the SVD itself, singular values sorted.
fn factor_square(m: &DMatrix<f64>, k: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let svd = m.clone().svd(true, true);
    let (u, v_t) = match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => (u, v_t),
        // nalgebra computes both when asked; an empty pair only for an empty matrix.
        _ => return (DMatrix::zeros(m.nrows(), k), DMatrix::zeros(m.ncols(), k)),
    };
    let s = &svd.singular_values;
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    let mut p = DMatrix::zeros(m.nrows(), k);
    let mut q = DMatrix::zeros(m.ncols(), k);
    for (j, &i) in order.iter().take(k).enumerate() {
        let root = s[i].sqrt();
        p.set_column(j, &(u.column(i) * root));
        q.set_column(j, &(v_t.row(i).transpose() * root));
    }
    (p, q)
}

/// `(P, Q)` with `P · Qᵀ` the best rank-`k` approximation of `a · bᵀ` (`a` m × r, `b` n × r),
/// through the QR factors of `a` and `b`.
pub fn factor_product(
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    k: usize,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let (qa, ra) = a.clone().qr().unpack();
    let (qb, rb) = b.clone().qr().unpack();
    let (p, q) = factor(&(ra * rb.transpose()), k);
    (qa * p, qb * q)
}

pub fn to_matrix(t: &Tensor) -> Result<DMatrix<f64>, ModelError> {
    let t = t.to_dtype(candle_core::DType::F64)?;
    Ok(match t.dims() {
        [n] => DMatrix::from_column_slice(*n, 1, &t.to_vec1::<f64>()?),
        [r, c] => DMatrix::from_row_slice(*r, *c, &t.flatten_all()?.to_vec1::<f64>()?),
        dims => {
            return Err(ModelError::Config(format!(
                "expected a matrix, got {dims:?}"
            )));
        }
    })
}

/// A bias (a column vector) becomes a 1-D tensor, a weight a 2-D one (row-major).
pub fn to_tensor(m: &DMatrix<f64>, bias: bool, device: &Device) -> Result<Tensor, ModelError> {
    // Column-major iteration of the transpose is the row-major order of `m`.
    let values: Vec<f32> = m.transpose().iter().map(|&v| v as f32).collect();
    Ok(match bias {
        true => Tensor::from_vec(values, m.nrows(), device)?,
        false => Tensor::from_vec(values, (m.nrows(), m.ncols()), device)?,
    })
}
