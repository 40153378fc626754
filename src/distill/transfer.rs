//! The transfer set: unlabelled contracts whose teacher logits feed the soft terms. They are
//! read with the dataset's field mapping and cleaning, and any whose near-duplicate group also
//! holds a validation or test contract is dropped: the student would otherwise be taught the
//! teacher's verdict on (almost) the very contracts it is scored on.

use crate::data::clean::clean;
use crate::data::config::DataConfig;
use crate::data::dedup::find_groups;
use crate::data::read::read;
use crate::data::{DataError, Dataset, Record, Split};
use std::collections::HashSet;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TransferReport {
    pub file: String,
    pub read: usize,
    pub kept: usize,
    /// Dropped because a duplicate sat in validation or test.
    pub dropped_leaking: usize,
}

/// Appends the transfer set to `ds` as `Split::Unlabeled` records.
pub fn attach(
    ds: &mut Dataset,
    file: &Path,
    cfg: &DataConfig,
) -> Result<TransferReport, DataError> {
    let mut cfg = cfg.clone();
    cfg.file = file.to_path_buf();
    let raw = read(file, &cfg)?.records;
    let records: Vec<Record> = raw
        .into_iter()
        .enumerate()
        .map(|(i, r)| Record {
            id: r.id.unwrap_or_else(|| format!("transfer-{}", i + 1)),
            code: clean(&r.text, &cfg.clean),
            label: String::new(),
            labels: Vec::new(),
            split: Some(Split::Unlabeled),
            group: r.group,
            extra: r.extra,
            line: r.line,
        })
        .collect();
    let n = ds.records.len();
    let texts: Vec<&str> = ds
        .records
        .iter()
        .chain(&records)
        .map(|r| r.code.as_str())
        .collect();
    let groups = find_groups(&texts, &cfg.dedup).near;
    let held_out: HashSet<usize> = ds
        .records
        .iter()
        .zip(&groups)
        .filter(|(r, _)| matches!(r.split, Some(Split::Valid | Split::Test)))
        .map(|(_, &g)| g)
        .collect();
    let read_count = records.len();
    let kept: Vec<Record> = records
        .into_iter()
        .zip(&groups[n..])
        .filter(|(_, g)| !held_out.contains(g))
        .map(|(r, _)| r)
        .collect();
    let report = TransferReport {
        file: file.display().to_string(),
        read: read_count,
        kept: kept.len(),
        dropped_leaking: read_count - kept.len(),
    };
    ds.records.extend(kept);
    Ok(report)
}
