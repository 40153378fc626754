//! The sweep folder: `sweep.toml` (the resolved base config with its grid), `cells.jsonl`,
//! `claims/`, one ordinary run folder per cell under `cells/` (`cell-007`), and `summary.json`
//! once every cell is done. Its name hashes `sweep.toml`, so the same command run again lands
//! in the same folder and carries on.

use super::SweepError;
use super::spec::{Cell, SweepCommand, SweepSpec};
use crate::store::write_atomic;
use crate::train::ExperimentConfig;
use std::path::{Path, PathBuf};

pub struct SweepDir {
    pub path: PathBuf,
    pub spec: SweepSpec,
    /// What each cell runs.
    pub runs: CellRun,
}

/// What a cell of the sweep runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellRun {
    /// A distillation on the labelled set, scored by its summary (`valid.macro_f1`).
    Distill,
    /// General distillation on `[pretrain].corpus` (`distill.recipe = "general"`).
    GeneralDistill,
    /// Masked-language modelling on `[pretrain].corpus` (`sweep.command = "pretrain"`).
    Pretrain,
}

impl CellRun {
    fn of(spec: &SweepSpec, cfg: &ExperimentConfig) -> Self {
        match (spec.command, cfg.distill.recipe) {
            (SweepCommand::Pretrain, _) => Self::Pretrain,
            (_, crate::distill::Recipe::General) => Self::GeneralDistill,
            _ => Self::Distill,
        }
    }

    /// A run on the unlabelled corpus: no teacher to fine-tune, no test split, its cells
    /// judged by `pretrain.json`.
    pub fn on_corpus(self) -> bool {
        self != Self::Distill
    }

    /// The role of a cell's run folder.
    pub fn role(self) -> &'static str {
        match self {
            Self::Pretrain => "pretrain",
            _ => "distill",
        }
    }
}

pub const SWEEP_FILE: &str = "sweep.toml";

fn spec_of(cfg: &ExperimentConfig, grid_args: &[String]) -> Result<SweepSpec, String> {
    let general = cfg.distill.recipe == crate::distill::Recipe::General;
    SweepSpec::for_recipe(&cfg.sweep, grid_args, general)
}

impl SweepDir {
    /// The folder for `cfg` (with `--grid` axes) under `out`: created, or found again.
    pub fn create(
        out: &Path,
        cfg: &ExperimentConfig,
        grid_args: &[String],
    ) -> Result<Self, SweepError> {
        let spec = spec_of(cfg, grid_args).map_err(SweepError::Invalid)?;
        let runs = CellRun::of(&spec, cfg);
        let mut resolved = cfg.clone();
        resolved.sweep = spec.to_table(cfg.sweep.get("random"));
        let text = resolved.to_toml();
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let path = out.join(format!("sweep-{:08x}", hash & 0xffff_ffff));
        let new = !path.exists();
        std::fs::create_dir_all(path.join("cells"))?;
        let file = path.join(SWEEP_FILE);
        if !file.is_file() {
            write_atomic(&file, text.as_bytes())?;
        }
        let dir = Self { path, spec, runs };
        // Every cell's config must load, its values in range, before any cell runs: a bad
        // value for one cell fails the creation, and leaves no folder behind.
        if let Some(e) = dir.spec.cells.iter().find_map(|c| dir.config(c).err()) {
            if new {
                let _ = std::fs::remove_dir_all(&dir.path);
            }
            return Err(e);
        }
        Ok(dir)
    }

