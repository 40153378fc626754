//! The dataset pane's evidence: a finished run picked with `m` explains the selected contract
//! on a worker thread (integrated gradients, the run's own cleaning and windows); results are
//! cached per run and contract, so moving back and forth costs nothing.

use crate::explain::{ExplainOptions, explain};
use crate::infer::Scorer;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

/// A contract's verdict by the picked run and its line scores.
#[derive(Clone, Debug, PartialEq)]
pub struct LineEvidence {
    pub verdict: String,
    pub probability: f32,
    /// Per line of the contract, in order.
    pub scores: Vec<f32>,
    /// The lines the model read, best first (1-based).
    pub ranked: Vec<usize>,
}

/// A contract's id and its evidence; `None`: skipped, as the user had moved on.
type Answer = (String, Option<Result<LineEvidence, String>>);

struct Worker {
    run: PathBuf,
    requests: Sender<(String, String)>,
    answers: Receiver<Answer>,
}

#[derive(Default)]
pub struct EvidenceView {
    /// The run whose verdicts the pane shows; `None`: no evidence.
    pub run: Option<PathBuf>,
    cache: HashMap<(PathBuf, String), Result<LineEvidence, String>>,
    pending: HashSet<(PathBuf, String)>,
    worker: Option<Worker>,
    /// Rank of the hot line `n` last jumped to.
    pub hot: Option<usize>,
}

impl EvidenceView {
    /// The next of `runs` after the picked one, then none again.
    pub fn cycle_run(&mut self, runs: &[PathBuf]) {
        let next = match self
            .run
            .as_ref()
            .and_then(|r| runs.iter().position(|p| p == r))
        {
            None => runs.first().cloned(),
            Some(i) => runs.get(i + 1).cloned(),
        };
        self.run = next;
        self.hot = None;
    }

    /// The picked run's evidence for a contract: `None` while it is being computed.
    pub fn get(&self, id: &str) -> Option<&Result<LineEvidence, String>> {
        let run = self.run.as_ref()?;
        self.cache.get(&(run.clone(), id.to_string()))
    }

    /// Asks for a contract's evidence unless it is known or on its way.
    pub fn request(&mut self, id: &str, code: &str) {
        let Some(run) = self.run.clone() else { return };
        let key = (run.clone(), id.to_string());
        if self.cache.contains_key(&key) || self.pending.contains(&key) {
            return;
        }
        if self.worker.as_ref().is_none_or(|w| w.run != run) {
            self.worker = Some(spawn(&run));
        }
        if let Some(w) = &self.worker
            && w.requests.send((id.to_string(), code.to_string())).is_ok()
        {
            self.pending.insert(key);
        }
    }

    /// Picks up what the worker finished.
    pub fn poll(&mut self) {
        let Some(w) = &self.worker else { return };
        while let Ok((id, result)) = w.answers.try_recv() {
            let key = (w.run.clone(), id);
            self.pending.remove(&key);
            if let Some(result) = result {
                self.cache.insert(key, result);
            }
        }
    }

    /// Waits (up to `timeout`) for the pending answers: for tests and scripted use.
    pub fn wait(&mut self, timeout: std::time::Duration) {
        let start = std::time::Instant::now();
        while !self.pending.is_empty() && start.elapsed() < timeout {
            self.poll();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A thread that opens the run once and explains what it is sent.
fn spawn(run: &Path) -> Worker {
    let (req_tx, req_rx) = channel::<(String, String)>();
    let (ans_tx, ans_rx) = channel::<Answer>();
    let source = run.display().to_string();
    std::thread::spawn(move || {
        let scorer = Scorer::open(&source, None, None).map_err(|e| e.to_string());
        while let Ok(mut next) = req_rx.recv() {
            // Only the newest request matters: a user scrolling through the list has left
            // the others behind (they are asked again if the user comes back).
            while let Ok(newer) = req_rx.try_recv() {
                if ans_tx.send((next.0, None)).is_err() {
                    return;
                }
                next = newer;
            }
            let (id, code) = next;
            let result = match &scorer {
                Ok(s) => evidence(s, &code),
                Err(e) => Err(e.clone()),
            };
            if ans_tx.send((id, Some(result))).is_err() {
                break;
            }
        }
    });
    Worker {
        run: run.to_path_buf(),
        requests: req_tx,
        answers: ans_rx,
    }
}

fn evidence(scorer: &Scorer, code: &str) -> Result<LineEvidence, String> {
    let e = explain(scorer, code, &ExplainOptions::default()).map_err(|e| e.to_string())?;
    let probability = e.verdict.probability();
    Ok(LineEvidence {
        ranked: e.top_lines(usize::MAX),
        scores: e.lines.iter().map(|l| l.score).collect(),
        verdict: e.verdict.verdict,
        probability,
    })
}
