//! Replacing a checkpoint folder so that a crash at any point leaves one whole checkpoint to
//! resume from. The new version is written beside it (`last.new`) and sealed with a manifest
//! (`complete.json`: every file and its size) written last; then the current one moves to
//! `last.old`, the new one into place, and `last.old` goes. Before writing, and whenever a
//! reader looks, a folder missing from its place is recovered from a sealed `.new` (newer) or
//! `.old`. Every step is a named fault point (`store::faults`), so the tests crash it at each.

use crate::store::faults::point;
use crate::store::write_atomic;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

const MANIFEST: &str = "complete.json";

pub fn staging(dir: &Path) -> PathBuf {
    dir.with_extension("new")
}

fn previous(dir: &Path) -> PathBuf {
    dir.with_extension("old")
}

/// Seals a written folder: the manifest, written atomically after every other file.
pub fn seal(folder: &Path) -> io::Result<()> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && entry.file_type()?.is_file() {
            files.insert(name, entry.metadata()?.len());
        }
    }
    let text = serde_json::to_string_pretty(&files).map_err(io::Error::other)?;
    write_atomic(&folder.join(MANIFEST), text.as_bytes())
}

/// A folder holds a whole checkpoint: sealed, every file of the manifest at its size. Folders
/// of earlier builds, which had no manifest, count when their weights are there.
pub fn whole(folder: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(folder.join(MANIFEST)) else {
        return folder.extension().is_none_or(|e| e != "new")
            && folder.join("model.safetensors").is_file();
    };
    let Ok(files) = serde_json::from_str::<BTreeMap<String, u64>>(&text) else {
        return false;
    };
    files.iter().all(|(name, size)| {
        std::fs::metadata(folder.join(name)).is_ok_and(|m| m.is_file() && m.len() == *size)
    })
}

/// The folder to read: `dir`, else a whole `.new`, else a whole `.old`.
pub fn readable(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), staging(dir), previous(dir)]
        .into_iter()
        .find(|f| whole(f))
}

/// Puts a whole checkpoint back in place when a crash left `dir` missing or torn.
pub fn recover(dir: &Path) -> io::Result<()> {
    if whole(dir) {
        return Ok(());
    }
    for candidate in [staging(dir), previous(dir)] {
        if whole(&candidate) {
            if dir.exists() {
                std::fs::remove_dir_all(dir)?;
            }
            std::fs::rename(&candidate, dir)?;
            point("swap:recovered")?;
            return Ok(());
        }
    }
    Ok(())
}

/// Moves the sealed staging folder into `dir`'s place.
pub fn commit(dir: &Path) -> io::Result<()> {
    let (new, old) = (staging(dir), previous(dir));
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    point("swap:old-cleared")?;
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    point("swap:current-moved")?;
    std::fs::rename(&new, dir)?;
    point("swap:new-in-place")?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// The fault points of one save, in order (for the tests).
pub const POINTS: [&str; 6] = [
    "swap:staging-cleared",
    "swap:staging-written",
    "swap:sealed",
    "swap:old-cleared",
    "swap:current-moved",
    "swap:new-in-place",
];
