//! Training on the device: every trainable variable receives a non-zero gradient, and a run
//! interrupted and resumed ends with the weights of one that never stopped.

use super::goldens::max_diff;
use super::{Check, guard};
use crate::model::init::SeededRng;
use crate::model::load::LoadOptions;
use crate::model::{Classifier, Mode};
use crate::store::{EventSink, RunDir, TrainEvent, VecSink};
use crate::train::device::DeviceSpec;
use crate::train::{ExperimentConfig, Outcome, train};
use candle_core::{DType, Device, Tensor};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// One cross-entropy backward pass of a fixture model in training mode: the variables whose
/// gradient is zero or missing (the check's "difference" is their number).
pub fn gradients(fixtures: &Path, name: &str, device: &Device) -> Vec<Check> {
    guard(&format!("gradients {name}"), || {
        let e = |x: candle_core::Error| x.to_string();
        let (model, _) =
            Classifier::from_folder(&fixtures.join(name), &LoadOptions::default(), device)
                .map_err(|e| e.to_string())?;
        let ids: Vec<Vec<u32>> = vec![vec![2, 15, 27, 40, 3], vec![2, 9, 11, 3, 0]];
        let mask: Vec<Vec<u32>> = vec![vec![1; 5], vec![1, 1, 1, 1, 0]];
        let mut rng = SeededRng::new(1);
        let batch = crate::model::encoder::Batch {
            input_ids: &ids,
            attention_mask: &mask,
        };
        let out = model
            .forward(&batch, &mut Mode::Train(&mut rng), false)
            .map_err(e)?;
        let targets = Tensor::new(&[0u32, 1], device).map_err(e)?;
        let loss = candle_nn::loss::cross_entropy(&out.logits, &targets).map_err(e)?;
        let grads = loss.backward().map_err(e)?;
        let vars = model.named_vars();
        let mut cut = Vec::new();
        for (var_name, var) in &vars {
            let norm = match grads.get(var.as_tensor()) {
                Some(g) => g
                    .to_dtype(DType::F32)
                    .and_then(|g| g.abs()?.sum_all()?.to_scalar::<f32>())
                    .map_err(e)?,
                None => 0.0,
            };
            if norm == 0.0 || !norm.is_finite() {
                cut.push(var_name.clone());
            }
        }
        let mut check = Check::new(
            format!("{name}: variables without a gradient (of {})", vars.len()),
            cut.len() as f64,
            0.0,
        );
        if !cut.is_empty() {
            check.note = Some(cut.join(", "));
        }
        Ok(vec![check])
    })
}

/// Stops the run once it has reported `at` steps (as Ctrl-C would).
struct StopAt<'a> {
    at: u64,
    flag: &'a AtomicBool,
}

impl EventSink for StopAt<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        if matches!(event, TrainEvent::Step { step, .. } if *step == self.at) {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// The tiny config (`tests/configs/tiny.toml`, from `root`) trained straight through and
/// interrupted at step 7 then resumed, on `device`: the largest weight difference.
pub fn resume(root: &Path, work: &Path, device: DeviceSpec) -> Vec<Check> {
    guard("resume equivalence", || {
        let err = |x: &dyn std::fmt::Display| x.to_string();
        let mut cfg = ExperimentConfig::load(Some(&root.join("tests/configs/tiny.toml")), &[])
            .map_err(|e| err(&e))?;
        cfg.dataset.file = root.join(&cfg.dataset.file);
        cfg.student.model = cfg
            .student
            .model
            .replace("tokenizer=", &format!("tokenizer={}/", root.display()));
        cfg.device = device;
        let _ = std::fs::remove_dir_all(work);
        let run_to_end = |stop_at: Option<u64>| -> Result<std::path::PathBuf, String> {
            let mut run = RunDir::create(work, "student", &cfg.to_toml()).map_err(|e| err(&e))?;
            let flag = AtomicBool::new(false);
            if let Some(at) = stop_at {
                let mut sink = StopAt { at, flag: &flag };
                train(&cfg, "student", &mut run, &mut sink, &flag, false).map_err(|e| err(&e))?;
                let path = run.path.clone();
                drop(run);
                let mut run = RunDir::open(&path, "student", false).map_err(|e| err(&e))?;
                let out = train(
                    &cfg,
                    "student",
                    &mut run,
                    &mut VecSink::default(),
                    &AtomicBool::new(false),
                    true,
                )
                .map_err(|e| err(&e))?;
                if !matches!(out, Outcome::Finished(_)) {
                    return Err("the resumed run did not finish".into());
                }
                return Ok(path);
            }
            train(
                &cfg,
                "student",
                &mut run,
                &mut VecSink::default(),
                &flag,
                false,
            )
            .map_err(|e| err(&e))?;
            Ok(run.path.clone())
        };
        let (full, resumed) = (run_to_end(None)?, run_to_end(Some(7))?);
        let load = |p: &Path| {
            candle_core::safetensors::load(
                p.join("checkpoints/last/model.safetensors"),
                &Device::Cpu,
            )
            .map_err(|e| err(&e))
        };
        let (a, b) = (load(&full)?, load(&resumed)?);
        let mut worst = 0.0f64;
        for (k, t) in &a {
            let other = b
                .get(k)
                .ok_or_else(|| format!("{k} missing after resume"))?;
            worst = worst.max(max_diff(t, other)?);
        }
        Ok(vec![Check::new(
            "resume: weights after 18 steps, straight vs stopped at 7",
            worst,
            1e-6,
        )])
    })
}
