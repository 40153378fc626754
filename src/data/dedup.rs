//! Exact and near-duplicate groups.
//!
//! Exact: the same token sequence once comments, `pragma` statements and layout are gone (as
//! cgt_dasp merged its sources). Near: token
//! k-gram (shingle) Jaccard at or above a threshold. Candidate pairs come from MinHash
//! signatures split into LSH bands; every candidate is then confirmed with the
//! exact Jaccard of the two shingle sets, so the threshold means what it says. Groups are the
//! connected components of confirmed pairs (union-find), as in the published dataset.

use super::clean::{lex, strip_comments};
use super::config::DedupConfig;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

const BANDS: usize = 24;
const ROWS: usize = 5;
const BINS: usize = BANDS * ROWS;
/// Candidates whose signature agreement is this far below the threshold are not worth an exact
/// check: with 120 hash functions the estimate of a pair at Jaccard 0.8 has a standard
/// deviation of 0.037, so 0.12 below misses one such pair in 2,000.
const ESTIMATE_SLACK: f64 = 0.12;

#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateGroups {
    /// Index of each record's exact-duplicate group.
    pub exact: Vec<usize>,
    /// Index of each record's near-duplicate group (exact duplicates are near duplicates too).
    pub near: Vec<usize>,
}

impl DuplicateGroups {
    /// (groups with more than one member, records in them).
    pub fn exact_summary(&self) -> (usize, usize) {
        multi_member(&self.exact)
    }

    pub fn near_summary(&self) -> (usize, usize) {
        multi_member(&self.near)
    }

    pub fn near_group_count(&self) -> usize {
        self.near.iter().copied().max().map_or(0, |m| m + 1)
    }
}

fn multi_member(groups: &[usize]) -> (usize, usize) {
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for &g in groups {
        *sizes.entry(g).or_default() += 1;
    }
    let multi: Vec<usize> = sizes.values().copied().filter(|&n| n > 1).collect();
    (multi.len(), multi.iter().sum())
}

pub fn find_groups(texts: &[&str], cfg: &DedupConfig) -> DuplicateGroups {
    let shingle_sets: Vec<(u64, Vec<u64>)> = texts
        .par_iter()
        .map(|t| shingles(&strip_comments(t), cfg.shingle.max(1)))
        .collect();
    let mut uf = UnionFind::new(texts.len());
    // Exact duplicates first: identical token sequences.
    let mut by_hash: HashMap<u64, usize> = HashMap::new();
    for (i, (hash, _)) in shingle_sets.iter().enumerate() {
        match by_hash.get(hash) {
            Some(&first) => uf.union(first, i),
            None => {
                by_hash.insert(*hash, i);
            }
        }
    }
    let exact = uf.labels();

    let signatures: Vec<[u64; BINS]> = shingle_sets.par_iter().map(|(_, s)| signature(s)).collect();
    let mut checked: HashSet<(usize, usize)> = HashSet::new();
    for band in 0..BANDS {
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, sig) in signatures.iter().enumerate() {
            if shingle_sets[i].1.is_empty() {
                continue;
            }
            let rows = &sig[band * ROWS..(band + 1) * ROWS];
            let key = xxh3_64(bytemuck_rows(rows).as_slice());
            buckets.entry(key).or_default().push(i);
        }
        // Cheapest tests first (same group already, signature estimate); each pair is
        // measured once; the exact measurements of a band run in parallel.
        let mut pairs = Vec::new();
        for members in buckets.values().filter(|m| m.len() > 1) {
            for (x, &a) in members.iter().enumerate() {
                for &b in &members[x + 1..] {
                    if uf.find(a) == uf.find(b)
                        || estimate(&signatures[a], &signatures[b])
                            < cfg.near_threshold - ESTIMATE_SLACK
                        || !checked.insert((a.min(b), a.max(b)))
                    {
                        continue;
                    }
                    pairs.push((a, b));
                }
            }
        }
        let similar: Vec<(usize, usize)> = pairs
            .into_par_iter()
            .filter(|&(a, b)| jaccard(&shingle_sets[a].1, &shingle_sets[b].1) >= cfg.near_threshold)
            .collect();
        for (a, b) in similar {
            uf.union(a, b);
        }
    }
    DuplicateGroups {
        exact,
        near: uf.labels(),
    }
}

/// The exact-sequence hash (pragma statements left out) and the sorted, distinct shingle
/// hashes of comment-free code.
fn shingles(code: &str, k: usize) -> (u64, Vec<u64>) {
    let tokens = lex(code);
    let token_hashes: Vec<u64> = tokens.iter().map(|t| xxh3_64(t.as_bytes())).collect();
    let mut in_pragma = false;
    let without_pragma: Vec<u64> = tokens
        .iter()
        .zip(&token_hashes)
        .filter(|(t, _)| {
            if **t == "pragma" {
                in_pragma = true;
            }
            let keep = !in_pragma;
            if in_pragma && **t == ";" {
                in_pragma = false;
            }
            keep
        })
        .map(|(_, &h)| h)
        .collect();
    let exact = xxh3_64(bytemuck_rows(&without_pragma).as_slice());
    let mut set: Vec<u64> = if token_hashes.is_empty() {
        Vec::new()
    } else if token_hashes.len() < k {
        vec![exact]
    } else {
        token_hashes
            .windows(k)
            .map(|w| xxh3_64(bytemuck_rows(w).as_slice()))
            .collect()
    };
    set.sort_unstable();
    set.dedup();
    (exact, set)
}

fn bytemuck_rows(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Classic MinHash: `BINS` hash functions `a·x + b` (mod 2^64, `a` odd), each a permutation
/// of the already well-mixed shingle hashes; a signature keeps each function's minimum.
fn signature(set: &[u64]) -> [u64; BINS] {
    let mut sig = [u64::MAX; BINS];
    for &h in set {
        for (slot, (a, b)) in sig.iter_mut().zip(HASH_PARAMS.iter()) {
            let v = a.wrapping_mul(h).wrapping_add(*b);
            if v < *slot {
                *slot = v;
            }
        }
    }
    sig
}

/// The `(a, b)` pairs of the MinHash functions, drawn once from a fixed seed.
static HASH_PARAMS: std::sync::LazyLock<[(u64, u64); BINS]> = std::sync::LazyLock::new(|| {
    let mut params = [(0u64, 0u64); BINS];
    for (i, p) in params.iter_mut().enumerate() {
        let a = xxh3_64_with_seed(&(i as u64).to_le_bytes(), 0xa11c) | 1;
        let b = xxh3_64_with_seed(&(i as u64).to_le_bytes(), 0xb0b);
        *p = (a, b);
    }
    params
});

fn estimate(a: &[u64; BINS], b: &[u64; BINS]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / BINS as f64
}

/// Jaccard similarity of two sorted sets of distinct values.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common) as f64
}

pub(crate) struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    pub(crate) fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index is the root, so group numbering follows file order.
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi] = lo;
        }
    }

    /// Dense group numbers in order of first appearance.
    pub(crate) fn labels(&mut self) -> Vec<usize> {
        let mut ids: HashMap<usize, usize> = HashMap::new();
        (0..self.parent.len())
            .map(|i| {
                let root = self.find(i);
                let next = ids.len();
                *ids.entry(root).or_insert(next)
            })
            .collect()
    }
}
