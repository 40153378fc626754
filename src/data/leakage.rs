//! Leakage: contracts of a later split that have an exact or near duplicate in an earlier one.

use super::dedup::DuplicateGroups;
use super::record::Split;
use serde::Serialize;
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakPair {
    pub from: Split,
    pub to: Split,
    /// Records of `to` with an exact duplicate in `from`.
    pub exact: usize,
    /// Records of `to` with a near (or exact) duplicate in `from`.
    pub near: usize,
}

pub fn report(splits: &[Option<Split>], groups: &DuplicateGroups) -> Vec<LeakPair> {
    const PAIRS: [(Split, Split); 3] = [
        (Split::Train, Split::Valid),
        (Split::Train, Split::Test),
        (Split::Valid, Split::Test),
    ];
    PAIRS
        .iter()
        .map(|&(from, to)| LeakPair {
            from,
            to,
            exact: leaked(splits, &groups.exact, from, to),
            near: leaked(splits, &groups.near, from, to),
        })
        .collect()
}

fn leaked(splits: &[Option<Split>], groups: &[usize], from: Split, to: Split) -> usize {
    let in_from: HashSet<usize> = splits
        .iter()
        .zip(groups)
        .filter(|(s, _)| **s == Some(from))
        .map(|(_, &g)| g)
        .collect();
    splits
        .iter()
        .zip(groups)
        .filter(|(s, g)| **s == Some(to) && in_from.contains(g))
        .count()
}
