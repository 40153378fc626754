//! The data stage: reading labelled contracts, mapping labels, cleaning, duplicate groups,
//! splits, statistics, and the demo-data generator.

pub mod clean;
pub mod config;
pub mod dedup;
mod error;
mod holdout;
pub mod labels;
pub mod leakage;
pub mod read;
mod record;
pub mod split;
pub mod stats;
pub mod synth;
pub mod vocabulary;
pub mod write;

pub use config::{DataConfig, Task};
pub use error::DataError;
pub use holdout::field_values;
pub use record::{Record, Split};

use config::SplitSource;
use dedup::{DuplicateGroups, UnionFind};
use labels::LabelReport;
use rayon::prelude::*;
use read::BadRecord;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Dataset {
    pub path: PathBuf,
    pub task: Task,
    pub records: Vec<Record>,
    pub classes: Vec<String>,
    pub skipped: Vec<BadRecord>,
    pub label_report: LabelReport,
    /// How many contracts cleaning changed.
    pub changed_by_cleaning: usize,
    pub duplicates: Option<DuplicateGroups>,
    /// Where the splits came from: `field` or `seeded`.
    pub split_source: Option<&'static str>,
}

impl Dataset {
    /// Reads, maps labels and cleans; no duplicate search, no splits yet.
    pub fn load(cfg: &DataConfig) -> Result<Self, DataError> {
        let path = cfg.file.clone();
        let outcome = read::read(&path, cfg)?;
        let labelled = labels::apply(outcome.records, cfg, &path)?;
        let mut records = labelled.records;
        let changed = records
            .par_iter_mut()
            .map(|r| {
                let cleaned = clean::clean(&r.code, &cfg.clean);
                let differs = cleaned != r.code;
                r.code = cleaned;
                usize::from(differs)
            })
            .sum();
        Ok(Self {
            path,
            task: cfg.task,
            records,
            classes: labelled.classes,
            skipped: outcome.skipped,
            label_report: labelled.report,
            changed_by_cleaning: changed,
            duplicates: None,
            split_source: None,
        })
    }

    /// Load, find duplicate groups and assign splits: what training and statistics use.
    pub fn prepare(cfg: &DataConfig) -> Result<Self, DataError> {
        let mut ds = Self::load(cfg)?;
        ds.find_duplicates(cfg);
        ds.assign_splits(cfg)?;
        Ok(ds)
    }

    pub fn find_duplicates(&mut self, cfg: &DataConfig) {
        let texts: Vec<&str> = self.records.iter().map(|r| r.code.as_str()).collect();
        self.duplicates = Some(dedup::find_groups(&texts, &cfg.dedup));
    }

    /// Takes the file's `split` field, or draws a seeded, stratified, group-disjoint split.
    pub fn assign_splits(&mut self, cfg: &DataConfig) -> Result<(), DataError> {
        if !cfg.split.hold_out.is_empty() {
            return self.hold_out_sources(cfg);
        }
        let all_have_field = self.records.iter().all(|r| r.split.is_some());
        let use_field = match cfg.split.source {
            SplitSource::Field => {
                if let Some(r) = self.records.iter().find(|r| r.split.is_none()) {
                    return Err(DataError::record(
                        &self.path,
                        r.line,
                        format!(
                            "dataset.split.source = \"field\" but this record has no valid `{}` \
                             field (train, valid or test)",
                            cfg.fields.split
                        ),
                    ));
                }
                true
            }
            SplitSource::Auto => all_have_field,
            SplitSource::Seeded => false,
        };
        if use_field {
            self.split_source = Some("field");
            return Ok(());
        }
        let strata: Vec<usize> = self
            .records
            .iter()
            .map(|r| self.class_index(&r.label).unwrap_or(self.classes.len()))
            .collect();
        let groups = self.split_groups();
        let splits = split::assign(&strata, &groups, cfg.split.fractions, cfg.split.seed);
        for (r, s) in self.records.iter_mut().zip(splits) {
            r.split = Some(s);
        }
        self.split_source = Some("seeded");
        Ok(())
    }

    /// Whole sources as the test split; the rest drawn into train and valid. A duplicate group
    /// with one held-out member goes to test whole, so no copy of a test contract trains.
    fn hold_out_sources(&mut self, cfg: &DataConfig) -> Result<(), DataError> {
        if cfg.split.source == SplitSource::Field {
            return Err(DataError::Config(
                "dataset.split.hold_out draws its own splits: it cannot be combined with \
                 dataset.split.source = \"field\""
                    .into(),
            ));
        }
        let split = &cfg.split;
        let marks = holdout::held_out(
            &self.records,
            &split.hold_out_field,
            &split.hold_out,
            &self.path,
        )?;
        let groups = self.split_groups();
        let mut test_groups = std::collections::HashSet::new();
        for (i, &m) in marks.iter().enumerate() {
            if m {
                test_groups.insert(groups[i]);
            }
        }
        // Unlabelled records (a transfer set kept in the file) stay where they are.
        let unlabeled = |r: &Record| r.split == Some(Split::Unlabeled);
        let rest: Vec<usize> = (0..self.records.len())
            .filter(|&i| !test_groups.contains(&groups[i]) && !unlabeled(&self.records[i]))
            .collect();
        let strata: Vec<usize> = rest
            .iter()
            .map(|&i| {
                let label = &self.records[i].label;
                self.class_index(label).unwrap_or(self.classes.len())
            })
            .collect();
        let rest_groups: Vec<usize> = rest.iter().map(|&i| groups[i]).collect();
        let [train, valid, _] = split.fractions;
        let drawn = split::assign(&strata, &rest_groups, [train, valid, 0.0], split.seed);
        for r in self.records.iter_mut().filter(|r| !unlabeled(r)) {
            r.split = Some(Split::Test);
        }
        for (&i, s) in rest.iter().zip(drawn) {
            self.records[i].split = Some(s);
        }
        self.split_source = Some("held-out");
        Ok(())
    }

    /// Records that must share a split: our near-duplicate groups joined with the file's own
    /// `group` field, when it has one.
    fn split_groups(&self) -> Vec<usize> {
        let n = self.records.len();
        let mut uf = UnionFind::new(n);
        if let Some(d) = &self.duplicates {
            let mut first: HashMap<usize, usize> = HashMap::new();
            for (i, &g) in d.near.iter().enumerate() {
                let f = *first.entry(g).or_insert(i);
                uf.union(f, i);
            }
        }
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, r) in self.records.iter().enumerate() {
            if let Some(g) = r.group.as_deref() {
                let f = *first.entry(g).or_insert(i);
                uf.union(f, i);
            }
        }
        uf.labels()
    }

    /// Keeps the first contract of each exact-duplicate group; returns how many went.
    pub fn drop_exact_duplicates(&mut self) -> usize {
        let Some(dups) = self.duplicates.take() else {
            return 0;
        };
        let mut seen = std::collections::HashSet::new();
        let mut near = Vec::new();
        let before = self.records.len();
        let records = std::mem::take(&mut self.records);
        for (i, r) in records.into_iter().enumerate() {
            if seen.insert(dups.exact[i]) {
                near.push(dups.near[i]);
                self.records.push(r);
            }
        }
        self.duplicates = Some(DuplicateGroups {
            exact: (0..near.len()).collect(),
            near,
        });
        before - self.records.len()
    }

    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == label)
    }

    pub fn split_records(&self, split: Split) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.split == Some(split))
    }
}
