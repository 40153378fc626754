use super::{ReadOutcome, fields};
use crate::data::config::DataConfig;
use crate::data::error::DataError;
use std::path::Path;

pub fn read(path: &Path, cfg: &DataConfig) -> Result<ReadOutcome, DataError> {
    let bytes = super::gz::read_all(path)?;
    let mut out = ReadOutcome::default();
    for (i, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if raw_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match std::str::from_utf8(raw_line) {
            Ok(t) => t,
            Err(e) => {
                let reason = format!(
                    "not valid UTF-8 (bad byte at column {})",
                    e.valid_up_to() + 1
                );
                out.reject(cfg, path, line, reason)?;
                continue;
            }
        };
        let parsed = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("malformed JSON: {e}"))
            .and_then(|v| match v {
                serde_json::Value::Object(obj) => fields::from_object(obj, line, cfg),
                _ => Err("expected a JSON object per line".into()),
            });
        match parsed {
            Ok(record) => out.records.push(record),
            Err(reason) => out.reject(cfg, path, line, reason)?,
        }
    }
    Ok(out)
}
