//! The int8 product `y += (x · Wᵀ)` for per-output-channel symmetric int8 weights and
//! activations quantised per row on the fly, asymmetrically: each row's range [min, max] in
//! 254 steps with a zero point, so a GELU output (almost all of it ≥ 0) gets twice the
//! resolution a symmetric code would give it, and no value ever needs clamping.
//!
//! Integer sums are exact, so every path (AVX-512 VNNI, portable) gives bit-identical
//! results. VNNI's `vpdpbusd` multiplies unsigned by signed bytes, four at a time into each
//! 32-bit lane: activations are `u8` codes `a` with `x ≈ (a − z) · s`, and `z · Σₖ w[n,k]`
//! (the column sums kept at packing) is taken off again.
//!
//! Weights are packed once into panels of 16 output columns: for each group of 4 inputs, the
//! 16 columns' 4 bytes side by side, one 64-byte vector per group.

use rayon::prelude::*;

/// Output columns per panel (one 512-bit vector of i32 lanes).
pub const PANEL: usize = 16;
/// Inputs per lane of `vpdpbusd`.
const GROUP: usize = 4;
/// Rows of one microkernel call.
const ROWS: usize = 8;

/// A weight matrix `[n, k]` as int8 panels, with its per-column scales.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedInt8 {
    pub n: usize,
    pub k: usize,
    /// `k` rounded up to a multiple of 4.
    kp: usize,
    panels: Vec<i8>,
    /// Per output column: `w[n, k] ≈ q[n, k] · scale[n]`.
    pub scale: Vec<f32>,
    /// Per output column (padded to panels): `Σₖ q[n, k]`.
    sums: Vec<i32>,
}

impl PackedInt8 {
    /// Packs row-major `q` (`[n, k]` int8) with its scales.
    pub fn pack(q: &[i8], scale: Vec<f32>, n: usize, k: usize) -> Self {
        let kp = k.div_ceil(GROUP) * GROUP;
        let np = n.div_ceil(PANEL) * PANEL;
        let mut panels = vec![0i8; np * kp];
        let mut sums = vec![0i32; np];
        for col in 0..n {
            let row = &q[col * k..(col + 1) * k];
            sums[col] = row.iter().map(|&v| i32::from(v)).sum::<i32>();
            let (p, lane) = (col / PANEL, col % PANEL);
            for (i, &v) in row.iter().enumerate() {
                let (g, j) = (i / GROUP, i % GROUP);
                panels[p * kp * PANEL + g * PANEL * GROUP + lane * GROUP + j] = v;
            }
        }
        Self {
            n,
            k,
            kp,
            panels,
            scale,
            sums,
        }
    }

    fn panel(&self, p: usize) -> &[i8] {
        &self.panels[p * self.kp * PANEL..(p + 1) * self.kp * PANEL]
    }

    /// The int8 matrix `[n, k]` row-major, as it was packed.
    pub fn unpack(&self) -> Vec<i8> {
        (0..self.n).flat_map(|c| self.column(c)).collect()
    }

    /// The int8 values of column `col` (row `col` of the original matrix).
    pub fn column(&self, col: usize) -> Vec<i8> {
        let (p, lane) = (col / PANEL, col % PANEL);
        let panel = self.panel(p);
        (0..self.k)
            .map(|i| panel[(i / GROUP) * PANEL * GROUP + lane * GROUP + i % GROUP])
            .collect()
    }
}

/// Activations quantised per row: `x[r, i] ≈ (a[r, i] − zero[r]) · scale[r]`, rows padded to
/// `kp` (the padding meets zero weights).
pub struct QuantRows {
    a: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    kp: usize,
}

/// Per-row quantisation of `x` (`rows × k`, row-major): the step is (max − min) / 254 — never
/// more than a symmetric code's max|x| / 127 — and the zero point z = round(−min / step), so
/// x / step + z lies in [−0.5, 254.5] and rounds into [0, 255].
pub fn quantize_rows(x: &[f32], k: usize, kp: usize) -> QuantRows {
    let rows = x.len() / k.max(1);
    let mut a = vec![0u8; rows * kp];
    let mut scale = vec![0f32; rows];
    let mut zero = vec![0i32; rows];
    a.par_chunks_mut(kp)
        .zip(scale.par_iter_mut().zip(zero.par_iter_mut()))
        .zip(x.par_chunks(k))
        .for_each(|((out, (s, z)), row)| {
            let (lo, hi) = row
                .iter()
                .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let step = (hi - lo) / 254.0;
            let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
            let zp = (-lo * inv + 0.5).floor();
            *s = step;
            *z = zp as i32;
            // Truncating a value ≥ 0 after + 0.5 rounds it to nearest without a call to
            // `round`, which does not vectorise.
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v * inv + zp + 0.5) as u8;
            }
        });
    QuantRows { a, scale, zero, kp }
}

