//! The dataset pane's state: statistics and contracts of the config's dataset, loaded on a
//! background thread (duplicate search takes a moment on large sets), and the contract list's
//! filters and selection.

use crate::data::stats::{self, DataStats};
use crate::data::{DataConfig, Dataset, Split};
use crate::tokenize::{TextTokenizer, WindowSpec};
use std::sync::mpsc::{Receiver, channel};

#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    pub id: String,
    pub label: String,
    pub labels: Vec<String>,
    pub split: String,
    pub code: String,
}

#[derive(Clone, Debug)]
pub struct Loaded {
    pub stats: DataStats,
    pub contracts: Vec<Contract>,
}

#[derive(Default)]
pub struct DatasetView {
    pub loaded: Option<Loaded>,
    pub error: Option<String>,
    pub loading: Option<Receiver<Result<Loaded, String>>>,
    pub filter: String,
    pub filtering: bool,
    pub class: Option<String>,
    pub split: Option<String>,
    pub selected: usize,
    pub viewer_scroll: usize,
    /// The picked run's verdicts and line scores for the selected contract.
    pub evidence: super::evidence::EvidenceView,
}

pub fn load(cfg: &DataConfig, sources: &[&str]) -> Result<Loaded, String> {
    let ds = Dataset::prepare(cfg).map_err(|e| e.to_string())?;
    let mut stats = stats::compute(&ds);
    if let Some(tok) = TextTokenizer::named_by(sources) {
        let spec = WindowSpec {
            max_len: cfg.max_len,
            stride: cfg.stride,
        };
        stats.tokens = stats::token_stats(&ds, &tok, spec).ok();
    }
    let contracts = ds
        .records
        .into_iter()
        .map(|r| Contract {
            id: r.id,
            label: r.label,
            labels: r.labels,
            split: r.split.map_or("-".into(), |s: Split| s.name().to_string()),
            code: r.code,
        })
        .collect();
    Ok(Loaded { stats, contracts })
}

impl DatasetView {
    /// Starts loading on a thread; `poll_loading` picks the result up.
    pub fn start_loading(&mut self, cfg: DataConfig, sources: Vec<String>) {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
            let _ = tx.send(load(&cfg, &refs));
        });
        self.loading = Some(rx);
    }

    pub fn poll_loading(&mut self) {
        let Some(rx) = &self.loading else { return };
        if let Ok(result) = rx.try_recv() {
            match result {
                Ok(l) => self.loaded = Some(l),
                Err(e) => self.error = Some(e),
            }
            self.loading = None;
        }
    }

    /// Indices of the contracts that pass the filters.
    pub fn visible(&self) -> Vec<usize> {
        let Some(l) = &self.loaded else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        l.contracts
            .iter()
            .enumerate()
            .filter(|(_, c)| self.class.as_ref().is_none_or(|k| &c.label == k))
            .filter(|(_, c)| self.split.as_ref().is_none_or(|s| &c.split == s))
            .filter(|(_, c)| {
                needle.is_empty()
                    || c.id.to_lowercase().contains(&needle)
                    || c.code.to_lowercase().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub fn current(&self) -> Option<&Contract> {
        let i = *self.visible().get(self.selected)?;
        self.loaded.as_ref()?.contracts.get(i)
    }

    pub fn move_selection(&mut self, down: bool) {
        let n = self.visible().len();
        if n == 0 {
            return;
        }
        self.selected = if down {
            (self.selected + 1).min(n - 1)
        } else {
            self.selected.saturating_sub(1)
        };
        self.viewer_scroll = 0;
        self.evidence.hot = None;
    }

    /// `n`: scrolls the viewer to the next hottest line of the selected contract (a few
    /// lines of context above it), from the hottest on, round again after the last.
    pub fn next_hot_line(&mut self) {
        let Some(id) = self.current().map(|c| c.id.clone()) else {
            return;
        };
        let Some(Ok(e)) = self.evidence.get(&id) else {
            return;
        };
        if e.ranked.is_empty() {
            return;
        }
        let rank = self.evidence.hot.map_or(0, |r| (r + 1) % e.ranked.len());
        self.viewer_scroll = e.ranked[rank].saturating_sub(4);
        self.evidence.hot = Some(rank);
    }

    pub fn scroll_viewer(&mut self, down: bool) {
        self.viewer_scroll = if down {
            self.viewer_scroll + 5
        } else {
            self.viewer_scroll.saturating_sub(5)
        };
    }

    pub fn clamp_selection(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    pub fn cycle_class(&mut self) {
        let Some(l) = &self.loaded else { return };
        let classes: Vec<String> = l.stats.classes.iter().map(|c| c.class.clone()).collect();
        self.class = cycle(&classes, self.class.as_ref());
        self.selected = 0;
    }

    pub fn cycle_split(&mut self) {
        let splits: Vec<String> = ["train", "valid", "test"].map(String::from).to_vec();
        self.split = cycle(&splits, self.split.as_ref());
        self.selected = 0;
    }
}

/// None → first → … → last → None.
fn cycle(options: &[String], current: Option<&String>) -> Option<String> {
    match current.and_then(|c| options.iter().position(|o| o == c)) {
        None => options.first().cloned(),
        Some(i) => options.get(i + 1).cloned(),
    }
}
