//! The experiment config: one TOML file over embedded defaults (`defaults.toml`, which lists
//! every key), with `--set section.key=VALUE` overrides. Unknown keys and wrong types are
//! errors that name the file and the key.

use crate::data::DataConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;
use toml::{Table, Value};

pub const DEFAULTS: &str = include_str!("defaults.toml");

/// Sections whose keys are free (class names, grids) or belong to later stages.
const FREE_FORM: [&str; 4] = [
    "dataset.merge",
    "sweep",
    "distill.layer_map",
    "distill.stages",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Any model source: a folder, a run folder, hf:…, scratch:…, derive:…, moe:….
    pub model: String,
    pub head: HeadChoice,
    pub tokenizer_vocab: usize,
    /// Turns the model's FFNs into a Mixture of Experts (`experts = 0`: dense); the same as
    /// writing the model as `moe:MODEL?experts=…`, as keys a sweep can vary.
    #[serde(default)]
    pub moe: MoeSection,
    /// Runs the model's layers at an inner width (`inner = 0`: as they are); the same as
    /// writing the model as `bottleneck:MODEL?inner=…`, as keys a sweep can vary.
    #[serde(default)]
    pub bottleneck: BottleneckSection,
    /// Prunes the vocabulary and factorises the word embeddings; the same as writing the
    /// model as `factor:prune:MODEL?…`, as keys a sweep can vary.
    #[serde(default)]
    pub embeddings: EmbeddingsSection,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsSection {
    pub prune: bool,
    pub min_count: usize,
    /// E; 0: not factorised.
    pub size: usize,
}

impl Default for EmbeddingsSection {
    fn default() -> Self {
        Self {
            prune: false,
            min_count: 1,
            size: 0,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BottleneckSection {
    pub inner: usize,
    /// 1-based encoder layers; empty: every layer.
    pub layers: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeSection {
    pub experts: usize,
    pub top_k: usize,
    /// 1-based encoder layers; empty: every layer.
    pub layers: Vec<usize>,
    pub init: crate::model::moe_init::MoeInit,
}

impl Default for MoeSection {
    fn default() -> Self {
        Self {
            experts: 0,
            top_k: 1,
            layers: Vec::new(),
            init: crate::model::moe_init::MoeInit::Upcycle,
        }
    }
}

impl ModelSection {
    /// The source to load for `model` (the section's, or what it became: a run's checkpoint,
    /// a scratch model with its trained tokenizer), wrapped in `bottleneck:` when an inner
    /// width is asked, in `moe:` when experts are, then in `prune:` and `factor:`.
    pub fn source_for(&self, model: &str) -> String {
        let e = &self.embeddings;
        let mut model = self.layers_source(model);
        if e.prune {
            let spec = crate::model::vocab_prune::PruneSpec {
                min_count: e.min_count,
            };
            model = format!("prune:{model}?{}", spec.query());
        }
        if e.size > 0 {
            model = format!("factor:{model}?size={}", e.size);
        }
        model
    }

    /// Whether the section turns its model into another (experts, a bottleneck, smaller
    /// embeddings).
    pub fn rewrites(&self) -> bool {
        self.moe.experts > 0
            || self.bottleneck.inner > 0
            || self.embeddings.prune
            || self.embeddings.size > 0
    }

    /// `model` with the bottleneck and the experts the section asks for.
    fn layers_source(&self, model: &str) -> String {
        let b = &self.bottleneck;
        let model = match b.inner {
            0 => model.to_string(),
            inner => {
                let spec = crate::model::bottleneck_init::BottleneckSpec {
                    inner,
                    layers: (!b.layers.is_empty()).then(|| b.layers.clone()),
                };
                format!("bottleneck:{model}?{}", spec.query())
            }
        };
        let m = &self.moe;
        if m.experts == 0 {
            return model;
        }
        let spec = crate::model::moe_init::MoeSpec {
            experts: m.experts,
            top_k: m.top_k,
            layers: (!m.layers.is_empty()).then(|| m.layers.clone()),
            init: m.init,
            shared: None,
        };
        format!("moe:{model}?{}", spec.query())
    }

    /// What summaries and the workbench call this section's model.
    pub fn source(&self) -> String {
        self.source_for(&self.model)
    }
}

/// `head`: the checkpoint's own, or one of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadChoice {
    Default,
    BertPooler,
    Roberta,
    Cls,
    Mean,
    Max,
}

impl HeadChoice {
    /// The head to build, `None` for the checkpoint's own.
    pub fn kind(self) -> Option<crate::model::HeadKind> {
        use crate::model::{HeadKind, Pooling};
        match self {
            Self::Default => None,
            Self::BertPooler => Some(HeadKind::BertPooler),
            Self::Roberta => Some(HeadKind::Roberta),
            Self::Cls => Some(HeadKind::Plain(Pooling::Cls)),
            Self::Mean => Some(HeadKind::Plain(Pooling::Mean)),
            Self::Max => Some(HeadKind::Plain(Pooling::Max)),
        }
    }
}

/// `train.precision`: the dtype of activations and matmuls (master weights, loss and AdamW
/// stay f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    Bf16,
}

/// `train.class_weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeights {
    None,
    /// Inverse class frequency on the training split.
    Balanced,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub accumulation: usize,
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    /// Weight of the Switch load-balancing term for Mixture-of-Experts models.
    pub moe_balance: f64,
    pub seed: u64,
    pub eval_every: u64,
    pub early_stopping: usize,
    pub class_weights: ClassWeights,
    pub pooling: super::evaluate::Pooling,
    pub log_every: u64,
    pub max_steps: u64,
    pub bucket: bool,
    pub test: bool,
    pub max_batch_tokens: usize,
    pub precision: Precision,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub device: super::device::DeviceSpec,
    pub dataset: DataConfig,
    pub teacher: ModelSection,
    pub student: ModelSection,
    pub train: TrainConfig,
    pub distill: crate::distill::DistillConfig,
    pub pretrain: crate::pretrain::PretrainConfig,
    pub sweep: Table,
    pub tui: Table,
}

#[derive(Debug, thiserror::Error)]
#[error("{origin}: {msg}")]
pub struct ConfigError {
    pub origin: String,
    pub msg: String,
}

fn err(origin: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: origin.to_string(),
        msg: msg.into(),
    }
}

impl ExperimentConfig {
    /// Defaults, then the file (if any), then each `--set`.
    pub fn load(file: Option<&Path>, sets: &[String]) -> Result<Self, ConfigError> {
        let mut table: Table =
            toml::from_str(DEFAULTS).map_err(|e| err("defaults.toml", e.to_string()))?;
        let defaults = table.clone();
        // Who set each key last, so a value out of range is blamed on its origin.
        let mut origins: Vec<(Table, String)> = Vec::new();
        if let Some(path) = file {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| err(&origin, e.to_string()))?;
            let user: Table =
                toml::from_str(&text).map_err(|e| err(&origin, format!("not valid TOML: {e}")))?;
            merge(&mut table, user.clone(), &defaults, &defaults, "", &origin)?;
            origins.push((user, origin));
        }
        for set in sets {
            let origin = format!("--set {set}");
            let (key, raw) = set
                .split_once('=')
                .ok_or_else(|| err(&origin, "expected section.key=VALUE"))?;
            let value = parse_value(raw.trim());
            let mut user = Table::new();
            insert_dotted(&mut user, key.trim(), value);
            merge(&mut table, user.clone(), &defaults, &defaults, "", &origin)?;
            origins.push((user, origin));
        }
        let blame = |key: &str| {
            origins
                .iter()
                .rev()
                .find(|(t, _)| sets_key(t, key))
                .map_or("defaults.toml".to_string(), |(_, o)| o.clone())
        };
        let cfg = Self::from_table(table, String::new()).map_err(|e| {
            // A value of the wrong kind (`recipe = "fitnet"`): toml names the key last.
            let key = e
                .msg
                .rfind("in `")
                .and_then(|i| e.msg[i + 4..].split('`').next());
            let origin = match key {
                Some(k) => blame(k),
                None => file.map_or("config".into(), |p| p.display().to_string()),
            };
            err(&origin, e.msg.trim_end())
        })?;
        cfg.check_ranges().map_err(|e| err(&blame(&e.key), e.msg))?;
        Ok(cfg)
    }

    /// Every numeric key within its stated range (`ranges.rs`).
    pub fn check_ranges(&self) -> Result<(), super::ranges::OutOfRange> {
        super::ranges::check(self)
    }

    /// A config from TOML text (e.g. a run folder's resolved `config.toml`), over the defaults.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut table: Table =
            toml::from_str(DEFAULTS).map_err(|e| err("defaults.toml", e.to_string()))?;
        let defaults = table.clone();
        let user: Table =
            toml::from_str(text).map_err(|e| err(origin, format!("not valid TOML: {e}")))?;
        merge(&mut table, user, &defaults, &defaults, "", origin)?;
        let cfg = Self::from_table(table, origin.to_string())?;
        cfg.check_ranges().map_err(|e| err(origin, e.msg))?;
        Ok(cfg)
    }

    fn from_table(table: Table, origin: String) -> Result<Self, ConfigError> {
        Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| err(&origin, e.to_string()))
    }

    /// The fully resolved config, as a run folder records it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// A `--set` value is TOML (`0.3`, `true`, `[1, 2]`, `"x"`); a bare word is a string.
