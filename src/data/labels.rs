//! From the labels a file states to the classes a model predicts: merging, dropping, the task
//! mode, and the class list. Every change is counted in a [`LabelReport`].

use super::config::{DataConfig, Task, UnknownLabels, UnknownSplit};
use super::error::DataError;
use super::read::RawRecord;
use super::record::{Record, Split};
use super::vocabulary::Vocabulary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The class of a binary task's positive side.
pub const VULNERABLE: &str = "vulnerable";

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LabelReport {
    /// `from -> to`, with the number of records whose primary label moved.
    pub merged: Vec<(String, String, usize)>,
    /// Classes dropped, with the number of records removed because of it.
    pub dropped: Vec<(String, usize)>,
    /// Labels outside the vocabulary whose records were left out (`unknown_labels = "drop"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<(String, usize)>,
    /// Split values that name no split, whose records were left out (`split.unknown = "drop"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_splits: Vec<(String, usize)>,
}

pub struct Labelled {
    pub records: Vec<Record>,
    pub classes: Vec<String>,
    pub report: LabelReport,
}

pub fn apply(raw: Vec<RawRecord>, cfg: &DataConfig, path: &Path) -> Result<Labelled, DataError> {
    check_merge_map(cfg)?;
    let safe = cfg.safe_label.as_str();
    let mut merged_counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut records = Vec::with_capacity(raw.len());
    let vocabulary = Vocabulary::new(cfg);
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown_splits: BTreeMap<String, usize> = BTreeMap::new();
    for (index, r) in raw.into_iter().enumerate() {
        let split = match r.split.as_deref().map(|s| (s, Split::parse(s))) {
            Some((value, None)) => {
                if cfg.split.unknown == UnknownSplit::Drop {
                    *unknown_splits.entry(value.to_string()).or_default() += 1;
                    continue;
                }
                let msg = format!(
                    "split `{value}` is not train, valid or test; set dataset.split.unknown = \
                     \"drop\" to keep such records out"
                );
                return Err(at_record(path, r.line, r.id.as_deref().unwrap_or("?"), msg));
            }
            Some((_, s)) => s,
            None => None,
        };
        let mut labels = r.labels.unwrap_or_default();
        // A file with only a primary label: that label is the one positive class.
        let stated_primary = r.label.unwrap_or_else(|| primary_of(&labels, safe));
        let stated = std::iter::once(&stated_primary).chain(labels.iter());
        if let Some(bad) = stated.into_iter().find(|l| !vocabulary.knows(l)) {
            if vocabulary.policy == UnknownLabels::Drop {
                *unknown.entry(bad.clone()).or_default() += 1;
                continue;
            }
            let msg = vocabulary.refusal(bad);
            return Err(at_record(path, r.line, r.id.as_deref().unwrap_or("?"), msg));
        }
        if labels.is_empty() && stated_primary != safe {
            labels.push(stated_primary.clone());
        }
        let primary = merge_name(&stated_primary, cfg);
        if primary != stated_primary {
            *merged_counts
                .entry((stated_primary.clone(), primary.clone()))
                .or_default() += 1;
        }
        let mut merged_labels: Vec<String> = Vec::with_capacity(labels.len());
        for l in labels {
            let m = merge_name(&l, cfg);
            if !merged_labels.contains(&m) {
                merged_labels.push(m);
            }
        }
        records.push(Record {
            id: r
                .id
                .unwrap_or_else(|| format!("line-{}", r.line.max(index + 1))),
            code: r.text,
            label: primary,
            labels: merged_labels,
            split,
            group: r.group,
            extra: r.extra,
            line: r.line,
        });
    }
    let dropped = drop_classes(&mut records, cfg);
    if cfg.task == Task::Binary {
        for r in &mut records {
            if r.label != safe {
                r.label = VULNERABLE.to_string();
            }
        }
    }
    let classes = class_list(&records, cfg, path)?;
    Ok(Labelled {
        records,
        classes,
        report: LabelReport {
            merged: merged_counts
                .into_iter()
                .map(|((f, t), n)| (f, t, n))
                .collect(),
            dropped,
            unknown: unknown.into_iter().collect(),
            unknown_splits: unknown_splits.into_iter().collect(),
        },
    })
}

