use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the model is asked to predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// One class per contract: its primary label (`safe` is a class).
    #[default]
    Multiclass,
    /// Vulnerable versus safe.
    Binary,
    /// Every positive class of a contract (its `labels` list).
    Multilabel,
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "multiclass" | "multi-class" => Ok(Task::Multiclass),
            "binary" => Ok(Task::Binary),
            "multilabel" | "multi-label" => Ok(Task::Multilabel),
            other => Err(format!(
                "unknown task `{other}` (expected multiclass, binary or multilabel)"
            )),
        }
    }
}

/// What a label outside the vocabulary (`vocabulary.rs`) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownLabels {
    /// Stop with the file, line and label (a typo must not train as "vulnerable").
    #[default]
    Error,
    /// Leave such records out, counted in the label report.
    Drop,
    /// Accept any label as a class (in a binary task: vulnerable).
    Keep,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// From the path: a folder, `.jsonl`/`.ndjson`/`.json`, or `.csv`.
    #[default]
    Auto,
    Jsonl,
    Csv,
    Folder,
}

/// Names of the fields in the input file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    pub id: String,
    pub text: String,
    pub label: String,
    pub labels: String,
    pub split: String,
    pub group: String,
    /// How a CSV cell holds several labels (a JSON array is accepted too).
    pub labels_separator: String,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            id: "id".into(),
            text: "code".into(),
            label: "label".into(),
            labels: "labels".into(),
            split: "split".into(),
            group: "group".into(),
            labels_separator: ";".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanConfig {
    pub strip_comments: bool,
    pub normalize_whitespace: bool,
    pub drop_pragma: bool,
}

impl Default for CleanConfig {
    fn default() -> Self {
        Self {
            strip_comments: true,
            normalize_whitespace: true,
            drop_pragma: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupConfig {
    /// Token 5-gram Jaccard at or above which two contracts are near-duplicates.
    pub near_threshold: f64,
    pub shingle: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            near_threshold: 0.8,
            shingle: 5,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitSource {
    /// The file's `split` field when every record has one, else a seeded split.
    #[default]
    Auto,
    Field,
    Seeded,
}

/// A `split` value that is not train, valid or test (nor an alias), e.g. `holdout`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownSplit {
    /// Stop with the file, line and value: silently re-splitting the whole file would mix a
    /// held-out set into training.
    #[default]
    Error,
    /// Keep such records out of every split (counted in the label report).
    Drop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    pub source: SplitSource,
    /// What a record whose split field names no known split does.
    pub unknown: UnknownSplit,
    /// Train, valid, test.
    pub fractions: [f64; 3],
    pub seed: u64,
    /// Values of `hold_out_field` whose contracts form the test split (source-disjoint
    /// evaluation); the rest is split into train and valid by `fractions`. Empty: off.
    pub hold_out: Vec<String>,
    pub hold_out_field: String,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            source: SplitSource::Auto,
            unknown: UnknownSplit::Error,
            fractions: [0.8, 0.1, 0.1],
            seed: 13,
            hold_out: Vec::new(),
            hold_out_field: "origin".into(),
        }
    }
}

/// The `[dataset]` section of an experiment config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub file: PathBuf,
    pub format: Format,
    pub task: Task,
    pub fields: Fields,
    /// The class name that means "no vulnerability".
    pub safe_label: String,
    /// Explicit class list; a label outside it (after merging) is an error. Empty: inferred.
    pub classes: Vec<String>,
    /// Label names accepted besides the built-in vocabulary (when `classes` is empty).
    pub known_labels: Vec<String>,
    /// A label outside the vocabulary: `error`, `drop` or `keep`.
    pub unknown_labels: UnknownLabels,
    /// Class merging, e.g. `tx_origin = "access_control"`.
    pub merge: BTreeMap<String, String>,
    pub drop: Vec<String>,
    /// Classes with fewer examples than this are dropped.
    pub min_count: usize,
    /// Skip malformed records (and count them) instead of failing.
    pub skip_bad: bool,
    /// Larger contracts are malformed input (a concatenated dump, a binary blob), not code.
    pub max_contract_bytes: usize,
    pub clean: CleanConfig,
    pub dedup: DedupConfig,
    pub split: SplitConfig,
    /// Tokens per window, special tokens included.
    pub max_len: usize,
    /// Tokens shared by consecutive windows.
    pub stride: usize,
    /// Windows kept per contract (0 = all).
    pub max_windows: usize,
    pub windows: WindowSelection,
    /// Use at most this many contracts (0 = all), for smoke tests.
    pub limit: usize,
}

/// Which windows of a long contract are kept when it has more than `max_windows`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSelection {
    #[serde(rename = "head")]
    Head,
    #[default]
    #[serde(rename = "head+tail")]
    HeadTail,
    #[serde(rename = "all")]
    All,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::new(),
            format: Format::Auto,
            task: Task::Multiclass,
            fields: Fields::default(),
            safe_label: "safe".into(),
            classes: Vec::new(),
            known_labels: Vec::new(),
            unknown_labels: UnknownLabels::Error,
            merge: BTreeMap::new(),
            drop: Vec::new(),
            min_count: 0,
            skip_bad: false,
            max_contract_bytes: 1 << 20,
            clean: CleanConfig::default(),
            dedup: DedupConfig::default(),
            split: SplitConfig::default(),
            max_len: 256,
            stride: 32,
            max_windows: 8,
            windows: WindowSelection::HeadTail,
            limit: 0,
        }
    }
}
