//! The teacher's token-level outputs (hidden states, attention scores, pooled) are cut from
//! the teacher's graph: nothing a student's loss does with them reaches the teacher's weights,
//! and a cache of them holds no activations.

use crate::common::fixture;
use alambic::distill::teacher_tokens::{Needs, TeacherTokens, compute};
use alambic::model::Classifier;
use alambic::model::load::LoadOptions;
use alambic::train::batches::pad;
use alambic::train::samples::{Sample, Target};
use candle_core::{Device, Tensor};

fn sample(record: usize, windows: Vec<Vec<u32>>) -> Sample {
    let spans = windows.iter().map(|_| (0, 0)).collect();
    Sample {
        record,
        windows,
        spans,
        target: Target::Class(0),
    }
}

#[test]
fn teacher_outputs_carry_no_gradient_path_into_the_teacher() {
    let (teacher, _) =
        Classifier::from_folder(&fixture("tiny-bert"), &LoadOptions::default(), &Device::Cpu)
            .expect("tiny-bert");
    let weights: Vec<Tensor> = teacher
        .varmap
        .all_vars()
        .iter()
        .map(|v| v.as_tensor().clone())
        .collect();
    assert!(weights.len() > 10, "{} variables", weights.len());
    let samples = [
        sample(0, vec![vec![2, 7, 8, 9, 3], vec![2, 5, 3]]),
        sample(1, vec![vec![2, 11, 3]]),
    ];
    let refs: Vec<&Sample> = samples.iter().collect();
    let padded = pad(&refs, teacher.config.pad_token_id);
    let needs = Needs {
        hidden: [0, 2].into(),
        scores: [2].into(),
        pooled: true,
        teacher_ids: None,
    };

    let cached = compute(&teacher, &needs, &samples, 2).expect("cache");
    assert_eq!(
        cached.len(),
        2 * 4,
        "hidden 0 and 2, scores 2, pooled per contract"
    );

    let live = TeacherTokens::Live {
        model: Box::new(teacher),
        needs,
    };
    let batch = live.batch(&refs, &padded).expect("live batch");
    let mut outputs: Vec<&Tensor> = batch.hidden.values().collect();
    outputs.extend(batch.scores.values());
    outputs.extend(batch.pooled.iter());
    outputs.extend(cached.values());
    assert_eq!(outputs.len(), 3 + 1 + 8);
    for out in outputs {
        let loss = out
            .to_dtype(candle_core::DType::F32)
            .and_then(|t| t.sqr()?.sum_all())
            .expect("loss");
        let grads = loss.backward().expect("backward");
        let reached = weights.iter().filter(|w| grads.get(w).is_some()).count();
        assert_eq!(
            reached,
            0,
            "an output of shape {:?} reaches the teacher",
            out.dims()
        );
    }
}