    pub fn open(path: &Path) -> Result<Self, SweepError> {
        let file = path.join(SWEEP_FILE);
        if !file.is_file() {
            return Err(SweepError::Invalid(format!(
                "{}: not a sweep folder (no {SWEEP_FILE})",
                path.display()
            )));
        }
        let cfg = ExperimentConfig::load(Some(&file), &[])?;
        let spec = spec_of(&cfg, &[])
            .map_err(|e| SweepError::Invalid(format!("{}: {e}", file.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            runs: CellRun::of(&spec, &cfg),
            spec,
        })
    }

    /// The cell's config: the sweep's, its values set, and no test scoring (only the best cell
    /// is scored on test).
    pub fn config(&self, cell: &Cell) -> Result<ExperimentConfig, SweepError> {
        let invalid =
            |e: String| SweepError::Invalid(format!("cell {} ({}): {e}", cell.index, cell.label()));
        let (stage_keys, plain): (Vec<_>, Vec<_>) = cell
            .values
            .iter()
            .partition(|(k, _)| k.starts_with("distill.stages."));
        let mut sets: Vec<String> = plain.iter().map(|(k, v)| format!("{k}={v}")).collect();
        sets.push("train.test=false".into());
        let mut cfg = ExperimentConfig::load(Some(&self.path.join(SWEEP_FILE)), &sets)
            .map_err(|e| invalid(e.to_string()))?;
        for (key, value) in stage_keys {
            set_stage_key(&mut cfg, key, value).map_err(invalid)?;
        }
        cfg.check_ranges().map_err(|e| invalid(e.msg))?;
        Ok(cfg)
    }

    pub fn cells_log(&self) -> PathBuf {
        self.path.join("cells.jsonl")
    }

    pub fn claims(&self) -> PathBuf {
        self.path.join("claims")
    }

    pub fn cell_dir(&self, index: usize) -> PathBuf {
        self.path.join("cells").join(cell_name(index))
    }
}

pub fn cell_name(index: usize) -> String {
    format!("cell-{index:03}")
}

/// `distill.stages.<stage>.<field>`: a key of one stage (`epochs`, `lr`, `alpha` or
/// `temperature` of its response term, or a term's name for its weight). A named recipe is
/// written out as its stages first, so `distill.stages.prediction.lr` works with `tinybert`.
fn set_stage_key(cfg: &mut ExperimentConfig, key: &str, value: &toml::Value) -> Result<(), String> {
    use crate::distill::{LossSpec, StageSpec};
    let rest = key.trim_start_matches("distill.stages.");
    let (stage, field) = rest
        .rsplit_once('.')
        .ok_or_else(|| format!("`{key}`: expected distill.stages.<stage>.<field>"))?;
    if cfg.distill.recipe != crate::distill::Recipe::Stages {
        cfg.distill.stages = crate::distill::stages::resolve(&cfg.distill, &cfg.train)?
            .into_iter()
            .map(|s| StageSpec {
                name: s.name,
                epochs: s.epochs,
                lr: s.lr,
                terms: s.terms,
                layer: s.layer,
            })
            .collect();
        cfg.distill.recipe = crate::distill::Recipe::Stages;
    }
    let names: Vec<String> = cfg.distill.stages.iter().map(|s| s.name.clone()).collect();
    let spec = cfg
        .distill
        .stages
        .iter_mut()
        .find(|s| s.name == stage)
        .ok_or_else(|| format!("`{key}`: no stage `{stage}` (stages: {})", names.join(", ")))?;
    let number = value
        .as_float()
        .or_else(|| value.as_integer().map(|i| i as f64))
        .ok_or_else(|| format!("`{key}` must be a number"))?;
    match field {
        "epochs" => spec.epochs = number as usize,
        "lr" => spec.lr = number,
        "alpha" | "temperature" => {
            let mut found = false;
            for t in &mut spec.terms {
                if let LossSpec::Response { alpha, temperature } = t {
                    *if field == "alpha" { alpha } else { temperature } = Some(number);
                    found = true;
                }
            }
            if !found {
                return Err(format!("`{key}`: stage `{stage}` has no response term"));
            }
        }
        term => {
            let weight = spec.terms.iter_mut().find_map(|t| {
                let name = serde_json::to_value(&*t).ok()?["term"]
                    .as_str()?
                    .to_string();
                (name == term).then_some(t)
            });
            match weight {
                Some(LossSpec::LogitMse { weight })
                | Some(LossSpec::HiddenMse { weight })
                | Some(LossSpec::EmbeddingMse { weight })
                | Some(LossSpec::AttentionScoreMse { weight })
                | Some(LossSpec::AttentionProbKl { weight })
                | Some(LossSpec::Cosine { weight }) => *weight = number,
                _ => {
                    return Err(format!(
                        "`{key}`: `{term}` is not epochs, lr, alpha, temperature or a weighted term of stage `{stage}`"
                    ));
                }
            }
        }
    }
    Ok(())
}
