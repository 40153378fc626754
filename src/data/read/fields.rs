//! Turning one JSON object (a JSONL line or a CSV row) into a [`RawRecord`] by the configured
//! field names.

use super::{RawRecord, check_size};
use crate::data::config::{DataConfig, Fields};
use serde_json::{Map, Value};

pub fn from_object(
    mut obj: Map<String, Value>,
    line: usize,
    cfg: &DataConfig,
) -> Result<RawRecord, String> {
    let f: &Fields = &cfg.fields;
    let text = match obj.remove(&f.text) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "text field `{}` is a {}, not a string",
                f.text,
                kind(&other)
            ));
        }
        None => {
            return Err(format!(
                "missing text field `{}` ({}: name it with `dataset.fields.text`)",
                f.text,
                fields_of(&obj)
            ));
        }
    };
    check_size(&text, cfg)?;
    let label = optional_string(&mut obj, &f.label)?;
    let labels = match obj.remove(&f.labels) {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(format!(
                        "labels field `{}` holds a {}, not a string",
                        f.labels,
                        kind(&other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(Value::String(s)) => Some(split_labels(&s, &f.labels_separator)?),
        Some(other) => {
            return Err(format!(
                "labels field `{}` is a {}, not a list",
                f.labels,
                kind(&other)
            ));
        }
    };
    if label.is_none() && labels.is_none() {
        return Err(format!(
            "missing label field: neither `{}` nor `{}` ({}: name it with `dataset.fields.label`, \
             or `dataset.fields.labels` for several)",
            f.label,
            f.labels,
            fields_of(&obj)
        ));
    }
    Ok(RawRecord {
        id: optional_string(&mut obj, &f.id)?,
        text,
        label,
        labels,
        split: optional_string(&mut obj, &f.split)?,
        group: optional_string(&mut obj, &f.group)?,
        extra: obj.into_iter().collect(),
        line,
    })
}

/// The fields a record does have, for an error about one it lacks: a new dataset names its
/// code and labels its own way (`source`, `vulnerable`), and the fix is to map them.
fn fields_of(obj: &Map<String, Value>) -> String {
    const SHOWN: usize = 8;
    if obj.is_empty() {
        return "the record has no other field".into();
    }
    let mut names: Vec<String> = obj.keys().take(SHOWN).map(|k| format!("`{k}`")).collect();
    if obj.len() > SHOWN {
        names.push(format!("… {} more", obj.len() - SHOWN));
    }
    format!("the record has {}", names.join(", "))
}

/// A CSV cell with several labels: a JSON array, or names joined by the separator.
pub fn split_labels(cell: &str, separator: &str) -> Result<Vec<String>, String> {
    let cell = cell.trim();
    if cell.starts_with('[') {
        return serde_json::from_str(cell)
            .map_err(|e| format!("labels `{cell}` is not a JSON list of strings: {e}"));
    }
    Ok(cell
        .split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

fn optional_string(obj: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("field `{key}` is a {}, not a string", kind(&other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}
