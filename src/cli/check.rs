//! `alambic check`: the golden checks on a device, as JSON and a short table.

use alambic::check::{Check, goldens, training};
use alambic::train::device::DeviceSpec;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckArgs {
    /// cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The reference fixtures (`../shared/fixtures`, or a carried copy).
    #[arg(long, default_value = "../shared/fixtures")]
    pub fixtures: PathBuf,
    /// The repository root (its `tests/configs/tiny.toml` and `data/demo`), for the resume check.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Write every check here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let spec: DeviceSpec = args
        .device
        .parse()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let device = spec.open()?;
    let fx = &args.fixtures;
    anyhow::ensure!(
        fx.join("tiny-bert").is_dir(),
        "{}: no fixtures there",
        fx.display()
    );
    let mut checks: Vec<Check> = Vec::new();
    checks.extend(goldens::model(fx, "tiny-bert", "tiny-bert", 0, &device));
    checks.extend(goldens::model(
        fx,
        "tiny-bert-legacy",
        "tiny-bert",
        0,
        &device,
    ));
    checks.extend(goldens::model(
        fx,
        "tiny-roberta",
        "tiny-roberta",
        1,
        &device,
    ));
    checks.extend(goldens::losses(fx, &device));
    checks.extend(goldens::adamw(fx, &device));
    checks.extend(training::gradients(fx, "tiny-bert", &device));
    checks.extend(training::gradients(fx, "tiny-roberta", &device));
    let work = alambic::testing::target_dir().join("check/resume");
    checks.extend(training::resume(&args.root, &work, spec));
    // The GPU issue's bar: at most 10x the CPU's tolerances (kernels sum in another order).
    if spec != DeviceSpec::Cpu {
        for c in &mut checks {
            c.tolerance *= 10.0;
            c.pass = c.max_abs_diff.is_finite() && c.max_abs_diff <= c.tolerance;
        }
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({"device": spec.to_string(), "checks": checks});
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.pass).collect();
    for c in &checks {
        println!(
            "{} {:<60} {:>10.2e} (tolerance {:.0e}){}",
            if c.pass { "ok " } else { "BAD" },
            c.name,
            c.max_abs_diff,
            c.tolerance,
            c.note
                .as_deref()
                .map(|n| format!("  {n}"))
                .unwrap_or_default()
        );
    }
    println!(
        "{} checks on {spec}: {} passed, {} failed",
        checks.len(),
        checks.len() - failed.len(),
        failed.len()
    );
    anyhow::ensure!(
        failed.is_empty(),
        "{} checks failed on {spec}",
        failed.len()
    );
    Ok(())
}
