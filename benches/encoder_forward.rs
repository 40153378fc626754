//! Forward samples/s of the real all-MiniLM-L6-v2 at batch 16 × seq 128: our encoder against
//! candle-transformers' `BertModel` on the same weights and inputs, alternating in one run.
//! `cargo bench --bench encoder_forward`

use alambic::model::encoder::Batch;
use alambic::model::load::LoadOptions;
use alambic::model::{Mode, load_source};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use rand::{Rng, SeedableRng};
use std::time::Instant;

const BATCH: usize = 16;
const SEQ: usize = 128;
const ROUNDS: usize = 7;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = alambic::testing::minilm_folder()?;
    let device = Device::Cpu;
    let (ours, _) = load_source(
        folder.to_str().ok_or("path")?,
        &LoadOptions::default(),
        &device,
    )?;
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(folder.join("config.json"))?)?;
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[folder.join("model.safetensors")],
            DType::F32,
            &device,
        )?
    };
    let theirs = BertModel::load(vb, &config)?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let ids: Vec<Vec<u32>> = (0..BATCH)
        .map(|_| {
            let mut row: Vec<u32> = (0..SEQ).map(|_| rng.random_range(1000..30000)).collect();
            row[0] = 101;
            row[SEQ - 1] = 102;
            row
        })
        .collect();
    let mask = vec![vec![1u32; SEQ]; BATCH];
    let flat: Vec<u32> = ids.iter().flatten().copied().collect();
    let ids_t = Tensor::from_vec(flat, (BATCH, SEQ), &device)?;
    let types_t = ids_t.zeros_like()?;
    let mask_t = Tensor::ones((BATCH, SEQ), DType::U32, &device)?;

    let run_ours = || -> candle_core::Result<f64> {
        let t = Instant::now();
        let out = ours.encoder.forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            false,
        )?;
        out.last()?.sum_all()?.to_scalar::<f32>()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let run_theirs = || -> candle_core::Result<f64> {
        let t = Instant::now();
        let out = theirs.forward(&ids_t, &types_t, Some(&mask_t))?;
        out.sum_all()?.to_scalar::<f32>()?;
        Ok(t.elapsed().as_secs_f64())
    };
    run_ours()?;
    run_theirs()?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(run_ours()?);
        b.push(run_theirs()?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ta, tb) = (median(&mut a), median(&mut b));
    println!(
        "{{\"model\": \"all-MiniLM-L6-v2\", \"batch\": {BATCH}, \"seq\": {SEQ}, \"threads\": {}, \"ours_samples_per_s\": {:.2}, \"candle_transformers_samples_per_s\": {:.2}, \"ratio\": {:.3}}}",
        candle_core::utils::get_num_threads(),
        BATCH as f64 / ta,
        BATCH as f64 / tb,
        tb / ta
    );
    Ok(())
}