/// `out[r, c] += x[r] · w[c]` over every row of `x` (`out` is `rows × n`).
pub fn matmul_add(x: &[f32], w: &PackedInt8, out: &mut [f32]) {
    let q = quantize_rows(x, w.k, w.kp);
    let n = w.n;
    let rows = out.len() / n.max(1);
    let per_task = (64 / ROWS).max(1) * ROWS;
    out.par_chunks_mut(per_task * n)
        .enumerate()
        .for_each(|(t, chunk)| {
            let first = t * per_task;
            let count = chunk.len() / n;
            for block in (0..count).step_by(ROWS) {
                let m = ROWS.min(count - block);
                let r0 = first + block;
                let a = &q.a[r0 * q.kp..(r0 + m) * q.kp];
                let o = &mut chunk[block * n..(block + m) * n];
                rows_block(a, &q.scale[r0..r0 + m], &q.zero[r0..r0 + m], w, o);
            }
        });
    debug_assert_eq!(rows * n, out.len());
}

/// Up to `ROWS` rows against every panel, two panels at a time (each row's activations are
/// broadcast once for 32 columns).
fn rows_block(a: &[u8], a_scale: &[f32], a_zero: &[i32], w: &PackedInt8, out: &mut [f32]) {
    let m = a_scale.len();
    let panels = w.n.div_ceil(PANEL);
    let mut acc = [[[0i32; PANEL]; ROWS]; 2];
    let mut p = 0;
    while p < panels {
        let pair = usize::from(p + 1 < panels) + 1;
        dot_panels(a, m, w.kp, w, p, pair, &mut acc);
        for (j, acc_p) in acc.iter().enumerate().take(pair) {
            let first = (p + j) * PANEL;
            let cols = PANEL.min(w.n - first);
            for (r, acc_row) in acc_p.iter().enumerate().take(m) {
                let o = &mut out[r * w.n + first..r * w.n + first + cols];
                let scale = &w.scale[first..first + cols];
                let sums = &w.sums[first..first + cols];
                let (sx, zx) = (a_scale[r], a_zero[r]);
                for (((o, &v), &s), &sum) in o.iter_mut().zip(acc_row).zip(scale).zip(sums) {
                    *o += (v - zx * sum) as f32 * (sx * s);
                }
            }
        }
        p += pair;
    }
}

/// `acc[j][r][lane] = Σ a[r, i] · panel_{p+j}[i, lane]` for the first `m` rows and `count`
/// (1 or 2) panels.
fn dot_panels(
    a: &[u8],
    m: usize,
    kp: usize,
    w: &PackedInt8,
    p: usize,
    count: usize,
    acc: &mut [[[i32; PANEL]; ROWS]; 2],
) {
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        let second = (count == 2).then(|| w.panel(p + 1));
        // SAFETY: the CPU has AVX-512F and VNNI (checked once); the slices hold `m` rows of
        // `kp` bytes and `kp / 4` vectors of 64 bytes per panel.
        unsafe { vnni::dot_panels(a, m, kp, w.panel(p), second, acc) };
        return;
    }
    for (j, acc_p) in acc.iter_mut().enumerate().take(count) {
        portable_dot_panel(a, m, kp, w.panel(p + j), acc_p);
    }
}

/// `acc[r][lane] = Σ a[r, i] · panel[i, lane]` for the first `m` rows, in plain Rust.
fn portable_dot_panel(a: &[u8], m: usize, kp: usize, panel: &[i8], acc: &mut [[i32; PANEL]; ROWS]) {
    for (r, acc_row) in acc.iter_mut().enumerate().take(m) {
        let row = &a[r * kp..(r + 1) * kp];
        *acc_row = [0; PANEL];
        for (g, group) in panel.chunks_exact(PANEL * GROUP).enumerate() {
            let x = &row[g * GROUP..(g + 1) * GROUP];
            for (lane, w) in group.chunks_exact(GROUP).enumerate() {
                acc_row[lane] += x
                    .iter()
                    .zip(w)
                    .map(|(&xv, &wv)| i32::from(xv) * i32::from(wv))
                    .sum::<i32>();
            }
        }
    }
}

/// Whether the VNNI path runs (`ALAMBIC_INT8_PORTABLE=1` forces the portable one, for tests
/// and comparisons).
#[cfg(target_arch = "x86_64")]
fn vnni() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("ALAMBIC_INT8_PORTABLE").is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    })
}

