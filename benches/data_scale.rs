//! How long the data stage takes on 50,000 contracts: cgt_dasp's 2,224 real contracts and 22
//! mutated copies of each (one line in eight gets an extra declaration), so the duplicate
//! search meets realistic clone families. `cargo bench --bench data_scale`.

use alambic::data::{DataConfig, Dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

const TARGET: usize = 50_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/cgt_dasp/cgt_dasp.jsonl");
    let base = Dataset::load(&DataConfig {
        file: source,
        ..DataConfig::default()
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = String::new();
    let mut n = 0;
    'copies: for copy in 0.. {
        for r in &base.records {
            if n == TARGET {
                break 'copies;
            }
            let mut lines: Vec<String> = r.code.lines().map(String::from).collect();
            if copy > 0 {
                for _ in 0..(lines.len() / 8).max(1) {
                    let i = rng.random_range(0..lines.len());
                    let v: u32 = rng.random_range(0..1_000_000);
                    lines[i].push_str(&format!(" uint v{v};"));
                }
            }
            let record = serde_json::json!({"id": format!("c{n}"), "code": lines.join("\n"), "label": r.label});
            out.push_str(&record.to_string());
            out.push('\n');
            n += 1;
        }
    }
    let file = alambic::testing::target_dir().join("bench-data-50k.jsonl");
    std::fs::write(&file, out)?;
    let cfg = DataConfig {
        file,
        ..DataConfig::default()
    };
    let started = Instant::now();
    let mut ds = Dataset::load(&cfg)?;
    let loaded = started.elapsed();
    ds.find_duplicates(&cfg);
    let deduped = started.elapsed();
    ds.assign_splits(&cfg)?;
    let split = started.elapsed();
    let (groups, members) = ds.duplicates.as_ref().map_or((0, 0), |d| d.near_summary());
    println!(
        "{{\"contracts\": {}, \"threads\": {}, \"load_clean_s\": {:.2}, \"dedup_s\": {:.2}, \"split_s\": {:.2}, \"total_s\": {:.2}, \"near_groups\": {groups}, \"in_groups\": {members}}}",
        ds.records.len(),
        rayon::current_num_threads(),
        loaded.as_secs_f64(),
        (deduped - loaded).as_secs_f64(),
        (split - deduped).as_secs_f64(),
        split.as_secs_f64()
    );
    Ok(())
}
