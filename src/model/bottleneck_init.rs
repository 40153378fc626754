//! `bottleneck:SRC?inner=B&layers=…`: a dense model's layers run at inner width B
//! (`bottleneck.rs`), initialised by truncated SVD so that each layer is the best rank-B
//! version of its source's maps.
//!
//! What is factorised is what the layer computes, not each matrix alone:
//! - per head, the score form `[W_q | b_q]ᵀ · [W_k | b_k]` (on inputs with a 1 appended, so the
//!   biases are kept), rescaled for the narrower head's `1/√d`;
//! - per head, the value-output map `W_o,h · W_v,h` (the value bias moves into the output bias:
//!   attention weights sum to 1);
//! - the FFN's two matrices, each on its own.
//!
//! The best rank-r factorisation of a product `A · Bᵀ` comes from the SVD of `R_A · R_Bᵀ`
//! (their QR factors), never forming the H × H product. Singular values are split evenly
//! (`U √S`, `V √S`) between the two factors. With B = H nothing is truncated and the model's
//! outputs equal the source's (up to float rounding).

use super::ModelError;
use super::bottleneck::BottleneckConfig;
use super::load::{Classifier, LoadReport};
use super::rewrite::{layers_of, layers_query, parse_layers, rebuild, tensors_of};
use super::svd::{factor, factor_product, to_matrix, to_tensor};
use candle_core::{Device, Tensor};
use nalgebra::DMatrix;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BottleneckSpec {
    pub inner: usize,
    /// 1-based; `None`: every layer.
    pub layers: Option<Vec<usize>>,
}

impl BottleneckSpec {
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut inner = None;
        let mut layers = None;
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected key=value"))?;
            match key {
                "inner" => {
                    inner = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|&b| b > 0)
                            .ok_or_else(|| format!("inner=`{value}`: a whole number above 0"))?,
                    )
                }
                "layers" => layers = Some(parse_layers(value)?),
                other => return Err(format!("unknown option `{other}` (inner, layers)")),
            }
        }
        let inner = inner.ok_or("expected inner=B, the inner width")?;
        Ok(Self { inner, layers })
    }

    /// The query `parse` reads back.
    pub fn query(&self) -> String {
        let mut q = format!("inner={}", self.inner);
        if let Some(l) = &self.layers {
            q.push_str(&format!("&{}", layers_query(l)));
        }
        q
    }
}

/// The bottleneck version of `dense`, on its device, with the same head and tokenizer.
pub fn to_bottleneck(
    dense: Classifier,
    spec: &BottleneckSpec,
    seed: u64,
    report: &mut LoadReport,
) -> Result<Classifier, ModelError> {
    let cfg = &dense.config;
    let layers = layers_of(cfg, spec.layers.as_deref(), "bottleneck")?;
    let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
    if spec.inner > h || !spec.inner.is_multiple_of(heads) {
        // Heads keep their number (attention maps are distilled head by head), so the width
        // is a multiple of it: name the nearest ones.
        let below = (spec.inner.min(h) / heads * heads).max(heads);
        let above = (below + heads).min(h / heads * heads);
        return Err(ModelError::Config(format!(
            "inner={}: at most the width {h} and a multiple of the {heads} heads \
             ({below} or {above} would do)",
            spec.inner
        )));
    }
    let prefix = format!("{}.encoder.layer", dense.family().prefix());
    let mut tensors = tensors_of(&dense);
    let device = dense.device().clone();
    for &l in &layers {
        let base = format!("{prefix}.{}", l - 1);
        factor_layer(&mut tensors, &base, heads, spec.inner, &device)?;
    }
    let mut config = cfg.clone();
    config.alambic_bottleneck = Some(BottleneckConfig {
        inner: spec.inner,
        layers: layers.clone(),
    });
    let model = rebuild(&dense, &config, tensors, seed, report)?;
    report.notes.push(format!(
        "bottleneck: layers {layers:?} run attention and FFN at width {} (of {h}), \
         initialised by truncated SVD",
        spec.inner
    ));
    Ok(model)
}

