//! Tokenizer throughput on a real dataset: contracts and tokens per second through the path
//! training uses (encode each contract and cut it into windows, contracts in parallel).

use super::median;
use crate::data::Dataset;
use crate::tokenize::{TextTokenizer, TokenizeError, WindowSpec};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct TokenizerRate {
    pub tokenizer: String,
    pub contracts: usize,
    /// Tokens in all windows, specials included.
    pub tokens: usize,
    pub windows: usize,
    pub median_s: f64,
    pub contracts_per_s: f64,
    pub tokens_per_s: f64,
}

pub fn measure_tokenizer(
    ds: &Dataset,
    tok: &TextTokenizer,
    spec: WindowSpec,
    rounds: usize,
) -> Result<TokenizerRate, TokenizeError> {
    let (mut tokens, mut n_windows) = (0, 0);
    let mut times = Vec::new();
    for _ in 0..rounds.max(1) {
        let clock = Instant::now();
        let all = ds
            .records
            .par_iter()
            .map(|r| tok.windows(&r.code, spec))
            .collect::<Result<Vec<_>, _>>()?;
        times.push(clock.elapsed().as_secs_f64());
        n_windows = all.iter().map(Vec::len).sum();
        tokens = all.iter().flatten().map(|w| w.ids.len()).sum();
    }
    let median_s = median(times);
    Ok(TokenizerRate {
        tokenizer: tok.source.clone(),
        contracts: ds.records.len(),
        tokens,
        windows: n_windows,
        median_s,
        contracts_per_s: ds.records.len() as f64 / median_s.max(1e-12),
        tokens_per_s: tokens as f64 / median_s.max(1e-12),
    })
}
