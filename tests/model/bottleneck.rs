//! Bottleneck students (`bottleneck:` sources): at full width they are their source; narrower,
//! each factor is the best of its rank; they train, resume and export through the engine.

use super::golden::max_diff;
use super::sources::{load, weight};
use crate::common::{fixture, scratch_dir};
use alambic::model::encoder::Batch;
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::{HeadKind, Mode, Pooling, load_source};
use candle_core::{Device, Tensor};

const DENSE: &str = "scratch:bert-tiny?vocab=300";

/// Every hidden state, every attention map and the logits, on three windows (one padded).
fn outputs(model: &Classifier) -> Vec<Tensor> {
    let vocab = model.config.vocab_size as u32;
    let ids: Vec<Vec<u32>> = (0..3u32)
        .map(|r| {
            (0..20u32)
                .map(|i| match r == 2 && i >= 9 {
                    true => model.config.pad_token_id,
                    false => (i * 7 + r * 13 + 5) % (vocab - 3) + 3,
                })
                .collect()
        })
        .collect();
    let mask: Vec<Vec<u32>> = (0..3)
        .map(|r| (0..20).map(|i| u32::from(r < 2 || i < 9)).collect())
        .collect();
    let out = model
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            // Asking for the scores takes the materialised path, whose maps a loss reads.
            true,
        )
        .expect("forward");
    let mut all = out.encoder.hidden_states;
    all.extend(out.encoder.attentions);
    all.push(out.logits);
    all
}

fn assert_same_outputs(source: &str, tolerance: f32) {
    let dense = load(source);
    let inner = dense.config.hidden_size;
    let narrow = load(&format!("bottleneck:{source}?inner={inner}"));
    assert!(narrow.config.alambic_bottleneck.is_some());
    let (want, got) = (outputs(&dense), outputs(&narrow));
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let diff = max_diff(w, g);
        assert!(
            diff < tolerance,
            "{source}: output {i} differs by {diff} at full inner width"
        );
    }
}

/// With B = H nothing is truncated: the factored layers compute what the source's did, for a
/// scratch BERT, the RoBERTa fixture and the real MiniLM (12 heads of 32).
#[test]
fn bottleneck_at_full_width_equals_its_source() {
    assert_same_outputs(DENSE, 1e-5);
    assert_same_outputs(fixture("tiny-roberta").to_str().expect("path"), 1e-5);
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    assert_same_outputs(minilm.to_str().expect("path"), 1e-4);
}

fn singular_values(t: &Tensor) -> Vec<f64> {
    let (r, c) = t.dims2().expect("matrix");
    let values: Vec<f64> = t
        .to_dtype(candle_core::DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("values");
    let mut s: Vec<f64> = nalgebra::DMatrix::from_row_slice(r, c, &values)
        .singular_values()
        .iter()
        .copied()
        .collect();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

fn squared_norm(t: &Tensor) -> f64 {
    t.sqr()
        .and_then(|t| t.sum_all())
        .and_then(|t| t.to_dtype(candle_core::DType::F64))
        .and_then(|t| t.to_scalar::<f64>())
        .expect("norm")
}

/// Narrower, each FFN matrix is replaced by its best rank-B factorisation: the squared error
/// is the sum of the squared singular values left out (Eckart–Young); the untouched layer and
/// the shapes are as configured.
#[test]
fn truncated_factors_are_the_best_of_their_rank() {
    let dense = load(DENSE);
    let narrow = load(&format!("bottleneck:{DENSE}?inner=32&layers=2"));
    let layer = |m: &Classifier, name: &str| weight(m, &format!("bert.encoder.layer.1.{name}"));
    let pairs = [
        (
            "intermediate.dense.weight",
            layer(&narrow, "intermediate.dense.weight")
                .matmul(&layer(&narrow, "intermediate.reduce.weight"))
                .expect("product"),
        ),
        (
            "output.dense.weight",
            layer(&narrow, "output.dense.weight")
                .matmul(&layer(&narrow, "output.reduce.weight"))
                .expect("product"),
        ),
    ];
    for (name, product) in pairs {
        let source = layer(&dense, name);
        let left_out: f64 = singular_values(&source)[32..].iter().map(|s| s * s).sum();
        let error = squared_norm(&(&source - &product).expect("sub"));
        assert!(
            (error - left_out).abs() <= 1e-4 * left_out,
            "{name}: error {error} against the {left_out} Eckart–Young allows"
        );
    }
    assert_eq!(
        layer(&narrow, "attention.self.query.weight").dims(),
        &[32, 128]
    );
    assert_eq!(
        layer(&narrow, "attention.output.dense.weight").dims(),
        &[128, 32]
    );
    let first = "bert.encoder.layer.0.intermediate.dense.weight";
    assert_eq!(
        max_diff(&weight(&dense, first), &weight(&narrow, first)),
        0.0
    );
    // 2 heads of 16 now: attention maps keep the source's shape, so distillation needs no
    // projection.
    let maps = outputs(&narrow);
    assert_eq!(maps[4].dims(), &[3, 2, 20, 20]);
    assert_eq!(maps[2].dims(), &[3, 20, 128]);
}

/// What a tired user types gets an error that names the source and the fix.
#[test]
fn bad_bottleneck_sources_say_what_is_wrong() {
    let err = |src: &str| {
        load_source(src, &LoadOptions::default(), &Device::Cpu)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{src} loaded"))
    };
    for (src, says) in [
        (
            format!("bottleneck:{DENSE}?inner=33"),
            "multiple of the 2 heads",
        ),
        (
            format!("bottleneck:{DENSE}?inner=256"),
            "at most the width 128",
        ),
        (format!("bottleneck:{DENSE}?inner=64&layers=3"), "not 3"),
        (
            format!("bottleneck:{DENSE}?iner=64"),
            "unknown option `iner`",
        ),
        (format!("bottleneck:{DENSE}?layers=1"), "expected inner=B"),
        // The last `?` starts the bottleneck's options, so the base's options are read as
        // its own.
        (format!("bottleneck:{DENSE}"), "unknown option `vocab`"),
        (
            "bottleneck:runs/teacher".into(),
            "expected bottleneck:SRC?inner=",
        ),
    ] {
        let e = err(&src);
        assert!(e.contains(says) && e.contains("bottleneck:"), "{src}: {e}");
    }
}

/// The export is Alambic's own folder (transformers has no such BERT, and the README says
/// so); it loads back with its head and the same logits.
#[test]
fn bottleneck_export_reloads_with_the_same_logits() {
    let (model, _) = load_source(
        &format!("bottleneck:{DENSE}?inner=64"),
        &LoadOptions {
            seed: 3,
            head: Some(HeadKind::Plain(Pooling::Mean)),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load");
    let dir = scratch_dir("bottleneck-export");
    alambic::model::export::export(&model, &dir).expect("export");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    assert!(
        readme.contains("does not load with `AutoModel`"),
        "{readme}"
    );
    let back = load(dir.to_str().expect("path"));
    assert_eq!(back.head_kind, HeadKind::Plain(Pooling::Mean));
    assert_eq!(
        back.config.alambic_bottleneck,
        model.config.alambic_bottleneck
    );
    let (a, b) = (outputs(&model), outputs(&back));
    assert_eq!(max_diff(&a[a.len() - 1], &b[b.len() - 1]), 0.0);
}
