//! The sweep folder: `sweep.toml` (the resolved base config with its grid), `cells.jsonl`,
//! `claims/`, one ordinary run folder per cell under `cells/` (`cell-007`), and `summary.json`
//! once every cell is done. Its name hashes `sweep.toml`, so the same command run again lands
//! in the same folder and carries on.

use super::SweepError;
use super::spec::{Cell, SweepSpec};
use crate::store::write_atomic;
use crate::train::ExperimentConfig;
use std::path::{Path, PathBuf};

pub struct SweepDir {
    pub path: PathBuf,
    pub spec: SweepSpec,
}

pub const SWEEP_FILE: &str = "sweep.toml";

impl SweepDir {
    /// The folder for `cfg` (with `--grid` axes) under `out`: created, or found again.
    pub fn create(
        out: &Path,
        cfg: &ExperimentConfig,
        grid_args: &[String],
    ) -> Result<Self, SweepError> {
        let spec = SweepSpec::from_table(&cfg.sweep, grid_args).map_err(SweepError::Invalid)?;
        let mut resolved = cfg.clone();
        resolved.sweep = spec.to_table(cfg.sweep.get("random"));
        let text = resolved.to_toml();
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let path = out.join(format!("sweep-{:08x}", hash & 0xffff_ffff));
        std::fs::create_dir_all(path.join("cells"))?;
        let file = path.join(SWEEP_FILE);
        if !file.is_file() {
            write_atomic(&file, text.as_bytes())?;
        }
        let dir = Self { path, spec };
        // Every cell's config must load before any cell runs: a bad key fails now.
        for cell in &dir.spec.cells {
            dir.config(cell)?;
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
        let spec = SweepSpec::from_table(&cfg.sweep, &[])
            .map_err(|e| SweepError::Invalid(format!("{}: {e}", file.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            spec,
        })
    }

    /// The cell's config: the sweep's, its values set, and no test scoring (only the best cell
    /// is scored on test).
    pub fn config(&self, cell: &Cell) -> Result<ExperimentConfig, SweepError> {
        let mut sets = cell.sets();
        sets.push("train.test=false".into());
        ExperimentConfig::load(Some(&self.path.join(SWEEP_FILE)), &sets).map_err(|e| {
            SweepError::Invalid(format!("cell {} ({}): {e}", cell.index, cell.label()))
        })
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
