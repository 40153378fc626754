//! Every distillation term against `../shared/fixtures/kd-losses` (PyTorch), within 1e-5.

use crate::common::fixture;
use alambic::distill::{attention, cosine, hidden, logits};
use candle_core::{Device, Tensor};
use candle_nn::Linear;
use std::collections::HashMap;

fn golden() -> (HashMap<String, Tensor>, serde_json::Value) {
    let dir = fixture("kd-losses");
    let tensors = candle_core::safetensors::load(dir.join("golden.safetensors"), &Device::Cpu)
        .expect("tensors");
    let json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).expect("json"))
            .expect("parse");
    (tensors, json)
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f32>().expect("scalar") as f64
}

fn close(name: &str, got: f64, want: &serde_json::Value) {
    let want = want.as_f64().expect("number");
    assert!((got - want).abs() < 1e-5, "{name}: {got} vs PyTorch {want}");
}

#[test]
fn response_terms_for_every_alpha_and_temperature() {
    let (t, json) = golden();
    let labels: Vec<usize> = t["labels"]
        .to_vec1::<i64>()
        .expect("labels")
        .into_iter()
        .map(|l| l as usize)
        .collect();
    let cases = json["logit_cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 16);
    for case in cases {
        let (temp, alpha) = (
            case["temperature"].as_f64().expect("T"),
            case["alpha"].as_f64().expect("alpha"),
        );
        let (total, soft, hard) = logits::response(
            &t["student_logits"],
            &t["teacher_logits"],
            &labels,
            alpha,
            temp,
        )
        .expect("response");
        let name = format!("T={temp} alpha={alpha}");
        close(
            &format!("{name} soft_kl_t2"),
            scalar(&soft),
            &case["soft_kl_t2"],
        );
        close(&format!("{name} hard_ce"), scalar(&hard), &case["hard_ce"]);
        close(&format!("{name} total"), scalar(&total), &case["total"]);
    }
}

#[test]
fn logit_hidden_embedding_attention_and_cosine_terms() {
    let (t, json) = golden();
    close(
        "logit_mse",
        scalar(&logits::logit_mse(&t["student_logits"], &t["teacher_logits"]).expect("mse")),
        &json["logit_mse"],
    );
    let proj = Linear::new(t["proj.weight"].clone(), Some(t["proj.bias"].clone()));
    close(
        "hidden_mse",
        scalar(
            &hidden::projected_mse(&t["student_hidden"], &t["teacher_hidden"], &proj)
                .expect("hidden"),
        ),
        &json["hidden_mse_with_projection"],
    );
    close(
        "embedding_mse",
        scalar(
            &hidden::projected_mse(&t["student_embeddings"], &t["teacher_embeddings"], &proj)
                .expect("emb"),
        ),
        &json["embedding_mse_with_projection"],
    );
    close(
        "attention_score_mse",
        scalar(
            &attention::score_mse(
                &t["student_attention_scores"],
                &t["teacher_attention_scores"],
            )
            .expect("att"),
        ),
        &json["attention_score_mse_tinybert"],
    );
    close(
        "attention_prob_kl",
        scalar(
            &attention::prob_kl(
                &t["student_attention_scores"],
                &t["teacher_attention_scores"],
                &t["mask"],
            )
            .expect("kl"),
        ),
        &json["attention_prob_kl"],
    );
    close(
        "cosine",
        scalar(&cosine::cosine(&t["student_pooled"], &t["teacher_pooled"]).expect("cos")),
        &json["cosine_loss"],
    );
}

#[test]
fn shape_mismatches_name_the_dims() {
    let (t, _) = golden();
    let err = logits::logit_mse(&t["student_logits"], &t["teacher_hidden"])
        .expect_err("shapes")
        .to_string();
    assert!(
        err.contains("logit_mse: student shape [5, 4] differs from teacher shape [5, 6, 12]"),
        "{err}"
    );
    let wrong = Linear::new(t["proj.weight"].narrow(0, 0, 10).expect("narrow"), None);
    let err = hidden::projected_mse(&t["student_hidden"], &t["teacher_hidden"], &wrong)
        .expect_err("shapes")
        .to_string();
    assert!(
        err.contains(
            "projected student [5, 6, 10] (from [5, 6, 8]) does not match teacher [5, 6, 12]"
        ),
        "{err}"
    );
}

#[test]
fn training_forms_equal_the_golden_terms_without_padding_and_ignore_padding() {
    let (t, json) = golden();
    let proj = Linear::new(t["proj.weight"].clone(), Some(t["proj.bias"].clone()));
    let (s_h, t_h) = (&t["student_hidden"], &t["teacher_hidden"]);
    let (batch, seq, _) = s_h.dims3().expect("dims");
    let ones = Tensor::ones((batch, seq), candle_core::DType::F32, &Device::Cpu).expect("ones");
    close(
        "masked hidden_mse, no padding",
        scalar(&hidden::masked_mse(s_h, t_h, Some(&proj), &ones).expect("hidden")),
        &json["hidden_mse_with_projection"],
    );
    let (s_a, t_a) = (
        &t["student_attention_scores"],
        &t["teacher_attention_scores"],
    );
    close(
        "masked attention_score_mse, no padding",
        scalar(&attention::masked_score_mse(s_a, t_a, &ones).expect("att")),
        &json["attention_score_mse_tinybert"],
    );

    // Two padded positions more: junk hidden states, keys masked at −10000, junk query rows.
    let grow = |x: &Tensor, dim: usize, value: f64| {
        let mut shape = x.dims().to_vec();
        shape[dim] = 2;
        let pad = (Tensor::ones(shape, candle_core::DType::F32, &Device::Cpu).expect("pad")
            * value)
            .expect("scale");
        Tensor::cat(&[x, &pad], dim).expect("cat")
    };
    let mask = grow(&ones, 1, 0.0);
    let padded_hidden = |x: &Tensor, junk| grow(x, 1, junk);
    let got = hidden::masked_mse(
        &padded_hidden(s_h, 3.0),
        &padded_hidden(t_h, -7.0),
        Some(&proj),
        &mask,
    )
    .expect("padded hidden");
    close(
        "masked hidden_mse, padded",
        scalar(&got),
        &json["hidden_mse_with_projection"],
    );
    let padded_scores = |x: &Tensor, junk| grow(&grow(x, 3, -10000.0), 2, junk);
    let got =
        attention::masked_score_mse(&padded_scores(s_a, 5.0), &padded_scores(t_a, -2.0), &mask)
            .expect("padded att");
    close(
        "masked attention_score_mse, padded",
        scalar(&got),
        &json["attention_score_mse_tinybert"],
    );
}
