//! `device = "cpu" | "cuda[:N]" | "metal[:N]"`: the GPU back-ends exist only in builds with
//! the matching cargo feature.

use super::TrainError;
use candle_core::Device;

pub fn device(name: &str) -> Result<Device, TrainError> {
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => (
            k,
            i.parse::<usize>().map_err(|_| {
                TrainError::Invalid(format!("device `{name}`: the index must be a number"))
            })?,
        ),
        None => (name, 0),
    };
    match kind {
        "cpu" => Ok(Device::Cpu),
        "cuda" => gpu(cfg!(feature = "cuda"), "cuda", || Device::new_cuda(index)),
        "metal" => gpu(cfg!(feature = "metal"), "metal", || {
            Device::new_metal(index)
        }),
        other => Err(TrainError::Invalid(format!(
            "device `{other}`: expected cpu, cuda[:N] or metal[:N]"
        ))),
    }
}

fn gpu(
    built: bool,
    feature: &str,
    make: impl FnOnce() -> candle_core::Result<Device>,
) -> Result<Device, TrainError> {
    if !built {
        return Err(TrainError::Invalid(format!(
            "device `{feature}`: this build has no {feature} support (cargo build --release --features {feature})"
        )));
    }
    Ok(make()?)
}
