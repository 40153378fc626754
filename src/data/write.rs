//! Writing a dataset back as JSONL, atomically, with every field it was read with.

use super::{DataError, Dataset, Record};
use crate::store::write_atomic;
use serde_json::{Map, Value};
use std::path::Path;

pub fn record_to_json(r: &Record, dups: Option<usize>) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), Value::String(r.id.clone()));
    obj.insert("code".into(), Value::String(r.code.clone()));
    obj.insert("label".into(), Value::String(r.label.clone()));
    obj.insert(
        "labels".into(),
        Value::Array(r.labels.iter().cloned().map(Value::String).collect()),
    );
    if let Some(s) = r.split {
        obj.insert("split".into(), Value::String(s.name().into()));
    }
    match (&r.group, dups) {
        (Some(g), _) => {
            obj.insert("group".into(), Value::String(g.clone()));
        }
        (None, Some(g)) => {
            obj.insert("group".into(), Value::String(format!("g{g}")));
        }
        _ => {}
    }
    for (k, v) in &r.extra {
        obj.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(obj)
}

/// One JSON object per line; near-duplicate groups become the `group` field where the input
/// had none, so a later seeded split of the written file stays group-disjoint.
pub fn write_jsonl(ds: &Dataset, path: &Path) -> Result<(), DataError> {
    let mut out = String::new();
    for (i, r) in ds.records.iter().enumerate() {
        let group = ds.duplicates.as_ref().map(|d| d.near[i]);
        out.push_str(&record_to_json(r, group).to_string());
        out.push('\n');
    }
    write_atomic(path, out.as_bytes()).map_err(|e| DataError::io(path, e))
}
