//! The stated range of every numeric key, checked when a config is loaded (file, `--set`, a
//! run folder's `config.toml`, each sweep cell at the sweep's creation): a temperature of 0
//! used to fail later as a NaN with a wrong cause, a negative one trained and scored happily.

use super::config::ExperimentConfig;
use crate::distill::LossSpec;

/// What a key must satisfy.
#[derive(Clone, Copy, Debug)]
enum Range {
    /// `> low`.
    Above(f64),
    /// `>= low`.
    AtLeast(f64),
    /// `low <= x <= high`.
    Within(f64, f64),
    /// `low < x <= high`.
    AboveUpTo(f64, f64),
}

impl Range {
    fn holds(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::Above(lo) => x > lo,
                Range::AtLeast(lo) => x >= lo,
                Range::Within(lo, hi) => (lo..=hi).contains(&x),
                Range::AboveUpTo(lo, hi) => x > lo && x <= hi,
            }
    }

    fn describe(self) -> String {
        match self {
            Range::Above(lo) => format!("> {lo}"),
            Range::AtLeast(lo) => format!(">= {lo}"),
            Range::Within(lo, hi) => format!("in [{lo}, {hi}]"),
            Range::AboveUpTo(lo, hi) => format!("in ({lo}, {hi}]"),
        }
    }
}

/// A key outside its range: the dotted key and the message.
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfRange {
    pub key: String,
    pub msg: String,
}

fn rule(key: impl Into<String>, value: f64, range: Range) -> Result<(), OutOfRange> {
    if range.holds(value) {
        return Ok(());
    }
    let key = key.into();
    Err(OutOfRange {
        msg: format!(
            "`{key}` = {value} is out of range: it must be {}",
            range.describe()
        ),
        key,
    })
}

/// Every range rule of the config, the first broken one returned.
pub fn check(cfg: &ExperimentConfig) -> Result<(), OutOfRange> {
    check_dataset(cfg)?;
    check_train(cfg)?;
    check_distill(cfg)?;
    check_pretrain(cfg)
}

fn check_pretrain(cfg: &ExperimentConfig) -> Result<(), OutOfRange> {
    let p = &cfg.pretrain;
    rule(
        "pretrain.mask_share",
        p.mask_share,
        Range::AboveUpTo(0.0, 1.0),
    )?;
    rule("pretrain.mask_token", p.mask_token, Range::Within(0.0, 1.0))?;
    rule(
        "pretrain.random_token",
        p.random_token,
        Range::Within(0.0, 1.0 - p.mask_token),
    )?;
    rule(
        "pretrain.window_share",
        p.window_share,
        Range::AboveUpTo(0.0, 1.0),
    )?;
    rule(
        "pretrain.valid_share",
        p.valid_share,
        Range::Within(0.0, 0.5),
    )?;
    rule(
        "pretrain.shuffle_buffer",
        p.shuffle_buffer as f64,
        Range::AtLeast(1.0),
    )
}

fn check_dataset(cfg: &ExperimentConfig) -> Result<(), OutOfRange> {
    let d = &cfg.dataset;
    // Two special tokens and at least one content token.
    rule("dataset.max_len", d.max_len as f64, Range::AtLeast(3.0))?;
    let body = d.max_len.saturating_sub(2) as f64;
    if d.stride as f64 >= body {
        return Err(OutOfRange {
            key: "dataset.stride".into(),
            msg: format!(
                "`dataset.stride` = {} must be smaller than a window's content ({} = max_len {} - 2 \
                 special tokens): consecutive windows share `stride` tokens",
                d.stride, body, d.max_len
            ),
        });
    }
    rule(
        "dataset.max_contract_bytes",
        d.max_contract_bytes as f64,
        Range::AtLeast(1.0),
    )?;
    rule(
        "dataset.dedup.near_threshold",
        d.dedup.near_threshold,
        Range::AboveUpTo(0.0, 1.0),
    )?;
    rule(
        "dataset.dedup.shingle",
        d.dedup.shingle as f64,
        Range::AtLeast(1.0),
    )?;
    for f in d.split.fractions {
        rule("dataset.split.fractions", f, Range::Within(0.0, 1.0))?;
    }
    let sum: f64 = d.split.fractions.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(OutOfRange {
            key: "dataset.split.fractions".into(),
            msg: format!("`dataset.split.fractions` add up to {sum}, not 1"),
        });
    }
    Ok(())
}

