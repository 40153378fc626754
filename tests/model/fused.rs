//! Each fused CPU kernel against the composition of candle ops it replaces: values and
//! gradients within 1e-5 on random inputs, masked rows and keys included.

use super::golden::max_diff;
use alambic::model::fused;
use alambic::model::init::SeededRng;
use alambic::model::ops::{LayerNorm, composed_layer_norm};
use alambic::train::optim::adamw_composed;
use candle_core::{Device, Tensor, Var};
use candle_nn::Module;

const TOL: f32 = 1e-5;

fn random(shape: &[usize], seed: u64) -> Tensor {
    SeededRng::new(seed)
        .normal(shape, 1.0, &Device::Cpu)
        .expect("random")
}

fn close(what: &str, a: &Tensor, b: &Tensor) {
    let d = max_diff(a, b);
    assert!(d <= TOL, "{what}: max difference {d:e}");
}

/// Σ y ⊙ r for a fixed random r: a scalar whose gradient reaches every element of y with a
/// different weight.
fn probe(y: &Tensor, seed: u64) -> Tensor {
    (y * random(y.dims(), seed))
        .expect("mul")
        .sum_all()
        .expect("sum")
}

#[test]
fn masked_softmax_equals_scaled_masked_softmax_values_and_gradient() {
    let (b, h, s) = (3, 2, 5);
    // The second contract has two padded keys, the third one real key only.
    let mask = Tensor::from_vec(
        vec![
            1f32, 1., 1., 1., 1., //
            1., 1., 1., 0., 0., //
            1., 0., 0., 0., 0.,
        ],
        (b, s),
        &Device::Cpu,
    )
    .expect("mask");
    let scale = 0.125;
    let x = Var::from_tensor(&random(&[b, h, s, s], 1)).expect("var");
    let fused_y = fused::masked_softmax(x.as_tensor(), &mask, scale, -10000.0).expect("fused");
    let additive = ((mask.ones_like().expect("ones") - &mask).expect("sub") * -10000.0)
        .expect("scale")
        .unsqueeze(1)
        .expect("u")
        .unsqueeze(1)
        .expect("u");
    let reference = candle_nn::ops::softmax_last_dim(
        &(x.as_tensor() * scale)
            .expect("scale")
            .broadcast_add(&additive)
            .expect("add"),
    )
    .expect("softmax");
    close("probabilities", &fused_y, &reference);
    // Padded keys get exactly zero.
    let padded = fused_y
        .narrow(0, 2, 1)
        .expect("row")
        .narrow(3, 1, 4)
        .expect("keys")
        .sum_all()
        .expect("sum")
        .to_scalar::<f32>()
        .expect("scalar");
    assert_eq!(padded, 0.0);

    let g_fused = probe(&fused_y, 2).backward().expect("backward");
    let composed = alambic::model::ops::softmax_last_dim(
        &(x.as_tensor() * scale)
            .expect("scale")
            .broadcast_add(&additive)
            .expect("add"),
    )
    .expect("softmax");
    let g_ref = probe(&composed, 2).backward().expect("backward");
    close(
        "gradient",
        g_fused.get(x.as_tensor()).expect("grad"),
        g_ref.get(x.as_tensor()).expect("grad"),
    );
}

#[test]
fn layer_norm_equals_the_composition_values_and_gradients() {
    let x = Var::from_tensor(&random(&[4, 3, 16], 3)).expect("x");
    let ln = LayerNorm {
        weight: Var::from_tensor(&random(&[16], 4))
            .expect("w")
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&random(&[16], 5))
            .expect("b")
            .as_tensor()
            .clone(),
        eps: 1e-12,
    };
    let fused_y = ln.forward(x.as_tensor()).expect("fused");
    let reference = composed_layer_norm(&ln, x.as_tensor()).expect("composed");
    close("values", &fused_y, &reference);
    let g_fused = probe(&fused_y, 6).backward().expect("backward");
    let g_ref = probe(&reference, 6).backward().expect("backward");
    for (name, t) in [
        ("x", x.as_tensor()),
        ("weight", &ln.weight),
        ("bias", &ln.bias),
    ] {
        close(
            name,
            g_fused.get(t).expect("fused grad"),
            g_ref.get(t).expect("reference grad"),
        );
    }
}

