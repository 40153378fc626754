//! Fused CPU kernels with their backward passes, as candle custom ops: masked scaled softmax,
//! layer normalisation, erf-GELU and the bias of a dense layer. Composed from candle's elementwise ops, each of these is
//! 4–10 passes over the activations, each allocating, most on one thread; fused, the forward
//! is one pass and the backward one or two, split across the thread pool by rows.
//!
//! Only f32 contiguous CPU tensors take the fused path; anything else (a GPU device, another
//! dtype) gets the composition in `ops`, which computes the same function.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor,
};
use rayon::prelude::*;

/// Rows per parallel task: enough work per task to amortise scheduling.
const MIN_ELEMS_PER_TASK: usize = 16 * 1024;

fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let all = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{op}: f32 only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&all[a..b]),
        None => candle_core::bail!("{op}: contiguous input only"),
    }
}

/// A tensor's values as one contiguous f32 slice, for a backward pass that needs several.
pub fn with_values<R>(t: &Tensor, op: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout, op)?),
        _ => candle_core::bail!("{op}: CPU tensors only"),
    }
}

/// Whether the fused kernels apply to `t`.
pub fn fusable(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// Lanes of the reductions below: eight independent accumulators, so the compiler vectorises
/// them and each add waits on the one eight back, not on the previous (a plain `iter().sum()`
/// of f32 is one serial chain of adds: 4 ms per attention layer in softmax alone).
const LANES: usize = 8;

fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(acc.iter())
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

fn rows_per_task(row: usize) -> usize {
    MIN_ELEMS_PER_TASK.div_ceil(row.max(1)).max(1)
}

// ---------------------------------------------------------------------------------------------
// softmax(x · scale + (1 − mask) · masked) over the last dimension

/// `x`: `[batch, …, keys]` raw attention scores; `mask`: `[batch, keys]`, 1 for tokens, 0 for
/// padding. Padded keys get `masked` added before the softmax (exactly what adding the
/// broadcast additive mask does).
struct MaskedSoftmax {
    scale: f32,
    masked: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let mask = slice(s2, l2, self.name())?;
        let dims = l1.dims();
        let keys = *dims.last().unwrap_or(&1);
        let batch = dims.first().copied().unwrap_or(1);
        if mask.len() != batch * keys {
            candle_core::bail!("masked-softmax: mask of {} for {dims:?}", mask.len());
        }
        let rows_per_batch = x.len() / (batch * keys).max(1);
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(keys) * keys;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .enumerate()
            .for_each(|(task, (o, xin))| {
                let first_row = task * chunk / keys;
                for (r, (orow, xrow)) in o.chunks_mut(keys).zip(xin.chunks(keys)).enumerate() {
                    let b = (first_row + r) / rows_per_batch;
                    let m = &mask[b * keys..(b + 1) * keys];
                    for ((ov, &xv), &mv) in orow.iter_mut().zip(xrow).zip(m) {
                        *ov = xv * self.scale + (1.0 - mv) * self.masked;
                    }
                    exp_row_softmax(orow);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx =
            res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBackward { scale: self.scale })?;
        Ok((Some(dx), None))
    }
}

/// One row's softmax in place (the scores already scaled and masked).
pub fn exp_row_softmax(row: &mut [f32]) {
    let top = max(row);
    for v in row.iter_mut() {
        *v = exp(*v - top);
    }
    let inv = 1.0 / sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// dx = scale · y ⊙ (g − Σ g ⊙ y), row by row.
struct SoftmaxBackward {
    scale: f32,
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "masked-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = slice(s1, l1, self.name())?;
        let g = slice(s2, l2, self.name())?;
        let keys = *l1.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; y.len()];
        let chunk = rows_per_task(keys) * keys;
        out.par_chunks_mut(chunk)
            .zip(y.par_chunks(chunk).zip(g.par_chunks(chunk)))
            .for_each(|(o, (yc, gc))| {
                for ((orow, yrow), grow) in
                    o.chunks_mut(keys).zip(yc.chunks(keys)).zip(gc.chunks(keys))
                {
                    let yg = dot(yrow, grow);
                    for ((ov, &yv), &gv) in orow.iter_mut().zip(yrow).zip(grow) {
                        *ov = self.scale * yv * (gv - yg);
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Attention probabilities `softmax(x · scale + (1 − mask) · masked)` over the last dimension,
/// `mask` `[batch, keys]` of 0/1. Differentiable in `x`.
pub fn masked_softmax(x: &Tensor, mask: &Tensor, scale: f64, masked: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(
        &mask.contiguous()?,
        MaskedSoftmax {
            scale: scale as f32,
            masked: masked as f32,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// layer normalisation over the last dimension

struct LayerNormOp {
    eps: f32,
}

/// Mean and 1/σ of one row (population variance, as PyTorch's layer norm).
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let var = (acc.iter().sum::<f32>() + tail) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let b = slice(s3, l3, self.name())?;
        let h = w.len();
        if b.len() != h || x.len() % h.max(1) != 0 {
            candle_core::bail!(
                "layer-norm: weight {h}, bias {}, input {:?}",
                b.len(),
                l1.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(h) * h;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, xc)| {
                for (orow, xrow) in o.chunks_mut(h).zip(xc.chunks(h)) {
                    let (mean, rstd) = row_stats(xrow, self.eps);
                    for i in 0..h {
                        orow[i] = (xrow[i] - mean) * rstd * w[i] + b[i];
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = w.elem_count();
        let (dx, dw, db) = with_values(x, self.name(), |x| {
            with_values(w, self.name(), |w| {
                with_values(grad, self.name(), |g| {
                    Ok(layer_norm_backward(x, w, g, h, self.eps))
                })
            })
        })?;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, w.shape(), dev)?),
        ))
    }
}

/// x̂ = (x − μ)·rstd; dw = Σ g ⊙ x̂, db = Σ g over rows;
/// dx = rstd · (g ⊙ w − mean(g ⊙ w) − x̂ · mean(g ⊙ w ⊙ x̂)).
fn layer_norm_backward(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    h: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0f32; x.len()];
    let chunk = rows_per_task(h) * h;
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(g.par_chunks(chunk)))
        .map(|(dxc, (xc, gc))| {
            let (mut dw, mut db) = (vec![0f32; h], vec![0f32; h]);
            let (mut xhat, mut gw) = (vec![0f32; h], vec![0f32; h]);
            for ((dxrow, xrow), grow) in dxc.chunks_mut(h).zip(xc.chunks(h)).zip(gc.chunks(h)) {
                let (mean, rstd) = row_stats(xrow, eps);
                for i in 0..h {
                    xhat[i] = (xrow[i] - mean) * rstd;
                    gw[i] = grow[i] * w[i];
                    dw[i] += grow[i] * xhat[i];
                    db[i] += grow[i];
                }
                let (mean_gw, mean_gwx) = (sum(&gw) / h as f32, dot(&gw, &xhat) / h as f32);
                for i in 0..h {
                    dxrow[i] = rstd * (gw[i] - mean_gw - xhat[i] * mean_gwx);
                }
            }
            (dw, db)
        })
        .collect();
    let (mut dw, mut db) = (vec![0f32; h], vec![0f32; h]);
    for (pw, pb) in partial {
        for i in 0..h {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
    (dx, dw, db)
}

/// Layer normalisation over the last dimension, differentiable in all three inputs.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNormOp { eps: eps as f32 },
    )
}

// ---------------------------------------------------------------------------------------------
// GELU with the exact erf, as BERT uses

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π)
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(x.par_chunks(MIN_ELEMS_PER_TASK))
            .for_each(|(o, xc)| {
                for (ov, &xv) in o.iter_mut().zip(xc) {
                    *ov = 0.5 * xv * (1.0 + erf(xv * FRAC_1_SQRT_2));
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            x.contiguous()?
                .apply_op2_no_bwd(&grad.contiguous()?, &GeluErfBackward)?,
        ))
    }
}

/// d/dx GELU = Φ(x) + x·φ(x).
struct GeluErfBackward;

impl CustomOp2 for GeluErfBackward {
    fn name(&self) -> &'static str {
        "gelu-erf-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let g = slice(s2, l2, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(
                x.par_chunks(MIN_ELEMS_PER_TASK)
                    .zip(g.par_chunks(MIN_ELEMS_PER_TASK)),
            )
            .for_each(|(o, (xc, gc))| {
                for ((ov, &xv), &gv) in o.iter_mut().zip(xc).zip(gc) {
                    let e = exp(-0.5 * xv * xv);
                    let cdf = 0.5 * (1.0 + erf_with_exp(xv * FRAC_1_SQRT_2, e));
                    let pdf = FRAC_1_SQRT_2PI * e;
                    *ov = gv * (cdf + xv * pdf);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// GELU with the exact erf (`hidden_act = "gelu"`), differentiable.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluErf)
}

/// erf(z) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, f32's own resolution near
/// 1), given e = exp(−z²) — the backward pass has it already. libm's `erff` was 7 % of a
/// training step.
fn erf_with_exp(z: f32, e: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = z.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * e).copysign(z)
}

fn erf(z: f32) -> f32 {
    erf_with_exp(z, exp(-z * z))
}

/// e^x in plain arithmetic the compiler vectorises (libm's `expf` is a call per element: 6 %
/// of an inference step in softmax alone): x = k·ln 2 + r, |r| ≤ ln 2 / 2, e^r by its Taylor
/// polynomial to degree 7 (relative error < 2e-7), 2^k built in the exponent bits. Below −87
/// the result is exactly 0, as `expf` underflows there too — so masked keys stay exactly 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 88.0);
    let k = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    let scale = f32::from_bits(((k as i32 + 127) << 23) as u32);
    if x < -87.0 { 0.0 } else { p * scale }
}

// ---------------------------------------------------------------------------------------------
// x + bias over the last dimension

/// `x [.., n] + bias [n]`. candle's broadcast add reduces the bias gradient over the leading
/// dimensions with a strided reduction (7 % of a training step); here it is a row-parallel
/// column sum.
struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let b = slice(s2, l2, self.name())?;
        let n = b.len();
        if n == 0 || x.len() % n != 0 {
            candle_core::bail!("add-bias: bias {n} for {:?}", l1.dims());
        }
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(n) * n;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, xc)| {
                for (orow, xrow) in o.chunks_mut(n).zip(xc.chunks(n)) {
                    for ((ov, &xv), &bv) in orow.iter_mut().zip(xrow).zip(b) {
                        *ov = xv + bv;
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = bias.elem_count();
        let db = with_values(grad, self.name(), |g| Ok(column_sums(g, n)))?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, bias.shape(), bias.device())?),
        ))
    }
}

