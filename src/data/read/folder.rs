use super::{RawRecord, ReadOutcome, check_size, line_of};
use crate::data::config::DataConfig;
use crate::data::error::DataError;
use std::path::{Path, PathBuf};

/// The SmartBugs layout: `ROOT/<label>/**/*.sol`, the label being the first sub-folder.
pub fn read(root: &Path, cfg: &DataConfig) -> Result<ReadOutcome, DataError> {
    let mut files = Vec::new();
    collect_sol_files(root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(DataError::file(
            root,
            "no .sol files found (expected ROOT/<label>/*.sol, e.g. reentrancy/x.sol)",
        ));
    }
    let mut out = ReadOutcome::default();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let mut parts = relative.iter();
        let label = match (parts.next(), parts.next()) {
            (Some(dir), Some(_)) => dir.to_string_lossy().into_owned(),
            _ => {
                return Err(DataError::file(
                    &file,
                    "a .sol file directly in the dataset folder has no label: put it in a \
                     sub-folder named after its class",
                ));
            }
        };
        let bytes = std::fs::read(&file).map_err(|e| DataError::io(&file, e))?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
                if cfg.skip_bad {
                    out.skipped.push(super::BadRecord {
                        line: 0,
                        reason: format!("{}:{line}: not valid UTF-8", file.display()),
                    });
                    continue;
                }
                return Err(DataError::record(&file, line, "not valid UTF-8"));
            }
        };
        if let Err(reason) = check_size(&text, cfg) {
            if cfg.skip_bad {
                out.skipped.push(super::BadRecord {
                    line: 0,
                    reason: format!("{}: {reason}", file.display()),
                });
                continue;
            }
            return Err(DataError::file(&file, reason));
        }
        let id = relative.to_string_lossy().replace('\\', "/");
        out.records.push(RawRecord {
            id: Some(id),
            text,
            labels: Some(if label == cfg.safe_label {
                vec![]
            } else {
                vec![label.clone()]
            }),
            label: Some(label),
            ..RawRecord::default()
        });
    }
    Ok(out)
}

fn collect_sol_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| DataError::io(&path, e))?;
        if kind.is_dir() {
            collect_sol_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "sol") {
            files.push(path);
        }
    }
    Ok(())
}
