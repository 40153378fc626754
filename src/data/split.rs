//! Stratified, group-disjoint, seeded splits.
//!
//! Duplicate groups never straddle splits (that would be leakage). Groups with several members
//! are placed first, largest first, each where it overshoots the per-class targets least; the
//! single contracts then fill each class's split with the largest remaining deficit, which
//! lands every class within one sample of its target whenever the groups allow it.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

use super::record::Split;

/// `strata[i]` is record i's class index, `groups[i]` its duplicate group; returns a split per
/// record.
pub fn assign(strata: &[usize], groups: &[usize], fractions: [f64; 3], seed: u64) -> Vec<Split> {
    let n_classes = strata.iter().copied().max().map_or(0, |m| m + 1);
    let mut class_totals = vec![0usize; n_classes];
    for &c in strata {
        class_totals[c] += 1;
    }
    let total: f64 = fractions.iter().sum();
    let targets: Vec<[f64; 3]> = class_totals
        .iter()
        .map(|&n| fractions.map(|f| n as f64 * f / total))
        .collect();

    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut order: Vec<Vec<usize>> = members.into_values().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    // Stable: groups of one size stay in shuffled order.
    order.sort_by_key(|m| std::cmp::Reverse(m.len()));

    // A split with no share (the test split when whole sources are held out) takes nothing,
    // not even the rounding left over at the end.
    let open = fractions.map(|f| f > 0.0);
    let mut current = vec![[0usize; 3]; n_classes];
    let mut result = vec![Split::Train; strata.len()];
    for group in &order {
        let split = if group.len() == 1 {
            let c = strata[group[0]];
            largest_deficit(&targets[c], &current[c], open)
        } else {
            least_overshoot(group, strata, &targets, &current, open)
        };
        for &i in group {
            current[strata[i]][split] += 1;
            result[i] = Split::MODEL_SPLITS[split];
        }
    }
    result
}

fn largest_deficit(target: &[f64; 3], current: &[usize; 3], open: [bool; 3]) -> usize {
    let deficit = |s: usize| target[s] - current[s] as f64;
    let mut best: Option<usize> = None;
    for s in (0..3).filter(|&s| open[s]) {
        if best.is_none_or(|b| deficit(s) > deficit(b)) {
            best = Some(s);
        }
    }
    best.unwrap_or(0)
}

fn least_overshoot(
    group: &[usize],
    strata: &[usize],
    targets: &[[f64; 3]],
    current: &[[usize; 3]],
    open: [bool; 3],
) -> usize {
    let mut adds: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in group {
        *adds.entry(strata[i]).or_default() += 1;
    }
    let score = |s: usize| {
        let mut overshoot = 0.0;
        let mut deficit = 0.0;
        for (&c, &n) in &adds {
            let after = (current[c][s] + n) as f64;
            overshoot += (after - targets[c][s]).max(0.0);
            deficit += targets[c][s] - current[c][s] as f64;
        }
        (overshoot, -deficit)
    };
    (0..3)
        .filter(|&s| open[s])
        .min_by(|&a, &b| {
            score(a)
                .partial_cmp(&score(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or(0)
}