/// Σ over rows of a row-major `[rows, n]` matrix, rows split across the pool. The partial sums
/// are added in chunk order, not in whatever order the threads finish: a run with one seed
/// gives the same weights bit for bit.
fn column_sums(g: &[f32], n: usize) -> Vec<f32> {
    let chunk = rows_per_task(n) * n;
    let partials: Vec<Vec<f32>> = g
        .par_chunks(chunk)
        .map(|gc| {
            let mut acc = vec![0f32; n];
            for row in gc.chunks(n) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0f32; n];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// `x + bias` over the last dimension, differentiable in both.
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&bias.contiguous()?, AddBias)
}

/// A dense layer `x · Wᵀ + b` (the product on candle's matmul, the bias fused) — candle-nn's
/// `Linear` with the bias gradient computed fast.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (k, n) = (weight.dim(1)?, weight.dim(0)?);
    let rows = x.elem_count() / k.max(1);
    let y = x.contiguous()?.reshape((rows, k))?.matmul(&weight.t()?)?;
    let y = match bias {
        Some(b) if fusable(&y) => add_bias(&y, b)?,
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = n;
    }
    y.reshape(out_dims)
}

// ---------------------------------------------------------------------------------------------
// attention heads: [batch, seq, heads·d] ↔ [batch, heads, seq, d]

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

