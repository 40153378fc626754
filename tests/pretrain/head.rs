//! The MLM head's decoder is the word-embedding matrix itself.

use crate::common::fixture;
use alambic::model::Classifier;
use alambic::model::load::LoadOptions;
use alambic::pretrain::head::{MlmHead, word_embeddings_name};
use candle_core::{Device, Tensor};
use std::collections::HashMap;

#[test]
fn tied_logits_equal_the_embedding_product_and_train_the_embeddings() {
    let device = Device::Cpu;
    let (model, _) =
        Classifier::from_folder(&fixture("tiny-bert"), &LoadOptions::default(), &device)
            .expect("tiny-bert");
    let (head, initialised) = MlmHead::attach(&model, &HashMap::new(), 7).expect("head");
    assert_eq!(initialised.len(), 5, "{initialised:?}");
    let vars: HashMap<String, candle_core::Var> = model.named_vars().into_iter().collect();
    let words = vars[&word_embeddings_name(model.family())].clone();
    let bias = vars["cls.predictions.bias"].clone();
    // A non-zero bias, so the test sees it added.
    bias.set(
        &Tensor::arange(0f32, 600.0, &device)
            .expect("arange")
            .affine(1e-3, 0.0)
            .expect("scale"),
    )
    .expect("set bias");
    let hidden = Tensor::randn(0f32, 1.0, (5, 32), &device).expect("hidden");
    let logits = head.logits(&hidden).expect("logits");
    assert_eq!(logits.dims(), &[5, 600]);
    let expected = head
        .transform(&hidden)
        .expect("transform")
        .matmul(&words.as_tensor().t().expect("t"))
        .expect("product")
        .broadcast_add(bias.as_tensor())
        .expect("bias");
    let diff = crate::common::max_abs_diff(&logits, &expected);
    assert!(diff < 1e-5, "tied logits differ by {diff}");
    // The head alone (no embedding lookup) sends gradient into the word embeddings.
    let grads = logits.sum_all().expect("sum").backward().expect("backward");
    let g = grads
        .get(words.as_tensor())
        .expect("the word embeddings get a gradient");
    let norm: f32 = g
        .sqr()
        .expect("sq")
        .sum_all()
        .expect("sum")
        .to_scalar()
        .expect("scalar");
    assert!(norm > 0.0);
}
