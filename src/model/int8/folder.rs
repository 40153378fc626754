//! A quantised model on disk: `config.json` says `alambic_int8`, `int8.safetensors` holds
//! each quantised weight as int8 (`….weight`, I8) with its per-channel scales
//! (`….weight_scale`, F32), and `model.safetensors` everything else in f32. Loaded, the f32
//! view of each quantised weight is its dequantised value (what the int8 stands for), so every
//! f32 path computes the same model; inference takes the int8 kernels.

use super::{PackedInt8, dequantize, quantize_weight};
use crate::model::ModelError;
use crate::model::load::Classifier;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub const INT8_FILE: &str = "int8.safetensors";

/// `alambic_int8` in `config.json`: which weights are int8, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Int8Config {
    /// `"per-channel symmetric"`: one scale per output channel, zero point 0.
    pub weights: String,
    /// `"per-row dynamic"`: each row of activations quantised as it arrives.
    pub activations: String,
    /// How many dense layers are int8.
    pub layers: usize,
}

/// One quantised matrix: `[n, k]` int8 with `n` scales.
#[derive(Clone, Debug)]
pub struct Int8Matrix {
    pub q: Vec<i8>,
    pub scale: Vec<f32>,
    pub n: usize,
    pub k: usize,
}

/// Quantises every plain dense layer of the encoder in place: the variables take their
/// dequantised values, the layers their int8 form. Returns how many layers are int8.
pub fn quantize_model(model: &mut Classifier) -> Result<usize, ModelError> {
    let prefix = model.family().prefix();
    let vars: HashMap<String, candle_core::Var> = model.named_vars().into_iter().collect();
    let mut layers = 0;
    for (name, dense) in model.encoder.dense_layers() {
        let key = format!("{prefix}.{name}.weight");
        let (n, k) = dense.weight.dims2()?;
        let values = dense.weight.flatten_all()?.to_vec1::<f32>()?;
        let (q, scale) = quantize_weight(&values, n, k);
        let var = vars
            .get(&key)
            .ok_or_else(|| ModelError::Config(format!("{key} is not a variable")))?;
        let back = Tensor::from_vec(dequantize(&q, &scale, k), (n, k), var.device())?;
        var.set(&back)?;
        dense.int8 = Some(Arc::new(PackedInt8::pack(&q, scale, n, k)));
        layers += 1;
    }
    model.config.alambic_int8 = Some(Int8Config {
        weights: "per-channel symmetric".into(),
        activations: "per-row dynamic, asymmetric".into(),
        layers,
    });
    Ok(layers)
}

/// The int8 matrices of a model's quantised layers, by full key name.
pub fn matrices_of(model: &Classifier) -> HashMap<String, Int8Matrix> {
    let prefix = model.family().prefix();
    model
        .encoder
        .int8_weights()
        .into_iter()
        .map(|(name, w)| {
            let m = Int8Matrix {
                q: w.unpack(),
                scale: w.scale.clone(),
                n: w.n,
                k: w.k,
            };
            (format!("{prefix}.{name}.weight"), m)
        })
        .collect()
}

/// Writes `int8.safetensors`.
pub fn save(path: &Path, matrices: &HashMap<String, Int8Matrix>) -> Result<(), ModelError> {
    use safetensors::tensor::{Dtype, TensorView};
    let scales: HashMap<&String, Vec<u8>> = matrices
        .iter()
        .map(|(k, m)| (k, m.scale.iter().flat_map(|s| s.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::new();
    let bad = |e: safetensors::SafeTensorError| ModelError::file(path, e.to_string());
    for (key, m) in matrices {
        let bytes = bytes_of(&m.q);
        views.push((
            key.clone(),
            TensorView::new(Dtype::I8, vec![m.n, m.k], bytes).map_err(bad)?,
        ));
        views.push((
            format!("{key}_scale"),
            TensorView::new(Dtype::F32, vec![m.n], &scales[key]).map_err(bad)?,
        ));
    }
    let bytes = safetensors::serialize(views, None).map_err(bad)?;
    crate::store::write_atomic(path, &bytes).map_err(|e| ModelError::io(path, e))
}

fn bytes_of(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment, and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}

/// Reads `int8.safetensors`: each matrix by its full key name.
pub fn load(path: &Path) -> Result<HashMap<String, Int8Matrix>, ModelError> {
    use safetensors::tensor::Dtype;
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| ModelError::file(path, e.to_string()))?;
    let mut out = HashMap::new();
    for (key, view) in file.tensors() {
        if key.ends_with("_scale") {
            continue;
        }
        let shape = view.shape();
        let (n, k) = match (view.dtype(), shape) {
            (Dtype::I8, [n, k]) => (*n, *k),
            _ => {
                return Err(ModelError::file(
                    path,
                    format!("{key}: expected an int8 matrix"),
                ));
            }
        };
        let scale_view = file
            .tensor(&format!("{key}_scale"))
            .map_err(|_| ModelError::file(path, format!("{key} has no {key}_scale")))?;
        if scale_view.dtype() != Dtype::F32 || scale_view.shape() != [n] {
            return Err(ModelError::file(
                path,
                format!("{key}_scale: expected {n} f32 scales"),
            ));
        }
        let scale = scale_view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let q = view.data().iter().map(|&b| b as i8).collect();
        out.insert(key, Int8Matrix { q, scale, n, k });
    }
    Ok(out)
}

/// The f32 tensors the int8 matrices stand for, to build the model's variables from.
pub fn dequantized(
    matrices: &HashMap<String, Int8Matrix>,
    device: &candle_core::Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    matrices
        .iter()
        .map(|(key, m)| {
            let t = Tensor::from_vec(dequantize(&m.q, &m.scale, m.k), (m.n, m.k), device)?;
            Ok((key.clone(), t))
        })
        .collect()
}

/// Gives a model built from a quantised folder its int8 layers.
pub fn attach(model: &mut Classifier, matrices: &HashMap<String, Int8Matrix>) {
    let prefix = format!("{}.", model.family().prefix());
    let packed: HashMap<String, Arc<PackedInt8>> = matrices
        .iter()
        .filter_map(|(key, m)| {
            let name = key.strip_prefix(&prefix)?.strip_suffix(".weight")?;
            Some((
                name.to_string(),
                Arc::new(PackedInt8::pack(&m.q, m.scale.clone(), m.n, m.k)),
            ))
        })
        .collect();
    model.encoder.set_int8(&packed);
}
