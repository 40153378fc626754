//! `alambic check`: the golden checks of the test suite, run from the binary on any device —
//! what a GPU machine without a Rust toolchain can run (`scripts/device-check.sh`). Models,
//! loss terms and AdamW against `../shared/fixtures` (PyTorch's numbers), every trainable
//! variable's gradient, and resume equivalence; each check reports its largest difference
//! against its tolerance.

pub mod goldens;
pub mod training;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    /// The largest absolute difference from the reference (or, for counts, the shortfall).
    pub max_abs_diff: f64,
    pub tolerance: f64,
    pub pass: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Check {
    pub fn new(name: impl Into<String>, diff: f64, tolerance: f64) -> Self {
        Self {
            name: name.into(),
            max_abs_diff: diff,
            tolerance,
            pass: diff.is_finite() && diff <= tolerance,
            note: None,
        }
    }

    pub fn failed(name: impl Into<String>, why: impl std::fmt::Display) -> Self {
        Self {
            name: name.into(),
            max_abs_diff: f64::NAN,
            tolerance: 0.0,
            pass: false,
            note: Some(why.to_string()),
        }
    }
}

/// Turns a fallible check into a reported one: an error is a failed check, never an abort.
pub fn guard(name: &str, f: impl FnOnce() -> Result<Vec<Check>, String>) -> Vec<Check> {
    f().unwrap_or_else(|e| vec![Check::failed(name, e)])
}
