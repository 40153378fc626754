//! `device = "cpu" | "cuda[:N]" | "metal[:N]"`, parsed once at load into a [`DeviceSpec`]; the
//! GPU back-ends exist only in builds with the matching cargo feature, and opening one in a
//! build without it is a clear error.

use super::TrainError;
use candle_core::Device;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
    Metal(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        let (kind, index) = match name.split_once(':') {
            Some((k, i)) => (
                k,
                i.parse::<usize>()
                    .map_err(|_| format!("device `{name}`: the index must be a number"))?,
            ),
            None => (name, 0),
        };
        match kind {
            "cpu" if index == 0 => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(index)),
            "metal" => Ok(Self::Metal(index)),
            _ => Err(format!(
                "device `{name}`: expected cpu, cuda[:N] or metal[:N]"
            )),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        match d {
            DeviceSpec::Cpu => "cpu".into(),
            DeviceSpec::Cuda(0) => "cuda".into(),
            DeviceSpec::Cuda(i) => format!("cuda:{i}"),
            DeviceSpec::Metal(0) => "metal".into(),
            DeviceSpec::Metal(i) => format!("metal:{i}"),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from(*self))
    }
}

impl DeviceSpec {
    /// The device a sweep's worker `k` of a `--parallel` sweep uses: the k-th GPU after the
    /// configured one (one cell per GPU); the CPU stays the CPU.
    pub fn for_worker(self, k: usize) -> Self {
        match self {
            Self::Cpu => Self::Cpu,
            Self::Cuda(i) => Self::Cuda(i + k),
            Self::Metal(i) => Self::Metal(i + k),
        }
    }

    pub fn open(self) -> Result<Device, TrainError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(i) => gpu(cfg!(feature = "cuda"), "cuda", || Device::new_cuda(i)),
            Self::Metal(i) => gpu(cfg!(feature = "metal"), "metal", || Device::new_metal(i)),
        }
    }
}

/// The device for a run, checked against its precision.
pub fn open_for(
    spec: DeviceSpec,
    precision: super::config::Precision,
) -> Result<Device, TrainError> {
    use super::config::Precision;
    match (spec, precision) {
        (_, Precision::F32) => spec.open(),
        (DeviceSpec::Cpu, Precision::Bf16) => Err(TrainError::Invalid(
            "train.precision = \"bf16\" is refused on the CPU: candle's CPU matmul has no \
             bf16 fast path (it is slower than f32 there) and our fused CPU kernels are f32; \
             use \"f32\", or device = \"cuda\""
                .into(),
        )),
        (_, Precision::Bf16) => Err(TrainError::Invalid(format!(
            "train.precision = \"bf16\" on {spec}: mixed precision is not built yet (open \
             work of the GPU issue); use \"f32\""
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
    // cudarc loads the driver and libraries at run time and panics when one is missing: on a
    // machine without a GPU that is an error to report, not a crash.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(make));
    std::panic::set_hook(hook);
    match made {
        Ok(device) => Ok(device?),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TrainError::Invalid(format!(
                "device `{feature}`: no usable GPU here ({why}); a GPU machine needs the driver \
                 and the CUDA libraries (cuBLAS, cuRAND, NVRTC) on LD_LIBRARY_PATH"
            )))
        }
    }
}
