//! `alambic data synth`: the bundled demo dataset, generated from templates of our own.
//!
//! Contracts share boilerplate and neutral names; vulnerable ones carry a weakness in one
//! function, safe ones carry near-miss forms of the same functions (the risky call guarded,
//! the check present), and a share of labels is flipped, so a small model cannot score 100 %.
//! The same seed gives the same bytes.

mod era;
mod templates;

use era::Era;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use templates::{Names, WEAKNESSES, pick};

pub use templates::WEAKNESSES as DEMO_WEAKNESSES;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    pub count: usize,
    pub seed: u64,
    /// Share of contracts whose label is replaced by another class.
    pub label_noise: f64,
    /// Share of contracts with no weakness.
    pub safe_share: f64,
    /// Share of vulnerable contracts with a second weakness.
    pub second_weakness: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            count: 480,
            seed: 7,
            label_noise: 0.05,
            safe_share: 0.35,
            second_weakness: 0.15,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthRecord {
    pub id: String,
    pub code: String,
    pub label: String,
    pub labels: Vec<String>,
    /// The 1-based lines that carry the planted weaknesses (the code is already clean:
    /// cleaning leaves its lines where they are); empty for a safe contract. Label noise
    /// does not move them: they say where the code is vulnerable, whatever the label says.
    pub bug_lines: Vec<usize>,
}

/// Relative frequency of each weakness, in `WEAKNESSES` order: imbalanced on purpose.
const WEIGHTS: [u32; 7] = [2, 3, 3, 5, 4, 3, 4];

const CONTRACT_NAMES: [&str; 16] = [
    "Vault",
    "Ledger",
    "Treasury",
    "Escrow",
    "Pool",
    "Registry",
    "Market",
    "Auction",
    "Wallet",
    "Bank",
    "Fund",
    "Crowdsale",
    "Exchange",
    "Store",
    "Payroll",
    "Savings",
];

pub fn generate(cfg: &SynthConfig) -> Vec<SynthRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    (0..cfg.count)
        .map(|i| {
            let weaknesses = draw_weaknesses(cfg, &mut rng);
            let (code, bug_lines) = marked_lines(&contract(&weaknesses, &mut rng));
            let mut labels: Vec<String> = WEAKNESSES
                .iter()
                .filter(|w| weaknesses.contains(w))
                .map(|w| w.to_string())
                .collect();
            if rng.random_bool(cfg.label_noise.clamp(0.0, 1.0)) {
                labels = flipped(&labels, &mut rng);
            }
            SynthRecord {
                id: format!("demo-{:04}", i + 1),
                code,
                label: labels.first().cloned().unwrap_or_else(|| "safe".into()),
                labels,
                bug_lines,
            }
        })
        .collect()
}

/// The code without the templates' bug marks, and the 1-based lines that carried one.
fn marked_lines(marked: &str) -> (String, Vec<usize>) {
    let lines = marked
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(templates::BUG))
        .map(|(i, _)| i + 1)
        .collect();
    (marked.replace(templates::BUG, ""), lines)
}

/// JSONL bytes, one record per line.
pub fn to_jsonl(records: &[SynthRecord]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect()
}

fn draw_weaknesses(cfg: &SynthConfig, rng: &mut ChaCha8Rng) -> Vec<&'static str> {
    if rng.random_bool(cfg.safe_share.clamp(0.0, 1.0)) {
        return vec![];
    }
    let first = weighted(rng, &[]);
    let mut out = vec![first];
    if rng.random_bool(cfg.second_weakness.clamp(0.0, 1.0)) {
        out.push(weighted(rng, &out));
    }
    out
}

fn weighted(rng: &mut ChaCha8Rng, exclude: &[&str]) -> &'static str {
    let total: u32 = WEAKNESSES
        .iter()
        .zip(WEIGHTS)
        .filter(|(w, _)| !exclude.contains(w))
        .map(|(_, n)| n)
        .sum();
    let mut roll = rng.random_range(0..total);
    for (w, n) in WEAKNESSES.iter().zip(WEIGHTS) {
        if exclude.contains(w) {
            continue;
        }
        if roll < n {
            return w;
        }
        roll -= n;
    }
    WEAKNESSES[0]
}

fn flipped(labels: &[String], rng: &mut ChaCha8Rng) -> Vec<String> {
    let current = labels.first().map_or("safe", String::as_str);
    let choices: Vec<&str> = std::iter::once("safe")
        .chain(WEAKNESSES)
        .filter(|c| *c != current)
        .collect();
    match pick(rng, &choices) {
        "safe" => vec![],
        other => vec![other.to_string()],
    }
}

fn contract(weaknesses: &[&str], rng: &mut ChaCha8Rng) -> String {
    // Wrapping arithmetic exists only before 0.8.
    let era = if weaknesses.contains(&"arithmetic") {
        pick(rng, &Era::ALL[..4])
    } else {
        pick(rng, &Era::ALL)
    };
    let names = Names::draw(rng);
    let mut functions: Vec<String> = weaknesses
        .iter()
        .map(|w| templates::focus(w, true, era, &names, rng))
        .collect();
    // Near-miss safe forms of other weaknesses, in safe and vulnerable contracts alike.
    let distractors = if weaknesses.is_empty() {
        rng.random_range(1..=3)
    } else {
        rng.random_range(0..=2)
    };
    let mut others: Vec<&str> = WEAKNESSES
        .iter()
        .copied()
        .filter(|w| !weaknesses.contains(w))
        .filter(|w| *w != "arithmetic" || era != Era::V08 || rng.random_bool(0.5))
        .collect();
    others.shuffle(rng);
    for w in others.into_iter().take(distractors) {
        functions.push(templates::focus(w, false, era, &names, rng));
    }
    functions.extend(templates::boilerplate(era, &names, rng));
    functions.shuffle(rng);
    render(era, &names, &functions, rng)
}

fn render(era: Era, n: &Names, functions: &[String], rng: &mut ChaCha8Rng) -> String {
    let name = format!(
        "{}{}",
        pick(rng, &CONTRACT_NAMES),
        pick(rng, &["", "V2", "Core", "Main", "Hub"])
    );
    let (o, l, m) = (n.owner, n.ledger, n.only_owner);
    let owner_type = era.address_payable();
    let mut out = format!("{}\n\ncontract {name} {{\n", era.pragma());
    out.push_str(&format!(
        "    {owner_type} public {o};\n    mapping(address => uint256) public {l};\n    bool public paused;\n\n"
    ));
    out.push_str("    event Deposited(address indexed who, uint256 amount);\n\n");
    out.push_str(&format!(
        "    modifier {m}() {{\n        require(msg.sender == {o});\n        _;\n    }}\n\n"
    ));
    out.push_str(&format!(
        "    {} {{\n        {o} = msg.sender;\n    }}\n",
        era.constructor()
    ));
    for f in functions {
        out.push('\n');
        out.push_str(f);
    }
    out.push_str("}\n");
    out
}
