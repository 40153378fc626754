//! Which student layer learns from which teacher layer. Layers are numbered as everywhere in
//! Alambic: 0 = the embedding output, 1..L = encoder layers.

use crate::tokenize::TextTokenizer;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayerMapSpec {
    /// `"uniform"` (student i ↔ teacher i·L_t/L_s, TinyBERT) or `"last"`.
    Named(String),
    /// Explicit `[[student, teacher], …]`, e.g. `[[1, 2], [2, 4], [3, 6]]`.
    Pairs(Vec<[usize; 2]>),
}

/// `(student layer, teacher layer)` pairs.
pub fn resolve(
    spec: &LayerMapSpec,
    student_layers: usize,
    teacher_layers: usize,
) -> Result<Vec<(usize, usize)>, String> {
    if student_layers == 0 || teacher_layers == 0 {
        return Err("layer map: both models need at least one encoder layer".into());
    }
    match spec {
        LayerMapSpec::Named(name) => match name.as_str() {
            // Integer steps when L_t is a multiple of L_s (6/3 → 2, 4, 6); otherwise the floor,
            // and the last student layer always meets the last teacher layer.
            "uniform" => Ok((1..=student_layers)
                .map(|i| (i, i * teacher_layers / student_layers))
                .collect()),
            "last" => Ok(vec![(student_layers, teacher_layers)]),
            other => Err(format!(
                "layer map `{other}`: expected uniform, last or [[student, teacher], …]"
            )),
        },
        LayerMapSpec::Pairs(pairs) => {
            for &[s, t] in pairs {
                if s > student_layers || t > teacher_layers {
                    return Err(format!(
                        "layer map pair [{s}, {t}]: the student has layers 0..{student_layers}, the teacher 0..{teacher_layers} (0 = embeddings)"
                    ));
                }
            }
            Ok(pairs.iter().map(|&[s, t]| (s, t)).collect())
        }
    }
}

/// Attention terms compare maps head by head: both sides need the same number of heads, and
/// layer 0 (the embeddings) has no attention.
pub fn check_attention(
    pairs: &[(usize, usize)],
    student_heads: usize,
    teacher_heads: usize,
) -> Result<(), String> {
    for &(s, t) in pairs {
        if s == 0 || t == 0 {
            return Err(format!(
                "attention terms: pair [{s}, {t}] names layer 0, the embeddings, which has no attention map"
            ));
        }
        if student_heads != teacher_heads {
            return Err(format!(
                "attention terms: pair [{s}, {t}] compares {student_heads} student heads with {teacher_heads} teacher heads; \
                 attention maps are matched head by head, so use a student with {teacher_heads} heads or drop the attention terms"
            ));
        }
    }
    Ok(())
}

/// Token-level terms (hidden states, attention, embeddings) compare position by position, so
/// both models must split text the same way; logit terms work across tokenizers because each
/// side pools its windows into one verdict per contract. A student whose pieces are all the
/// teacher's (a pruned vocabulary, renumbered) reads the same text at every position: the
/// teacher then reads the student's pieces under its own ids, which this returns (`None`:
/// the same ids).
pub fn check_token_level(
    student: &TextTokenizer,
    teacher: &TextTokenizer,
) -> Result<Option<Vec<u32>>, String> {
    let (mine, theirs) = (
        student.inner().get_vocab(true),
        teacher.inner().get_vocab(true),
    );
    if mine == theirs {
        return Ok(None);
    }
    let mut map = vec![0u32; student.vocab_size()];
    let all_known = mine.iter().all(|(token, &id)| match theirs.get(token) {
        Some(&t) if (id as usize) < map.len() => {
            map[id as usize] = t;
            true
        }
        _ => false,
    });
    if all_known {
        return Ok(Some(map));
    }
    Err(format!(
        "token-level terms (hidden, attention, embedding) compare the two models token by token, but the teacher's \
         tokenizer ({}, {} tokens) and the student's ({}, {} tokens) split code differently, so position i is not the \
         same text on both sides. Use logit terms only (response, logit_mse), or give the student the teacher's \
         tokenizer (scratch:PRESET?tokenizer=TEACHER or derive:TEACHER?layers=…)",
        teacher.kind(),
        teacher.vocab_size(),
        student.kind(),
        student.vocab_size()
    ))
}
