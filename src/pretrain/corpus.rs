//! The unlabelled corpus, streamed: contracts are read one at a time from the file (JSONL,
//! gzipped or not; other formats through the dataset readers), cleaned as fine-tuning data is,
//! cut into windows and shuffled through a bounded buffer, so the corpus's size never sets the
//! memory. A held-out share of the contracts, chosen by their `group` (else `id`, else line)
//! so that near-duplicates stay together, gives the validation windows.

use crate::data::DataError;
use crate::data::clean;
use crate::data::config::DataConfig;
use crate::data::read::{self, gz};
use crate::tokenize::TextTokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::BufRead;
use std::path::PathBuf;

/// One contract of the corpus: its position, the key that holds out, and its code.
pub struct Contract {
    pub index: u64,
    pub key: String,
    pub text: String,
}

/// The corpus file and how to read it.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub path: PathBuf,
    pub data: DataConfig,
    /// Share of contracts held out for validation (by key).
    pub valid_share: f64,
}

impl Corpus {
    /// Whether a contract is held out for validation: a hash of its key, so the choice does
    /// not depend on the file's order or on the seed.
    pub fn is_valid(&self, key: &str) -> bool {
        let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
        (h % 1_000_000) as f64 / 1e6 < self.valid_share
    }

    /// Calls `each` with every contract in file order; stops early when it returns false.
    pub fn for_each(
        &self,
        mut each: impl FnMut(Contract) -> Result<bool, crate::train::TrainError>,
    ) -> Result<(), crate::train::TrainError> {
        let jsonl = matches!(
            read::detect_format(&self.path, self.data.format)?,
            crate::data::config::Format::Jsonl
        );
        if !jsonl {
            // CSV and folders of .sol files through the dataset readers (labels ignored).
            let mut cfg = self.data.clone();
            cfg.file = self.path.clone();
            let records = read::read(&self.path, &cfg)?.records;
            for (i, r) in records.into_iter().enumerate() {
                let key = r.group.or(r.id).unwrap_or_else(|| r.line.to_string());
                let text = clean::clean(&r.text, &self.data.clean);
                if !each(Contract {
                    index: i as u64,
                    key,
                    text,
                })? {
                    break;
                }
            }
            return Ok(());
        }
        let reader = gz::open(&self.path)?;
        let mut index = 0u64;
        for (i, line) in reader.lines().enumerate() {
            let line =
                line.map_err(|e| DataError::file(&self.path, format!("cannot read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let Some(contract) = self.parse(&line, i + 1, index)? else {
                continue;
            };
            index += 1;
            if !each(contract)? {
                break;
            }
        }
        Ok(())
    }

    /// One JSONL line; `None` for a bad line when `dataset.skip_bad` is on.
    fn parse(&self, line: &str, number: usize, index: u64) -> Result<Option<Contract>, DataError> {
        let f = &self.data.fields;
        let parsed: Result<(String, String), String> =
            serde_json::from_str::<serde_json::Value>(line)
                .map_err(|e| format!("malformed JSON: {e}"))
                .and_then(|v| {
                    let text = v
                        .get(&f.text)
                        .and_then(|t| t.as_str())
                        .ok_or_else(|| format!("missing text field `{}`", f.text))?;
                    let key = [&f.group, &f.id]
                        .iter()
                        .find_map(|k| v.get(k.as_str()).and_then(|x| x.as_str()))
                        .map_or_else(|| number.to_string(), str::to_string);
                    Ok((key, text.to_string()))
                });
        match parsed {
            Ok((key, text)) => Ok(Some(Contract {
                index,
                key,
                text: clean::clean(&text, &self.data.clean),
            })),
            Err(_) if self.data.skip_bad => Ok(None),
            Err(msg) => Err(DataError::record(&self.path, number, msg)),
        }
    }
}

/// How contracts become windows: `body` content tokens each (non-overlapping: every token is
/// read once an epoch), wrapped in the tokenizer's special tokens.
#[derive(Clone, Debug)]
pub struct Windowing {
    pub body: usize,
    /// Share of each contract's windows used, drawn per (seed, epoch, contract).
    pub share: f64,
    pub seed: u64,
}

/// A trailing window shorter than this share of `body` is dropped (unless it is the only
/// one): it would cost a whole row of padding for a few tokens.
const SHORTEST_TAIL: usize = 8;

impl Windowing {
    /// The windows of one contract in one epoch.
    pub fn windows(
        &self,
        tok: &TextTokenizer,
        contract: &Contract,
        epoch: usize,
    ) -> Result<Vec<Vec<u32>>, crate::train::TrainError> {
        let (ids, _) = tok.encode_content(&contract.text)?;
        let mut out = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x7769_6e64_6f77);
        rng.set_stream(((epoch as u64) << 40) ^ contract.index);
        let chunks: Vec<&[u32]> = ids.chunks(self.body.max(1)).collect();
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            if n > 1 && i + 1 == n && chunk.len() * SHORTEST_TAIL < self.body {
                continue;
            }
            if self.share < 1.0 && rng.random::<f64>() >= self.share {
                continue;
            }
            let mut w = Vec::with_capacity(chunk.len() + tok.special_count());
            w.extend_from_slice(tok.prefix());
            w.extend_from_slice(chunk);
            w.extend_from_slice(tok.suffix());
            out.push(w);
        }
        Ok(out)
    }
}

/// A seeded shuffle over a stream: items wait in a buffer of at most `capacity` and leave it
/// in random order, so order is mixed across nearby contracts without holding the corpus.
pub struct ShuffleBuffer<T> {
    items: Vec<T>,
    capacity: usize,
    rng: ChaCha8Rng,
}

impl<T> ShuffleBuffer<T> {
    pub fn new(capacity: usize, seed: u64, epoch: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0073_6875_6666_6c65);
        rng.set_stream(epoch as u64);
        Self {
            items: Vec::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            rng,
        }
    }

    /// Adds an item; returns one that leaves when the buffer is full.
    pub fn push(&mut self, item: T) -> Option<T> {
        self.items.push(item);
        (self.items.len() > self.capacity).then(|| self.take())
    }

    fn take(&mut self) -> T {
        let i = self.rng.random_range(0..self.items.len());
        self.items.swap_remove(i)
    }

    /// What is left, in random order.
    pub fn drain(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.items.len());
        while !self.items.is_empty() {
            out.push(self.take());
        }
        out
    }
}
