//! Source-disjoint evaluation: whole values of a record field (cgt_dasp's `origin` set names)
//! held out as the test split, so a score measures what transfers to code of a style the model
//! never saw instead of what it learned of a source set's style.

use super::error::DataError;
use super::record::Record;
use std::collections::BTreeSet;
use std::path::Path;

/// The values a record field holds: a string is one value; a list (like `origin`, whose items
/// are `Set:identifier`) gives each item's set name, sorted and deduplicated.
pub fn field_values(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => {
            let names: BTreeSet<String> = items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|s| s.split(':').next().unwrap_or(s).to_string())
                .collect();
            names.into_iter().collect()
        }
        Some(serde_json::Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    }
}

/// Which records hold any of `values` in `field`. Every value must occur at least once: a
/// misspelt source would otherwise hold out nothing and score the model on an empty test split.
pub fn held_out(
    records: &[Record],
    field: &str,
    values: &[String],
    path: &Path,
) -> Result<Vec<bool>, DataError> {
    let wanted: BTreeSet<&str> = values.iter().map(String::as_str).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let marks = records
        .iter()
        .map(|r| {
            let vals = field_values(r.extra.get(field));
            let hit = vals.iter().any(|v| wanted.contains(v.as_str()));
            seen.extend(vals);
            hit
        })
        .collect();
    if let Some(missing) = wanted.iter().find(|v| !seen.contains(**v)) {
        let mut known: Vec<&str> = seen.iter().map(String::as_str).take(20).collect();
        if seen.len() > known.len() {
            known.push("…");
        }
        let known = if known.is_empty() {
            format!("no record has a `{field}` field")
        } else {
            format!("its values are {}", known.join(", "))
        };
        return Err(DataError::file(
            path,
            format!("dataset.split.hold_out: no record has `{missing}` in `{field}` ({known})"),
        ));
    }
    Ok(marks)
}
