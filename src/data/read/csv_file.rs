use super::{ReadOutcome, fields};
use crate::data::config::DataConfig;
use crate::data::error::DataError;
use serde_json::{Map, Value};
use std::path::Path;

/// A CSV with a header row; every cell is a string, `labels` may hold several names.
pub fn read(path: &Path, cfg: &DataConfig) -> Result<ReadOutcome, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(super::gz::open(path)?);
    let headers = reader
        .byte_headers()
        .map_err(|e| DataError::file(path, format!("cannot read the header row: {e}")))?
        .clone();
    let headers: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let mut out = ReadOutcome::default();
    for row in reader.byte_records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.reject(cfg, path, line, format!("malformed CSV row: {e}"))?;
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line() as usize);
        let mut obj = Map::new();
        let mut bad = None;
        for (name, cell) in headers.iter().zip(row.iter()) {
            match std::str::from_utf8(cell) {
                Ok(s) => {
                    obj.insert(name.clone(), Value::String(s.to_string()));
                }
                Err(_) => {
                    bad = Some(format!("column `{name}` is not valid UTF-8"));
                    break;
                }
            }
        }
        let parsed = match bad {
            Some(reason) => Err(reason),
            None => fields::from_object(obj, line, cfg),
        };
        match parsed {
            Ok(record) => out.records.push(record),
            Err(reason) => out.reject(cfg, path, line, reason)?,
        }
    }
    Ok(out)
}
