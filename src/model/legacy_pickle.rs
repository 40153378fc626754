//! PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, in which 2020 checkpoints such as
//! `microsoft/codebert-base` and `huawei-noah/TinyBERT_General_4L_312D` may be published.
//! candle reads only the zip format. Layout (torch/serialization.py, `_legacy_save`): five
//! pickles — magic number, protocol version, system info, the state dict (tensors refer to
//! storages by key), the list of storage keys — then, for each key in that order, an 8-byte
//! little-endian element count and the raw little-endian data. The pickles are parsed with
//! candle's own pickle machine.

use super::ModelError;
use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// True when the file starts like a legacy checkpoint (a pickle, not a zip archive).
pub fn is_legacy(path: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head[0] == 0x80
}

pub fn read(path: &Path, device: &Device) -> Result<Vec<(String, Tensor)>, ModelError> {
    let bad = |msg: String| ModelError::file(path, format!("legacy PyTorch checkpoint: {msg}"));
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut next_pickle = |what: &str| -> Result<Object, ModelError> {
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut reader)
            .and_then(|_| stack.finalize())
            .map_err(|e| bad(format!("cannot read the {what}: {e}")))
    };
    next_pickle("magic number")?;
    next_pickle("protocol version")?;
    next_pickle("system info")?;
    let state = next_pickle("state dict")?;
    let keys = next_pickle("storage keys")?;
    let keys: Vec<String> = match keys {
        Object::List(items) | Object::Tuple(items) => items
            .into_iter()
            .map(|k| k.unicode().map_err(|o| bad(format!("storage key {o:?}"))))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "expected the list of storage keys, got {other:?}"
            )));
        }
    };
    let entries = match state {
        Object::Dict(entries) => entries,
        Object::Build { callable, .. } => match *callable {
            Object::Dict(entries) => entries,
            other => return Err(bad(format!("expected a state dict, got {other:?}"))),
        },
        other => return Err(bad(format!("expected a state dict, got {other:?}"))),
    };
    let mut infos = Vec::new();
    for (name, value) in entries {
        if let Ok(Some(info)) = value.into_tensor_info(name, Path::new("")) {
            infos.push(info);
        }
    }
    // Storages follow in the order of `keys`; each is its element count then its bytes.
    let dtypes: HashMap<String, DType> = infos
        .iter()
        .map(|i| (i.path.trim_start_matches('/').to_string(), i.dtype))
        .collect();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in keys {
        let mut count = [0u8; 8];
        reader
            .read_exact(&mut count)
            .map_err(|e| bad(format!("storage {key}: {e}")))?;
        let elements = u64::from_le_bytes(count) as usize;
        let size = dtypes.get(&key).map_or(4, |d| d.size_in_bytes());
        let mut bytes = vec![0u8; elements * size];
        reader
            .read_exact(&mut bytes)
            .map_err(|e| bad(format!("storage {key} is truncated: {e}")))?;
        storages.insert(key, bytes);
    }
    let mut tensors = Vec::with_capacity(infos.len());
    for info in infos {
        let key = info.path.trim_start_matches('/');
        let bytes = storages.get(key).ok_or_else(|| {
            bad(format!(
                "tensor {} refers to missing storage {key}",
                info.name
            ))
        })?;
        let layout = &info.layout;
        let shape = layout.shape().clone();
        if !layout.is_contiguous() {
            return Err(bad(format!("tensor {} is not contiguous", info.name)));
        }
        let start = layout.start_offset();
        let len = shape.elem_count() * info.dtype.size_in_bytes();
        let slice = bytes
            .get(start..start + len)
            .ok_or_else(|| bad(format!("tensor {} runs past its storage", info.name)))?;
        let t = Tensor::from_raw_buffer(slice, info.dtype, shape.dims(), device)?;
        tensors.push((info.name, t));
    }
    Ok(tensors)
}