// ---------------------------------------------------------------------------------------------
// dropout

/// The uniform draw in [0, 1) rand makes of one word (24 high bits), so a word drops its
/// element exactly when `SeededRng::dropout_mask` would.
fn uniform(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
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
                for ((ov, &xv), &w) in o.iter_mut().zip(xc).zip(wc) {
                    *ov = if uniform(w) < self.p { 0.0 } else { xv * keep };
                }
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

// ---------------------------------------------------------------------------------------------
// the optimizer's arithmetic

/// Σ x² of a tensor in one parallel pass (gradient clipping's norm).
pub fn sum_of_squares(t: &Tensor) -> Result<f64> {
    with_values(t, "sum-of-squares", |x| {
        // Partials summed in chunk order, for the same result on every run.
        let partials: Vec<f64> = x
            .par_chunks(MIN_ELEMS_PER_TASK)
            .map(|c| c.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())
            .collect();
        Ok(partials.iter().sum())
    })
}

/// One AdamW update of one parameter, as `torch.optim.AdamW` computes it, in one pass:
/// w ← w·(1 − lr·wd); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// w ← w − lr · (m / bias₁) / (√(v / bias₂) + ε). Returns the new (w, m, v).
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    pub lr: f32,
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub eps: f32,
    /// Gradient clipping's factor, applied on the fly.
    pub grad_scale: f32,
}

pub fn adamw_update(
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    p: AdamWStep,
) -> Result<(Tensor, Tensor, Tensor)> {
    let n = w.elem_count();
    let (mut nw, mut nm, mut nv) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    with_values(w, "adamw", |w| {
        with_values(g, "adamw", |g| {
            with_values(m, "adamw", |m| {
                with_values(v, "adamw", |v| {
                    let c = MIN_ELEMS_PER_TASK;
                    nw.par_chunks_mut(c)
                        .zip(nm.par_chunks_mut(c))
                        .zip(nv.par_chunks_mut(c))
                        .enumerate()
                        .for_each(|(i, ((ow, om), ov))| {
                            let r = i * c..(i * c + ow.len());
                            let (w, g, m, v) = (&w[r.clone()], &g[r.clone()], &m[r.clone()], &v[r]);
                            for j in 0..ow.len() {
                                let gj = g[j] * p.grad_scale;
                                let mj = p.beta1 * m[j] + (1.0 - p.beta1) * gj;
                                let vj = p.beta2 * v[j] + (1.0 - p.beta2) * gj * gj;
                                let denom = (vj / p.bias2).sqrt() + p.eps;
                                ow[j] =
                                    w[j] * (1.0 - p.lr * p.decay) - p.lr * (mj / p.bias1) / denom;
                                om[j] = mj;
                                ov[j] = vj;
                            }
                        });
                    Ok(())
                })
            })
        })
    })?;
    let (shape, dev) = (w.shape(), w.device());
    Ok((
        Tensor::from_vec(nw, shape, dev)?,
        Tensor::from_vec(nm, shape, dev)?,
        Tensor::from_vec(nv, shape, dev)?,
    ))
}