#[test]
fn gelu_equals_candles_erf_gelu_values_and_gradient() {
    // Include the tails, where erf saturates.
    let x = Var::from_tensor(&(random(&[2000], 7) * 4.0).expect("scale")).expect("x");
    let fused_y = fused::gelu_erf(x.as_tensor()).expect("fused");
    let reference = x.as_tensor().gelu_erf().expect("candle");
    close("values", &fused_y, &reference);
    let g_fused = probe(&fused_y, 8).backward().expect("backward");
    let g_ref = probe(&reference, 8).backward().expect("backward");
    close(
        "gradient",
        g_fused.get(x.as_tensor()).expect("grad"),
        g_ref.get(x.as_tensor()).expect("grad"),
    );
}

#[test]
fn dense_layer_equals_candle_linear_values_and_gradients() {
    let x = Var::from_tensor(&random(&[3, 5, 8], 9)).expect("x");
    let w = Var::from_tensor(&random(&[6, 8], 10)).expect("w");
    let b = Var::from_tensor(&random(&[6], 11)).expect("b");
    let fused_y = fused::linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).expect("ours");
    let reference = candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()))
        .forward(x.as_tensor())
        .expect("candle");
    close("values", &fused_y, &reference);
    let g_fused = probe(&fused_y, 12).backward().expect("backward");
    let g_ref = probe(&reference, 12).backward().expect("backward");
    for (name, t) in [("x", &x), ("weight", &w), ("bias", &b)] {
        close(
            name,
            g_fused.get(t.as_tensor()).expect("fused grad"),
            g_ref.get(t.as_tensor()).expect("reference grad"),
        );
    }
}

#[test]
fn dropout_draws_the_same_mask_as_the_seeded_generator() {
    let x = Var::from_tensor(&random(&[4, 7, 9], 13)).expect("x");
    let p = 0.1;
    let words = SeededRng::new(42).words(x.elem_count());
    let fused_y = fused::dropout(x.as_tensor(), words, p).expect("fused");
    let mask = SeededRng::new(42)
        .dropout_mask(x.dims(), p, &Device::Cpu)
        .expect("mask");
    let reference = x.as_tensor().mul(&mask).expect("mul");
    // Same draws, same arithmetic: equal bit for bit.
    assert_eq!(max_diff(&fused_y, &reference), 0.0);
    let dropped = mask
        .eq(0f32)
        .expect("eq")
        .to_dtype(candle_core::DType::F32)
        .expect("f32")
        .sum_all()
        .expect("sum")
        .to_scalar::<f32>()
        .expect("scalar");
    assert!(dropped > 0.0, "some elements are dropped");
    let g_fused = probe(&fused_y, 14).backward().expect("backward");
    let g_ref = probe(&reference, 14).backward().expect("backward");
    assert_eq!(
        max_diff(
            g_fused.get(x.as_tensor()).expect("grad"),
            g_ref.get(x.as_tensor()).expect("grad")
        ),
        0.0
    );
}

#[test]
fn adamw_update_equals_the_tensor_op_update() {
    let (w, g) = (random(&[5000], 15), random(&[5000], 16));
    let m = (random(&[5000], 17) * 0.1).expect("m");
    let v = random(&[5000], 18).sqr().expect("v");
    let step = fused::AdamWStep {
        lr: 1e-3,
        decay: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        bias1: 1.0 - 0.9f32.powi(3),
        bias2: 1.0 - 0.999f32.powi(3),
        eps: 1e-8,
        grad_scale: 0.5,
    };
    let ours = fused::adamw_update(&w, &g, &m, &v, step).expect("fused");
    let reference = adamw_composed(&w, &g, &m, &v, step).expect("composed");
    close("weights", &ours.0, &reference.0);
    close("first moment", &ours.1, &reference.1);
    close("second moment", &ours.2, &reference.2);
    let squares = fused::sum_of_squares(&g).expect("fused");
    let expected = g
        .sqr()
        .expect("sqr")
        .sum_all()
        .expect("sum")
        .to_scalar::<f32>()
        .expect("scalar") as f64;
    assert!(
        (squares - expected).abs() / expected < 1e-5,
        "{squares} vs {expected}"
    );
}

