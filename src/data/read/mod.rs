//! Readers for the three input layouts. Each returns [`RawRecord`]s with their line numbers and
//! the bad records it skipped; label mapping happens afterwards, in one place.

mod csv_file;
mod fields;
mod folder;
pub mod gz;
mod jsonl;

use super::config::{DataConfig, Format};
use super::error::DataError;
use std::collections::BTreeMap;
use std::path::Path;

/// A record as the file states it, before label mapping.
#[derive(Clone, Debug, Default)]
pub struct RawRecord {
    pub id: Option<String>,
    pub text: String,
    pub label: Option<String>,
    pub labels: Option<Vec<String>>,
    pub split: Option<String>,
    pub group: Option<String>,
    pub extra: BTreeMap<String, serde_json::Value>,
    pub line: usize,
}

/// A record that could not be read, kept for the report when `skip_bad` is on.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BadRecord {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub records: Vec<RawRecord>,
    pub skipped: Vec<BadRecord>,
}

impl ReadOutcome {
    /// Either keeps the bad record aside or turns it into the error, as the config asks.
    fn reject(
        &mut self,
        cfg: &DataConfig,
        path: &Path,
        line: usize,
        reason: String,
    ) -> Result<(), DataError> {
        if cfg.skip_bad {
            self.skipped.push(BadRecord { line, reason });
            Ok(())
        } else {
            Err(DataError::record(path, line, reason))
        }
    }
}

pub fn detect_format(path: &Path, format: Format) -> Result<Format, DataError> {
    if format != Format::Auto {
        return Ok(format);
    }
    if path.is_dir() {
        return Ok(Format::Folder);
    }
    let ext = gz::inner_name(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv),
        _ if !path.exists() => Err(DataError::file(path, "no such file or folder")),
        _ => Err(DataError::file(
            path,
            "cannot tell the format from the name: use .jsonl, .csv (either may be gzipped, \
             .gz) or a folder of .sol files, or set dataset.format",
        )),
    }
}

pub fn read(path: &Path, cfg: &DataConfig) -> Result<ReadOutcome, DataError> {
    let outcome = match detect_format(path, cfg.format)? {
        Format::Jsonl => jsonl::read(path, cfg)?,
        Format::Csv => csv_file::read(path, cfg)?,
        Format::Folder => folder::read(path, cfg)?,
        Format::Auto => unreachable!("detect_format never returns Auto"),
    };
    if outcome.records.is_empty() {
        let msg = if outcome.skipped.is_empty() {
            "no records (empty file)".to_string()
        } else {
            format!(
                "no usable records: all {} were bad (first: line {}: {})",
                outcome.skipped.len(),
                outcome.skipped[0].line,
                outcome.skipped[0].reason
            )
        };
        return Err(DataError::file(path, msg));
    }
    Ok(outcome)
}

/// The 1-based line of byte `offset` in `bytes`.
pub(crate) fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn check_size(text: &str, cfg: &DataConfig) -> Result<(), String> {
    if text.len() > cfg.max_contract_bytes {
        return Err(format!(
            "contract is {:.1} MB, over the limit of {:.1} MB (raise dataset.max_contract_bytes \
             if it is real code)",
            text.len() as f64 / 1e6,
            cfg.max_contract_bytes as f64 / 1e6
        ));
    }
    if text.trim().is_empty() {
        return Err("the contract text is empty".into());
    }
    Ok(())
}
