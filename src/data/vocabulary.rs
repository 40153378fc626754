//! The label names Alambic knows without being told: the DASP categories and the SWC-style
//! names of the public Solidity benchmark sets (SmartBugs curated, the Consolidated Ground
//! Truth behind cgt_dasp) and of the demo generator. A label outside this list and outside the
//! config (`classes`, `known_labels`, `merge`, `drop`, `safe_label`) is a typo or a foreign
//! vocabulary, and `dataset.unknown_labels` says what to do with it: by default, an error.

use super::config::{DataConfig, UnknownLabels};
use std::collections::BTreeSet;

pub const KNOWN_CLASSES: [&str; 14] = [
    "access_control",
    "arithmetic",
    "bad_randomness",
    "denial_of_service",
    "front_running",
    "locked_ether",
    "other",
    "reentrancy",
    "short_addresses",
    "time_manipulation",
    "tx_origin",
    "unchecked_low_level_calls",
    "unknown_unknowns",
    "vulnerable",
];

/// Every label name a dataset may state under this config.
pub struct Vocabulary {
    names: BTreeSet<String>,
    pub policy: UnknownLabels,
}

impl Vocabulary {
    pub fn new(cfg: &DataConfig) -> Self {
        let mut names: BTreeSet<String> = BTreeSet::new();
        if cfg.classes.is_empty() {
            names.extend(KNOWN_CLASSES.iter().map(|c| c.to_string()));
        } else {
            names.extend(cfg.classes.iter().cloned());
        }
        names.extend(cfg.known_labels.iter().cloned());
        names.extend(cfg.merge.keys().cloned());
        names.extend(cfg.merge.values().cloned());
        names.extend(cfg.drop.iter().cloned());
        names.insert(cfg.safe_label.clone());
        Self {
            names,
            policy: cfg.unknown_labels,
        }
    }

    pub fn knows(&self, label: &str) -> bool {
        self.policy == UnknownLabels::Keep || self.names.contains(label)
    }

    /// Why `label` is refused, with the nearest known name when there is one (`Safe` → `safe`).
    pub fn refusal(&self, label: &str) -> String {
        let numeric = !label.is_empty() && label.chars().all(|c| c.is_ascii_digit());
        let hint = if numeric {
            // A 0/1 column is how most labelled datasets outside cgt_dasp mark vulnerability.
            " (a number names no class: map it, e.g. dataset.merge = { \"0\" = \"safe\", \
             \"1\" = \"vulnerable\" })"
                .to_string()
        } else {
            self.nearest(label)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default()
        };
        format!(
            "unknown label `{label}`{hint}; known: {}. Name it in dataset.classes or \
             dataset.known_labels, merge it (dataset.merge), or set dataset.unknown_labels = \
             \"drop\" (skip such records) or \"keep\" (accept any label)",
            self.names.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }

    fn nearest(&self, label: &str) -> Option<&str> {
        let lower = label.to_lowercase().replace(['-', ' ', '.'], "_");
        self.names
            .iter()
            .map(|n| (strsim::levenshtein(&lower, &n.to_lowercase()), n))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, n)| n.as_str())
    }
}