fn parse_value(raw: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// Whether `table` sets the dotted `key` (or the list that holds it: `distill.stages.x.lr`
/// lives in the `distill.stages` array).
fn sets_key(table: &Table, key: &str) -> bool {
    let mut current = table;
    for part in key.split('.') {
        match current.get(part) {
            Some(Value::Table(t)) => current = t,
            Some(_) => return true,
            None => return false,
        }
    }
    true
}

fn insert_dotted(table: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut current = table;
    for p in parts {
        current = match current
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
        {
            Value::Table(t) => t,
            _ => return,
        };
    }
    current.insert(last.to_string(), value);
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// Merges `user` into `base`, checking every key and type against `defaults` (the part of
/// `root`, the whole defaults, under `prefix`: an unknown key is answered with the known one
/// it most likely meant, wherever that lives).
fn merge(
    base: &mut Table,
    user: Table,
    defaults: &Table,
    root: &Table,
    prefix: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    for (key, value) in user {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let free = FREE_FORM
            .iter()
            .any(|f| path == *f || path.starts_with(&format!("{f}.")));
        let Some(default) = defaults.get(&key) else {
            if free {
                base.insert(key, value);
                continue;
            }
            let hint = super::suggest::did_you_mean(&path, root);
            return Err(err(origin, format!("unknown key `{path}`{hint}")));
        };
        match (default, value) {
            (Value::Table(d), Value::Table(u)) => {
                let target = base
                    .entry(key.clone())
                    .or_insert_with(|| Value::Table(Table::new()));
                if let Value::Table(t) = target {
                    merge(t, u, d, root, &path, origin)?;
                }
            }
            (Value::Float(_), Value::Integer(i)) => {
                base.insert(key, Value::Float(i as f64));
            }
            (d, v) if std::mem::discriminant(d) == std::mem::discriminant(&v) || free => {
                base.insert(key, v);
            }
            (d, v) => {
                return Err(err(
                    origin,
                    format!("key `{path}` must be {}, got {}", kind(d), kind(&v)),
                ));
            }
        }
    }
    Ok(())
}