fn check_train(cfg: &ExperimentConfig) -> Result<(), OutOfRange> {
    let t = &cfg.train;
    rule("train.epochs", t.epochs as f64, Range::AtLeast(1.0))?;
    rule("train.batch_size", t.batch_size as f64, Range::AtLeast(1.0))?;
    rule(
        "train.accumulation",
        t.accumulation as f64,
        Range::AtLeast(1.0),
    )?;
    rule("train.lr", t.lr, Range::Above(0.0))?;
    rule(
        "train.warmup_ratio",
        t.warmup_ratio,
        Range::Within(0.0, 1.0),
    )?;
    rule("train.weight_decay", t.weight_decay, Range::AtLeast(0.0))?;
    // 0 turns clipping off.
    rule("train.max_grad_norm", t.max_grad_norm, Range::AtLeast(0.0))?;
    rule("train.moe_balance", t.moe_balance, Range::AtLeast(0.0))?;
    rule("train.log_every", t.log_every as f64, Range::AtLeast(1.0))?;
    for (role, m) in [("teacher", &cfg.teacher), ("student", &cfg.student)] {
        rule(
            format!("{role}.tokenizer_vocab"),
            m.tokenizer_vocab as f64,
            Range::AtLeast(1.0),
        )?;
        if m.moe.experts > 0 {
            rule(
                format!("{role}.moe.experts"),
                m.moe.experts as f64,
                Range::AtLeast(2.0),
            )?;
            rule(
                format!("{role}.moe.top_k"),
                m.moe.top_k as f64,
                Range::Within(1.0, m.moe.experts as f64),
            )?;
        }
    }
    Ok(())
}

fn check_distill(cfg: &ExperimentConfig) -> Result<(), OutOfRange> {
    let d = &cfg.distill;
    rule("distill.alpha", d.alpha, Range::Within(0.0, 1.0))?;
    rule("distill.temperature", d.temperature, Range::Above(0.0))?;
    for (name, w) in [
        ("logit_mse", d.logit_mse),
        ("hidden_mse", d.hidden_mse),
        ("embedding_mse", d.embedding_mse),
        ("attention_score_mse", d.attention_score_mse),
        ("attention_prob_kl", d.attention_prob_kl),
        ("cosine", d.cosine),
    ] {
        rule(format!("distill.{name}"), w, Range::AtLeast(0.0))?;
    }
    for stage in &d.stages {
        let key = |field: &str| format!("distill.stages.{}.{field}", stage.name);
        // 0 = the [train] value.
        rule(key("lr"), stage.lr, Range::AtLeast(0.0))?;
        for term in &stage.terms {
            check_term(term, &key)?;
        }
    }
    Ok(())
}

fn check_term(term: &LossSpec, key: &dyn Fn(&str) -> String) -> Result<(), OutOfRange> {
    match term {
        LossSpec::Response { alpha, temperature } => {
            if let Some(a) = alpha {
                rule(key("alpha"), *a, Range::Within(0.0, 1.0))?;
            }
            if let Some(t) = temperature {
                rule(key("temperature"), *t, Range::Above(0.0))?;
            }
            Ok(())
        }
        LossSpec::LogitMse { weight }
        | LossSpec::HiddenMse { weight }
        | LossSpec::AttentionScoreMse { weight }
        | LossSpec::AttentionProbKl { weight }
        | LossSpec::EmbeddingMse { weight }
        | LossSpec::Cosine { weight } => {
            let name = serde_json::to_value(term)
                .ok()
                .and_then(|v| v["term"].as_str().map(str::to_string))
                .unwrap_or_default();
            rule(key(&name), *weight, Range::AtLeast(0.0))
        }
    }
}