/// The kernel `vnni()` selects, for benchmarks and messages.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        return "avx512-vnni";
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{GROUP, PANEL, ROWS};
    use std::arch::x86_64::*;

    /// Dispatches on the row count, so each kernel's accumulators are a fixed set of
    /// registers (indexed by a runtime count they would live on the stack).
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn dot_panels(
        a: &[u8],
        m: usize,
        kp: usize,
        first: &[i8],
        second: Option<&[i8]>,
        acc: &mut [[[i32; PANEL]; ROWS]; 2],
    ) {
        // SAFETY: as the caller's; each arm passes its own row count.
        unsafe {
            match m {
                8 => rows::<8>(a, kp, first, second, acc),
                7 => rows::<7>(a, kp, first, second, acc),
                6 => rows::<6>(a, kp, first, second, acc),
                5 => rows::<5>(a, kp, first, second, acc),
                4 => rows::<4>(a, kp, first, second, acc),
                3 => rows::<3>(a, kp, first, second, acc),
                2 => rows::<2>(a, kp, first, second, acc),
                _ => rows::<1>(a, kp, first, second, acc),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    #[inline]
    unsafe fn rows<const M: usize>(
        a: &[u8],
        kp: usize,
        first: &[i8],
        second: Option<&[i8]>,
        acc: &mut [[[i32; PANEL]; ROWS]; 2],
    ) {
        debug_assert!(a.len() >= M * kp && first.len() >= kp * PANEL);
        let groups = kp / GROUP;
        let mut s0 = [_mm512_setzero_si512(); M];
        let mut s1 = [_mm512_setzero_si512(); M];
        let w0 = first.as_ptr();
        let x0 = a.as_ptr();
        match second {
            Some(second) => {
                let w1 = second.as_ptr();
                for g in 0..groups {
                    // SAFETY: group g of a panel is 64 bytes at g · 64; row r's group at
                    // r · kp + 4g, inside `a`.
                    let v0 = unsafe { _mm512_loadu_si512(w0.add(g * PANEL * GROUP) as *const _) };
                    let v1 = unsafe { _mm512_loadu_si512(w1.add(g * PANEL * GROUP) as *const _) };
                    for r in 0..M {
                        let x =
                            unsafe { (x0.add(r * kp + g * GROUP) as *const i32).read_unaligned() };
                        let x = _mm512_set1_epi32(x);
                        s0[r] = _mm512_dpbusd_epi32(s0[r], x, v0);
                        s1[r] = _mm512_dpbusd_epi32(s1[r], x, v1);
                    }
                }
            }
            None => {
                for g in 0..groups {
                    // SAFETY: as above.
                    let v0 = unsafe { _mm512_loadu_si512(w0.add(g * PANEL * GROUP) as *const _) };
                    for (r, sum) in s0.iter_mut().enumerate() {
                        let x =
                            unsafe { (x0.add(r * kp + g * GROUP) as *const i32).read_unaligned() };
                        *sum = _mm512_dpbusd_epi32(*sum, _mm512_set1_epi32(x), v0);
                    }
                }
            }
        }
        for r in 0..M {
            // SAFETY: acc[j][r] is 16 i32s.
            unsafe {
                _mm512_storeu_si512(acc[0][r].as_mut_ptr() as *mut _, s0[r]);
                _mm512_storeu_si512(acc[1][r].as_mut_ptr() as *mut _, s1[r]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VNNI and portable paths agree exactly, for sizes that are not multiples of the
    /// panel, the group or the row block.
    #[test]
    fn every_path_gives_the_same_integers() {
        let (n, k, rows) = (37, 45, 19);
        let q: Vec<i8> = (0..n * k)
            .map(|i| ((i * 37 % 255) as i32 - 127) as i8)
            .collect();
        let w = PackedInt8::pack(&q, vec![1.0; n], n, k);
        let x: Vec<f32> = (0..rows * k)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 3.0)
            .collect();
        let a = quantize_rows(&x, k, w.kp);
        let panels = n.div_ceil(PANEL);
        for p in 0..panels {
            for block in (0..rows).step_by(ROWS) {
                let m = ROWS.min(rows - block);
                let rows_a = &a.a[block * w.kp..(block + m) * w.kp];
                let count = if p + 1 < panels { 2 } else { 1 };
                let mut fast = [[[0; PANEL]; ROWS]; 2];
                dot_panels(rows_a, m, w.kp, &w, p, count, &mut fast);
                for (j, fast_p) in fast.iter().enumerate().take(count) {
                    let mut slow = [[0; PANEL]; ROWS];
                    portable_dot_panel(rows_a, m, w.kp, w.panel(p + j), &mut slow);
                    assert_eq!(fast_p[..m], slow[..m], "panel {}", p + j);
                }
            }
        }
        assert_eq!(w.column(5), q[5 * k..6 * k]);
    }
}
