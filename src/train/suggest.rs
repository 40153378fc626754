//! The known key a mistyped one most likely meant, for the config's "unknown key" error: a
//! tired user writes `train.epoch`, `distill.temp` or `train.alpha`, and the error should say
//! which key exists instead of sending them to `defaults.toml`.

use toml::{Table, Value};

/// How alike two key names must be (Jaro–Winkler, which favours a shared beginning) to be
/// offered: `epoch` → `epochs`, `temp` → `temperature`, `alhpa` → `alpha`; not `seed` → `steps`.
const ALIKE: f64 = 0.85;

/// Names scoring this close to the best one are offered beside it (`warmup` → `warmup_ratio`).
const TIE: f64 = 0.05;

/// " (did you mean `train.epochs`?)" for the unknown dotted `path`, or "" when no known key
/// is alike. Keys beside it come first; then keys of the same or an alike name in other
/// sections (`train.alpha` → `distill.alpha`).
pub fn did_you_mean(path: &str, defaults: &Table) -> String {
    let (parent, leaf) = split(path);
    let mut keys = Vec::new();
    collect(defaults, "", &mut keys);
    let scored = |beside: bool| -> Vec<(f64, &str)> {
        keys.iter()
            .filter(|k| (split(k).0 == parent) == beside)
            .map(|k| (strsim::jaro_winkler(leaf, split(k).1), k.as_str()))
            .filter(|(s, _)| *s >= ALIKE)
            .collect()
    };
    let mut found = scored(true);
    if found.is_empty() {
        found = scored(false);
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let Some(&(best, _)) = found.first() else {
        return String::new();
    };
    let names: Vec<String> = found
        .iter()
        .take_while(|(s, _)| best - s <= TIE)
        .take(3)
        .map(|(_, k)| format!("`{k}`"))
        .collect();
    format!(" (did you mean {}?)", names.join(" or "))
}

/// `("train", "epochs")` for `train.epochs`; `("", "train")` for a section.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('.').unwrap_or(("", path))
}

/// Every key and section of `table`, dotted.
fn collect(table: &Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Value::Table(t) = value {
            collect(t, &path, out);
        }
        out.push(path);
    }
}
