//! Distilling a student with a pruned vocabulary: the teacher reads the student's pieces under
//! its own ids, so the run is its unpruned source's, row for row.

use super::run::{config, run, student_steps, teacher_run};
use crate::common::scratch_dir;
use crate::train::runs::weights;
use candle_core::Tensor;

/// TinyBERT's two stages from the fine-tuned teacher into a copy of it, with and without a
/// pruned vocabulary: every logged term is the same at every step, and at the end every weight
/// is the same, the pruned word embeddings being the kept rows of the full ones. (Were the
/// teacher fed the student's renumbered ids, its hidden states and the terms would differ.)
#[test]
fn a_pruned_student_distils_exactly_as_its_source() {
    let out = scratch_dir("distill-pruned");
    run(&config(&["train.max_steps=2"]), &out);
    let teacher = teacher_run(&out);
    let sets = |prune: &'static str| {
        config(&[
            &format!("teacher.model=\"{}\"", teacher.display()),
            &format!("student.model=\"{}\"", teacher.display()),
            prune,
            "distill.recipe=\"tinybert\"",
            "train.max_steps=3",
        ])
    };
    let (full, full_events) = run(&sets("student.embeddings.prune=false"), &out);
    let (pruned, pruned_events) = run(&sets("student.embeddings.prune=true"), &out);
    let (a, b) = (student_steps(&full_events), student_steps(&pruned_events));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "the terms of every step");

    let (wa, wb) = (weights(&full), weights(&pruned));
    let key = "bert.embeddings.word_embeddings.weight";
    let tok = alambic::tokenize::TextTokenizer::load(pruned.join("checkpoints/last"))
        .expect("pruned tokenizer");
    let source =
        alambic::tokenize::TextTokenizer::load(full.join("checkpoints/last")).expect("tokenizer");
    let kept: Vec<u32> = (0..tok.vocab_size() as u32)
        .map(|id| {
            let piece = tok.inner().id_to_token(id).expect("piece");
            source.token_to_id(&piece).expect("a source piece")
        })
        .collect();
    assert!(kept.len() < wa[key].dims()[0], "the vocabulary shrank");
    let rows = wa[key]
        .index_select(
            &Tensor::new(kept.as_slice(), &candle_core::Device::Cpu).expect("ids"),
            0,
        )
        .expect("rows");
    let same = |x: &Tensor, y: &Tensor| {
        (x - y)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .expect("diff")
    };
    assert_eq!(same(&rows, &wb[key]), 0.0, "kept rows");
    for (name, t) in &wa {
        if name != key {
            assert_eq!(same(t, &wb[name]), 0.0, "{name}");
        }
    }
}