#[test]
fn head_split_and_merge_equal_reshape_and_transpose_values_and_gradients() {
    let (b, s, heads, d) = (2, 5, 3, 4);
    let x = Var::from_tensor(&random(&[b, s, heads * d], 19)).expect("x");
    let ours = fused::split_heads(x.as_tensor(), heads).expect("split");
    let reference = x
        .as_tensor()
        .reshape((b, s, heads, d))
        .expect("reshape")
        .transpose(1, 2)
        .expect("transpose")
        .contiguous()
        .expect("copy");
    assert_eq!(max_diff(&ours, &reference), 0.0);
    let back = fused::merge_heads(&ours, heads).expect("merge");
    assert_eq!(max_diff(&back, x.as_tensor()), 0.0);
    // Through both ops, against the same chain of candle's views.
    let g_ours = probe(
        &fused::merge_heads(&(&ours * 2.0).expect("scale"), heads).expect("m"),
        20,
    )
    .backward()
    .expect("backward");
    let through = (&reference * 2.0)
        .expect("scale")
        .transpose(1, 2)
        .expect("t")
        .contiguous()
        .expect("c")
        .reshape((b, s, heads * d))
        .expect("r");
    let g_ref = probe(&through, 20).backward().expect("backward");
    assert_eq!(
        max_diff(
            g_ours.get(x.as_tensor()).expect("grad"),
            g_ref.get(x.as_tensor()).expect("grad")
        ),
        0.0
    );
}

#[test]
fn words_drawn_in_parallel_blocks_are_the_sequential_stream() {
    // Three blocks and a bit: the blocks join where the sequential stream would be.
    let n = 3 * 65_536 + 1_000;
    let p = 0.5;
    let words = SeededRng::new(3).words(n);
    let x = Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).expect("ones");
    let fused_y = fused::dropout(&x, words, p).expect("fused");
    let mask = SeededRng::new(3)
        .dropout_mask(&[n], p, &Device::Cpu)
        .expect("mask");
    assert_eq!(max_diff(&fused_y, &mask), 0.0);
    // And the generator carries on where the words ended.
    let mut split = SeededRng::new(3);
    let _ = split.words(n - 10);
    let tail = split.words(10);
    assert_eq!(tail, SeededRng::new(3).words(n)[n - 10..].to_vec());
}

/// The vectorisable exp against f64's over its whole range: relative error below 3e-7, and
/// exactly 0 where f32's own `exp` underflows (so masked keys get probability 0).
#[test]
fn exp_is_within_3e_7_of_f64_exp_and_zero_below_minus_87() {
    let mut worst = 0f64;
    for i in 0..=1_750_000 {
        let x = -87.0 + i as f32 * 1e-4;
        let got = fused::exp(x) as f64;
        let want = (x as f64).exp();
        worst = worst.max(((got - want) / want).abs());
    }
    assert!(worst < 3e-7, "worst relative error {worst:e}");
    assert_eq!(fused::exp(-87.5), 0.0);
    assert_eq!(fused::exp(-10000.0), 0.0);
    assert_eq!(fused::exp(0.0), 1.0);
    assert!(fused::exp(f32::NAN).is_nan());
}

/// The softmax row runs in a copy compiled for the CPU's vector unit (AVX-512 or AVX2 where
/// present): it must give the very bits of the same arithmetic compiled for baseline x86-64,
/// so one seed gives one result on every machine.
#[test]
fn vectorised_softmax_row_equals_the_baseline_arithmetic_bit_for_bit() {
    use fused::math::{exp, max, sum};
    for (len, seed) in [(1, 1), (7, 2), (8, 3), (33, 4), (256, 5)] {
        let row: Vec<f32> = random(&[len], seed)
            .to_vec1()
            .expect("row")
            .into_iter()
            .map(|v: f32| v * 8.0)
            .collect();
        let top = max(&row);
        let e: Vec<f32> = row.iter().map(|&v| exp(v - top)).collect();
        let inv = 1.0 / sum(&e);
        let want: Vec<u32> = e.iter().map(|v| (v * inv).to_bits()).collect();
        let mut got = row.clone();
        fused::exp_row_softmax(&mut got);
        let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "row of {len}");
        let mut biased = row.clone();
        let zeros = vec![0f32; len];
        fused::softmax_rows_with_bias(&mut biased, &zeros);
        assert_eq!(biased.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
    }
}