/// An error at a record: its `file:line`, or for a folder of `.sol` files (no lines) the file.
fn at_record(path: &Path, line: usize, id: &str, msg: String) -> DataError {
    if line > 0 {
        DataError::record(path, line, msg)
    } else {
        DataError::file(path.join(id), msg)
    }
}

fn primary_of(labels: &[String], safe: &str) -> String {
    labels.first().cloned().unwrap_or_else(|| safe.to_string())
}

fn merge_name(name: &str, cfg: &DataConfig) -> String {
    cfg.merge
        .get(name)
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn check_merge_map(cfg: &DataConfig) -> Result<(), DataError> {
    for (from, to) in &cfg.merge {
        if cfg.merge.contains_key(to) {
            return Err(DataError::Config(format!(
                "dataset.merge: `{from}` merges into `{to}`, which is itself merged away; \
                 name the final class"
            )));
        }
    }
    Ok(())
}

/// Removes explicitly dropped classes and those under `min_count`. In single-label modes a
/// record whose primary class is dropped goes; in multi-label mode the class leaves every
/// list, and a record left with no positive class goes (it was not safe).
fn drop_classes(records: &mut Vec<Record>, cfg: &DataConfig) -> Vec<(String, usize)> {
    let safe = cfg.safe_label.as_str();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in records.iter() {
        if cfg.task == Task::Multilabel {
            for l in &r.labels {
                *counts.entry(l.clone()).or_default() += 1;
            }
        } else {
            *counts.entry(r.label.clone()).or_default() += 1;
        }
    }
    let mut to_drop: Vec<String> = counts
        .iter()
        .filter(|(c, n)| c.as_str() != safe && **n < cfg.min_count)
        .map(|(c, _)| c.clone())
        .collect();
    for c in &cfg.drop {
        if !to_drop.contains(c) {
            to_drop.push(c.clone());
        }
    }
    let mut removed: BTreeMap<String, usize> = to_drop.iter().map(|c| (c.clone(), 0)).collect();
    records.retain_mut(|r| {
        if cfg.task == Task::Multilabel {
            let before = r.labels.len();
            r.labels.retain(|l| !to_drop.contains(l));
            if before > 0 && r.labels.is_empty() {
                if let Some(n) = removed.get_mut(&r.label) {
                    *n += 1;
                }
                return false;
            }
            if to_drop.contains(&r.label) {
                r.label = primary_of(&r.labels, safe);
            }
            true
        } else if let Some(n) = removed.get_mut(&r.label) {
            *n += 1;
            false
        } else {
            r.labels.retain(|l| !to_drop.contains(l));
            true
        }
    });
    removed.into_iter().collect()
}

fn class_list(records: &[Record], cfg: &DataConfig, path: &Path) -> Result<Vec<String>, DataError> {
    let safe = cfg.safe_label.as_str();
    if !cfg.classes.is_empty() {
        for r in records {
            let names: Vec<&String> = match cfg.task {
                Task::Multilabel => r.labels.iter().collect(),
                _ => vec![&r.label],
            };
            if let Some(unknown) = names.into_iter().find(|l| !cfg.classes.contains(l)) {
                let msg = format!(
                    "unknown label `{unknown}` (after merging); dataset.classes lists: {}",
                    cfg.classes.join(", ")
                );
                return Err(at_record(path, r.line, &r.id, msg));
            }
        }
        return Ok(cfg.classes.clone());
    }
    if cfg.task == Task::Binary {
        return Ok(vec![safe.to_string(), VULNERABLE.to_string()]);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        if cfg.task == Task::Multilabel {
            for l in &r.labels {
                *counts.entry(l).or_default() += 1;
            }
        } else {
            *counts.entry(&r.label).or_default() += 1;
        }
    }
    let mut classes: Vec<(&str, usize)> = counts.into_iter().collect();
    // Most frequent first, ties by name: a stable order for class indices.
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Ok(classes.into_iter().map(|(c, _)| c.to_string()).collect())
}
