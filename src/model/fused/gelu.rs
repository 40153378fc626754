//! The fused kernel for GELU with the exact erf, as BERT uses.

use super::math::exp;
use super::{MIN_ELEMS_PER_TASK, simd, slice};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

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
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (ov, &xv) in o.iter_mut().zip(xc) {
                            *ov = gelu(xv);
                        }
                    },
                )
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
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for ((ov, &xv), &gv) in o.iter_mut().zip(xc).zip(gc) {
                            let e = exp(-0.5 * xv * xv);
                            let cdf = 0.5 * (1.0 + erf_with_exp(xv * FRAC_1_SQRT_2, e));
                            let pdf = FRAC_1_SQRT_2PI * e;
                            *ov = gv * (cdf + xv * pdf);
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// GELU(x) = x · Φ(x), the one formula both loops above and below use.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// GELU in place, for an inference output nothing else reads yet.
pub fn gelu_erf_in_place(x: &mut [f32]) {
    x.par_chunks_mut(MIN_ELEMS_PER_TASK).for_each(|c| {
        simd::dispatch(
            #[inline(always)]
            || {
                for v in c.iter_mut() {
                    *v = gelu(*v);
                }
            },
        )
    });
}

/// GELU with the exact erf (`hidden_act = "gelu"`), differentiable.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluErf)
}

/// erf(z) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, f32's own resolution near
/// 1), given e = exp(−z²) — the backward pass has it already. libm's `erff` was 7 % of a
/// training step.
#[inline(always)]
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

#[inline(always)]
fn erf(z: f32) -> f32 {
    erf_with_exp(z, exp(-z * z))
}
