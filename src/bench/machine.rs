//! The machine a figure was measured on, written beside every figure: ratios travel, absolute
//! numbers only mean something with their CPU and thread count.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    /// Logical CPUs the process may use.
    pub cpus: usize,
    /// Threads the compute kernels use (rayon's pool, which candle's CPU ops share).
    pub threads: usize,
    pub os: String,
    pub alambic: String,
}

impl Machine {
    pub fn this() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            threads: rayon::current_num_threads(),
            os: std::env::consts::OS.to_string(),
            alambic: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The process's peak resident memory so far (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