/// The inference dense layer in one pass (bias and residual first, the product accumulated
/// into them, GELU in place) equals the composition it replaces.
#[test]
fn dense_block_equals_linear_plus_bias_residual_and_gelu() {
    use alambic::model::dense_block::dense_block;
    let (x, w, b) = (
        random(&[2, 7, 24], 30),
        random(&[40, 24], 31),
        random(&[40], 32),
    );
    let residual = random(&[2, 7, 40], 33);
    let product = fused::linear(&x, &w, Some(&b)).expect("linear");
    let plain = dense_block(&x, &w, &b, None, false)
        .expect("op")
        .expect("cpu");
    close("bias", &plain, &product);
    let with_residual = dense_block(&x, &w, &b, Some(&residual), false)
        .expect("op")
        .expect("cpu");
    close(
        "residual",
        &with_residual,
        &(&product + &residual).expect("add"),
    );
    let gelu = dense_block(&x, &w, &b, None, true)
        .expect("op")
        .expect("cpu");
    close("gelu", &gelu, &product.gelu_erf().expect("gelu"));
    assert_eq!(gelu.dims(), [2, 7, 40]);
}

#[test]
fn cross_entropy_equals_log_softmax_and_gather_values_and_gradient() {
    // 30,522 classes, a masked-language model's, with large logits so the maximum matters; the
    // rows' weights differ, as class weights make them.
    let (rows, classes) = (5, 30_522);
    let x = Var::from_tensor(&(random(&[rows, classes], 11) * 8.0).expect("scale")).expect("x");
    let targets = [0u32, 30_521, 17, 17, 4_096];
    let weights = [1.0f32, 0.5, 2.0, 1.0, 0.25];
    let fused_rows = fused::cross_entropy_rows(x.as_tensor(), &targets, &weights).expect("fused");
    assert_eq!(fused_rows.dims(), [rows]);
    let fused_loss = fused_rows.sum_all().expect("sum");
    let reference = alambic::train::loss::composed_cross_entropy(x.as_tensor(), &targets, &weights)
        .expect("candle");
    let (a, b) = (
        fused_loss.to_scalar::<f32>().expect("scalar"),
        reference.to_scalar::<f32>().expect("scalar"),
    );
    assert!((a - b).abs() <= 1e-5 * b.abs(), "loss {a} against {b}");
    let g_fused = fused_loss.backward().expect("backward");
    let g_ref = reference.backward().expect("backward");
    close(
        "gradient",
        g_fused.get(x.as_tensor()).expect("grad"),
        g_ref.get(x.as_tensor()).expect("grad"),
    );
    // Through a probe, so each row's gradient is scaled differently.
    let g_probe = probe(&fused_rows, 12).backward().expect("backward");
    let weights_of = random(&[rows], 12).to_vec1::<f32>().expect("r");
    let x_rows: Vec<Vec<f32>> = x.as_tensor().to_vec2().expect("x");
    let g_rows: Vec<Vec<f32>> = g_probe.get(x.as_tensor()).expect("g").to_vec2().expect("g");
    let total: f32 = weights.iter().sum();
    for i in 0..rows {
        let m = x_rows[i].iter().cloned().fold(f32::MIN, f32::max) as f64;
        let z: f64 = x_rows[i].iter().map(|&v| (v as f64 - m).exp()).sum();
        let t = targets[i] as usize;
        let expected = weights_of[i] as f64 * weights[i] as f64 / total as f64
            * ((x_rows[i][t] as f64 - m).exp() / z - 1.0);
        let got = g_rows[i][t] as f64;
        assert!(
            (got - expected).abs() <= 1e-6,
            "row {i}: {got} against {expected}"
        );
    }
    let err = fused::cross_entropy_rows(x.as_tensor(), &[0, 1, 2, 3, 30_522], &weights)
        .expect_err("a target past the classes");
    assert!(
        err.to_string()
            .contains("target 30522 out of 30522 classes"),
        "{err}"
    );
}
