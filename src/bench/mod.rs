//! `alambic bench`: what a training run costs on this machine — training-step and inference
//! samples/s of an encoder at a fixed batch × sequence shape, peak memory, tokenizer
//! throughput — measured the way `../shared/bench/torch_baseline.py` measures PyTorch
//! (random ids, full mask, 2 labels, AdamW, dropout on; medians after warm-up), so the two can
//! run side by side and be compared as ratios.

pub mod machine;
pub mod model_rate;
pub mod tokenizer_rate;

pub use machine::Machine;
pub use model_rate::{ModelCase, ModelRate, Phase, measure_model};
pub use tokenizer_rate::{TokenizerRate, measure_tokenizer};

/// The median of some timings (seconds); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