/// Replaces one dense layer's attention and FFN tensors under `base` by their rank-`inner`
/// factors.
fn factor_layer(
    tensors: &mut HashMap<String, Tensor>,
    base: &str,
    heads: usize,
    inner: usize,
    device: &Device,
) -> Result<(), ModelError> {
    let mut take = |name: &str| -> Result<DMatrix<f64>, ModelError> {
        let key = format!("{base}.{name}");
        let t = tensors
            .remove(&key)
            .ok_or_else(|| ModelError::Config(format!("{key} is missing")))?;
        to_matrix(&t)
    };
    let a = format!("{base}.attention");
    let (wq, bq) = (
        take("attention.self.query.weight")?,
        take("attention.self.query.bias")?,
    );
    let (wk, bk) = (
        take("attention.self.key.weight")?,
        take("attention.self.key.bias")?,
    );
    let (wv, bv) = (
        take("attention.self.value.weight")?,
        take("attention.self.value.bias")?,
    );
    let (wo, bo) = (
        take("attention.output.dense.weight")?,
        take("attention.output.dense.bias")?,
    );
    let (w1, b1) = (
        take("intermediate.dense.weight")?,
        take("intermediate.dense.bias")?,
    );
    let (w2, b2) = (take("output.dense.weight")?, take("output.dense.bias")?);
    let attention = factor_attention(
        &Attention {
            wq,
            bq,
            wk,
            bk,
            wv,
            bv,
            wo,
            bo,
        },
        heads,
        inner,
    );
    let (w1_up, w1_down) = factor(&w1, inner);
    let (w2_up, w2_down) = factor(&w2, inner);
    let put = [
        (format!("{a}.self.query.weight"), attention.wq),
        (format!("{a}.self.query.bias"), attention.bq),
        (format!("{a}.self.key.weight"), attention.wk),
        (format!("{a}.self.key.bias"), attention.bk),
        (format!("{a}.self.value.weight"), attention.wv),
        (format!("{a}.self.value.bias"), attention.bv),
        (format!("{a}.output.dense.weight"), attention.wo),
        (format!("{a}.output.dense.bias"), attention.bo),
        (
            format!("{base}.intermediate.reduce.weight"),
            w1_down.transpose(),
        ),
        (format!("{base}.intermediate.dense.weight"), w1_up),
        (format!("{base}.intermediate.dense.bias"), b1),
        (format!("{base}.output.reduce.weight"), w2_down.transpose()),
        (format!("{base}.output.dense.weight"), w2_up),
        (format!("{base}.output.dense.bias"), b2),
    ];
    for (name, m) in put {
        let t = to_tensor(&m, name.ends_with(".bias"), device)?;
        tensors.insert(name, t);
    }
    Ok(())
}

/// One layer's attention weights, as transformers stores them (`[out, in]`; biases as
/// column vectors).
struct Attention {
    wq: DMatrix<f64>,
    bq: DMatrix<f64>,
    wk: DMatrix<f64>,
    bk: DMatrix<f64>,
    wv: DMatrix<f64>,
    bv: DMatrix<f64>,
    wo: DMatrix<f64>,
    bo: DMatrix<f64>,
}

/// The attention at `inner` features: per head, the rank-`inner/heads` factors of its score
/// form and of its value-output map.
fn factor_attention(a: &Attention, heads: usize, inner: usize) -> Attention {
    let h = a.wq.ncols();
    let (d, d_new) = (a.wq.nrows() / heads, inner / heads);
    // Scores are scaled by 1/√d in the source and 1/√d_new here: the factors carry the ratio.
    let rescale = (d_new as f64 / d as f64).sqrt();
    let mut out = Attention {
        wq: DMatrix::zeros(inner, h),
        bq: DMatrix::zeros(inner, 1),
        wk: DMatrix::zeros(inner, h),
        bk: DMatrix::zeros(inner, 1),
        wv: DMatrix::zeros(inner, h),
        bv: DMatrix::zeros(inner, 1),
        wo: DMatrix::zeros(h, inner),
        // Attention weights sum to 1, so the value bias reaches the output as W_o · b_v.
        bo: &a.bo + &a.wo * &a.bv,
    };
    for head in 0..heads {
        let rows = head * d..(head + 1) * d;
        let new = head * d_new;
        // [W | b] per head, transposed: (H + 1) × d.
        let augmented = |w: &DMatrix<f64>, b: &DMatrix<f64>| {
            let mut m = DMatrix::zeros(h + 1, d);
            for (j, r) in rows.clone().enumerate() {
                for c in 0..h {
                    m[(c, j)] = w[(r, c)];
                }
                m[(h, j)] = b[(r, 0)];
            }
            m
        };
        let (q, k) = factor_product(
            &(augmented(&a.wq, &a.bq) * rescale),
            &augmented(&a.wk, &a.bk),
            d_new,
        );
        for j in 0..d_new {
            for c in 0..h {
                out.wq[(new + j, c)] = q[(c, j)];
                out.wk[(new + j, c)] = k[(c, j)];
            }
            out.bq[(new + j, 0)] = q[(h, j)];
            out.bk[(new + j, 0)] = k[(h, j)];
        }
        let wo_h = a.wo.columns(head * d, d).into_owned();
        let wv_h_t = a.wv.rows(head * d, d).transpose();
        let (o, v) = factor_product(&wo_h, &wv_h_t, d_new);
        for j in 0..d_new {
            out.wo.set_column(new + j, &o.column(j));
            out.wv.set_row(new + j, &v.column(j).transpose());
        }
    }
    out
}
