//! Smaller embeddings: a pruned vocabulary (`prune:`) and factorised word embeddings
//! (`factor:`). Pruned, a model computes exactly what its source did on text it kept;
//! factorised at full width it is its source; narrower, the best factorisation of its rank.

use super::golden::max_diff;
use super::sources::weight;
use crate::common::{fixture, scratch_dir};
use alambic::model::encoder::Batch;
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::{Mode, load_source};
use candle_core::{Device, Tensor};
use std::sync::Arc;

const CORPUS: [&str; 3] = [
    "contract Token { mapping(address => uint256) balances; function transfer(address to, \
     uint256 amount) public returns (bool) { require(balances[msg.sender] >= amount); \
     balances[msg.sender] -= amount; balances[to] += amount; return true; } }",
    "contract Wallet { function withdraw() public { msg.sender.call{value: 1}(\"\"); } }",
    "contract Token { function transfer() public {} }",
];

fn with_corpus(src: &str, corpus: &[&str]) -> Classifier {
    load_source(
        src,
        &LoadOptions {
            seed: 3,
            corpus: Some(Arc::new(corpus.iter().map(|s| s.to_string()).collect())),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .unwrap_or_else(|e| panic!("{src}: {e}"))
    .0
}

/// Logits of `text` (its first 64 tokens), as the model's own tokenizer reads it.
fn logits(model: &Classifier, text: &str) -> (Vec<u32>, Tensor) {
    let tok = model.tokenizer.as_ref().expect("tokenizer");
    let mut ids = tok.encode(text).expect("encode");
    ids.truncate(64);
    let mask = vec![vec![1u32; ids.len()]];
    let out = model
        .forward(
            &Batch {
                input_ids: std::slice::from_ref(&ids),
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            false,
        )
        .expect("forward");
    (ids, out.logits)
}

fn pieces(model: &Classifier, ids: &[u32]) -> Vec<String> {
    let tok = model.tokenizer.as_ref().expect("tokenizer");
    ids.iter()
        .map(|&id| {
            tok.inner()
                .id_to_token(id)
                .expect("a token of the vocabulary")
        })
        .collect()
}

/// On every text whose pieces were all kept, the pruned model reads the same pieces (under
/// new ids) and gives exactly the same logits: for WordPiece (MiniLM) and byte-level BPE (the
/// RoBERTa fixture).
#[test]
fn a_pruned_model_equals_its_source_on_kept_text() {
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let roberta = fixture("tiny-roberta");
    for (src, full_vocab) in [
        (minilm.to_str().expect("path"), 30522),
        (roberta.to_str().expect("path"), 800),
    ] {
        let full = with_corpus(src, &CORPUS);
        let pruned = with_corpus(&format!("prune:{src}"), &CORPUS);
        assert_eq!(full.config.vocab_size, full_vocab);
        assert!(
            pruned.config.vocab_size < full_vocab / 2,
            "{src}: kept {}",
            pruned.config.vocab_size
        );
        let tok = pruned.tokenizer.as_ref().expect("tokenizer");
        assert_eq!(tok.vocab_size(), pruned.config.vocab_size, "{src}");
        for text in CORPUS {
            let (full_ids, want) = logits(&full, text);
            let (ids, got) = logits(&pruned, text);
            assert_eq!(pieces(&full, &full_ids), pieces(&pruned, &ids), "{src}");
            assert_ne!(full_ids, ids, "{src}: ids are renumbered");
            assert_eq!(max_diff(&want, &got), 0.0, "{src}: {text}");
        }
    }
}

/// Pieces used fewer than `min_count` times go; an unseen word then falls back to the kept
/// characters (WordPiece) or bytes (BPE) instead of becoming `[UNK]`.
#[test]
fn unseen_words_fall_back_to_kept_characters() {
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let src = minilm.to_str().expect("path");
    let once = with_corpus(&format!("prune:{src}?min_count=1"), &CORPUS);
    let twice = with_corpus(&format!("prune:{src}?min_count=2"), &CORPUS);
    assert!(twice.config.vocab_size < once.config.vocab_size);
    let tok = twice.tokenizer.as_ref().expect("tokenizer");
    // "withdraw" occurs once: with min_count 2 it is spelt out.
    let ids = tok.encode_content("withdraw").expect("encode").0;
    assert!(ids.len() > 1, "{ids:?}");
    assert_eq!(tok.decode(&ids).expect("decode"), "withdraw");
    assert!(!ids.contains(&tok.token_to_id("[UNK]").expect("unk")));
    let roberta = fixture("tiny-roberta");
    let bpe = with_corpus(
        &format!("prune:{}", roberta.to_str().expect("path")),
        &CORPUS[2..],
    );
    let tok = bpe.tokenizer.as_ref().expect("tokenizer");
    let (ids, _) = tok.encode_content("zebra ünïcode").expect("encode");
    assert_eq!(tok.decode(&ids).expect("decode"), "zebra ünïcode");
}

/// Every hidden state and the logits on two windows, one padded.
fn outputs(model: &Classifier) -> Vec<Tensor> {
    let vocab = model.config.vocab_size as u32;
    let pad = model.config.pad_token_id;
    let ids: Vec<Vec<u32>> = (0..2u32)
        .map(|r| {
            (0..16u32)
                .map(|i| match r == 1 && i >= 7 {
                    true => pad,
                    false => (i * 11 + r * 5 + 3) % (vocab - 3) + 3,
                })
                .collect()
        })
        .collect();
    let mask: Vec<Vec<u32>> = ids
        .iter()
        .enumerate()
        .map(|(r, row)| (0..row.len()).map(|i| u32::from(r == 0 || i < 7)).collect())
        .collect();
    let out = model
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            false,
        )
        .expect("forward");
    let mut all = out.encoder.hidden_states;
    all.push(out.logits);
    all
}

fn assert_close(a: &Classifier, b: &Classifier, tolerance: f32, what: &str) {
    for (i, (x, y)) in outputs(a).iter().zip(&outputs(b)).enumerate() {
        let d = max_diff(x, y);
        assert!(d < tolerance, "{what}: output {i} differs by {d}");
    }
}

/// With E = H nothing is truncated: the factorised model is its source (a scratch BERT, the
/// RoBERTa fixture, MiniLM), and composes with pruning and with experts.
#[test]
fn factorised_embeddings_at_full_width_equal_their_source() {
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let roberta = fixture("tiny-roberta");
    for (src, h) in [
        ("scratch:bert-tiny?vocab=300", 128),
        (roberta.to_str().expect("path"), 32),
        (minilm.to_str().expect("path"), 384),
    ] {
        let dense = with_corpus(src, &CORPUS);
        let factored = with_corpus(&format!("factor:{src}?size={h}"), &CORPUS);
        assert_eq!(
            weight(
                &factored,
                &format!(
                    "{}.embeddings.word_projection.weight",
                    dense.family().prefix()
                )
            )
            .dims(),
            &[h, h]
        );
        assert_close(&dense, &factored, 1e-5, src);
    }
    let src = roberta.to_str().expect("path");
    let pruned = with_corpus(&format!("prune:{src}"), &CORPUS);
    let both = with_corpus(&format!("factor:prune:{src}?size=32"), &CORPUS);
    assert_eq!(both.config.vocab_size, pruned.config.vocab_size);
    assert_close(&pruned, &both, 1e-5, "factor:prune:");
    let factored = with_corpus(&format!("factor:{src}?size=32"), &CORPUS);
    let experts = with_corpus(
        &format!("moe:factor:{src}?size=32?experts=2&top_k=1&init=upcycle"),
        &CORPUS,
    );
    // Logits only: a mixture routes no padding, so padded positions' hidden states differ.
    let (a, b) = (outputs(&factored), outputs(&experts));
    assert!(
        max_diff(&a[a.len() - 1], &b[b.len() - 1]) < 1e-5,
        "moe:factor:"
    );
}

/// Narrower, the rows times the projection are the best rank-E version of the word
/// embeddings: the squared error is what the singular values left out sum to (Eckart–Young).
#[test]
fn narrow_factorised_embeddings_are_the_best_of_their_rank() {
    let src = "scratch:bert-tiny?vocab=300";
    let dense = with_corpus(src, &CORPUS);
    let narrow = with_corpus(&format!("factor:{src}?size=24"), &CORPUS);
    let word = weight(&dense, "bert.embeddings.word_embeddings.weight");
    let rows = weight(&narrow, "bert.embeddings.word_embeddings.weight");
    let projection = weight(&narrow, "bert.embeddings.word_projection.weight");
    assert_eq!(rows.dims(), &[300, 24]);
    let product = rows.matmul(&projection.t().expect("t")).expect("product");
    let values: Vec<f64> = word
        .to_dtype(candle_core::DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("values");
    let mut s: Vec<f64> = nalgebra::DMatrix::from_row_slice(300, 128, &values)
        .singular_values()
        .iter()
        .copied()
        .collect();
    s.sort_by(|a, b| b.total_cmp(a));
    let left_out: f64 = s[24..].iter().map(|v| v * v).sum();
    let error: f64 = (&word - &product)
        .and_then(|d| d.sqr())
        .and_then(|d| d.sum_all())
        .and_then(|d| d.to_dtype(candle_core::DType::F64))
        .and_then(|d| d.to_scalar())
        .expect("error");
    assert!(
        (error - left_out).abs() <= 1e-4 * left_out,
        "error {error} against the {left_out} Eckart–Young allows"
    );
    // The layers are untouched.
    let layer = "bert.encoder.layer.0.intermediate.dense.weight";
    assert_eq!(
        max_diff(&weight(&dense, layer), &weight(&narrow, layer)),
        0.0
    );
}

/// What a tired user types gets an error that names the source and the fix.
#[test]
fn bad_embedding_sources_say_what_is_wrong() {
    let src = "scratch:bert-tiny?vocab=300";
    let err = |s: &str, corpus: bool| {
        load_source(
            s,
            &LoadOptions {
                corpus: corpus.then(|| Arc::new(vec!["contract A {}".to_string()])),
                ..LoadOptions::default()
            },
            &Device::Cpu,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("{s} loaded"))
    };
    for (s, corpus, says) in [
        (
            format!("factor:{src}?size=200"),
            true,
            "at most the hidden width 128",
        ),
        (
            format!("factor:{src}?size=0"),
            true,
            "a whole number above 0",
        ),
        (
            format!("factor:{src}?dim=64"),
            true,
            "unknown option `dim=64`",
        ),
        (
            format!("factor:factor:{src}?size=64?size=32"),
            true,
            "already factorised",
        ),
        (format!("factor:{src}"), true, "unknown option `vocab=300`"),
        (
            format!("prune:{src}?min_count=0"),
            true,
            "a whole number above 0",
        ),
        (format!("prune:{src}"), false, "needs a dataset"),
        // A scratch model without a tokenizer has nothing to prune.
        (format!("prune:{src}"), true, "no tokenizer"),
    ] {
        let e = err(&s, corpus);
        assert!(e.contains(says), "{s}: {e}");
    }
}

/// A pruned BERT is still a plain BERT: it exports as `BertForSequenceClassification` with
/// the smaller vocabulary and its pruned tokenizer, and loads back the same. A factorised one
/// is Alambic's own folder, and its README says so.
#[test]
fn pruned_and_factorised_models_export() {
    let src = fixture("tiny-bert");
    let src = src.to_str().expect("path");
    let pruned = with_corpus(&format!("prune:{src}"), &CORPUS);
    let dir = scratch_dir("pruned-export");
    alambic::model::export::export(&pruned, &dir).expect("export");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["vocab_size"], pruned.config.vocab_size);
    let back = with_corpus(dir.to_str().expect("path"), &CORPUS);
    for text in CORPUS {
        assert_eq!(
            max_diff(&logits(&pruned, text).1, &logits(&back, text).1),
            0.0
        );
    }
    let factored = with_corpus(&format!("factor:{src}?size=16"), &CORPUS);
    let dir = scratch_dir("factored-export");
    alambic::model::export::export(&factored, &dir).expect("export");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    assert!(
        readme.contains("does not load with `AutoModel`"),
        "{readme}"
    );
    let back = with_corpus(dir.to_str().expect("path"), &CORPUS);
    assert_eq!(
        back.config.alambic_embedding,
        factored.config.alambic_embedding
    );
    assert_eq!(max_diff(&outputs(&factored)[2], &outputs(&back)[2]), 0.0);
}
