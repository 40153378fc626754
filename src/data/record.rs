use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The three splits a model sees, plus contracts kept apart without labels (a transfer set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Valid,
    Test,
    Unlabeled,
}

impl Split {
    pub const MODEL_SPLITS: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// Accepts the usual spellings found in published datasets.
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "valid" | "validation" | "val" | "dev" => Some(Split::Valid),
            "test" | "testing" => Some(Split::Test),
            "unlabeled" | "unlabelled" => Some(Split::Unlabeled),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
            Split::Unlabeled => "unlabeled",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One labelled contract after import and label mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: String,
    pub code: String,
    /// The primary class (multi-class), `safe`/`vulnerable` (binary), or the rarest positive
    /// class (multi-label, used only to stratify splits).
    pub label: String,
    /// Every positive class; empty means safe.
    pub labels: Vec<String>,
    pub split: Option<Split>,
    pub group: Option<String>,
    /// Fields we do not interpret (e.g. `origin`), kept so that writing the dataset back loses
    /// nothing and metrics can later be broken down by them.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Where the record came from: the line of a JSONL/CSV file, 0 for a `.sol` file.
    pub line: usize,
}
