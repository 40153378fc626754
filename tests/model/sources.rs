//! Model sources (folder, offline Hub cache, scratch, derive), export and info.

use super::golden::{forward_fixture, max_diff};
use crate::common::{fixture, json_of, scratch_dir};
use alambic::model::export::export;
use alambic::model::info::info;
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::{HeadKind, Mode, ModelConfig, Pooling, load_source};
use candle_core::{Device, Tensor};
use std::path::Path;
use std::process::Command;

fn logits(model: &Classifier, fixture_name: &str, pad: u32) -> Tensor {
    forward_fixture(model, fixture_name, pad, &mut Mode::Eval).logits
}

pub(super) fn load(src: &str) -> Classifier {
    load_source(
        src,
        &LoadOptions {
            seed: 3,
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load")
    .0
}

/// A model's variable by name.
pub(super) fn var(model: &Classifier, name: &str) -> candle_core::Var {
    model
        .named_vars()
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .1
}

/// A model's weight by name, as a tensor.
pub(super) fn weight(model: &Classifier, name: &str) -> Tensor {
    var(model, name).as_tensor().clone()
}

/// Lays `files` of `from` out as hf-hub caches a model: blobs, a snapshot, refs/main.
fn fill_cache(cache: &Path, repo: &str, from: &Path, files: &[&str]) {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let snap = root.join("snapshots").join(rev);
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::create_dir_all(root.join("refs")).expect("mkdir");
    std::fs::write(root.join("refs/main"), rev).expect("ref");
    for f in files {
        std::fs::copy(from.join(f), snap.join(f)).expect("copy");
    }
}

#[test]
fn offline_hub_cache_hit_and_miss() {
    // One test owns the environment variables (tests run in threads of one process).
    let cache = scratch_dir("hf-cache");
    fill_cache(
        &cache,
        "acme/tiny-roberta",
        &fixture("tiny-roberta"),
        &[
            "config.json",
            "pytorch_model.bin",
            "vocab.json",
            "merges.txt",
        ],
    );
    // SAFETY: no other test reads or writes these variables.
    unsafe {
        std::env::set_var("HF_HUB_CACHE", &cache);
        std::env::set_var("HF_HUB_OFFLINE", "1");
    }
    let model = load("hf:acme/tiny-roberta");
    let want = &super::golden::golden(&fixture("tiny-roberta"))["logits"];
    assert!(max_diff(&logits(&model, "tiny-roberta", 1), want) < 1e-4);
    let pinned = load("hf:acme/tiny-roberta@0123456789abcdef0123456789abcdef01234567");
    assert_eq!(pinned.labels.len(), 2);
    let err = load_source("hf:acme/missing", &LoadOptions::default(), &Device::Cpu)
        .err()
        .expect("a miss offline fails")
        .to_string();
    unsafe {
        std::env::remove_var("HF_HUB_CACHE");
        std::env::remove_var("HF_HUB_OFFLINE");
    }
    assert!(
        err.starts_with(
            "model source `hf:acme/missing`: acme/missing@main is not in the Hugging Face cache at"
        ),
        "{err}"
    );
    assert!(
        err.contains(cache.to_str().expect("path")) && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

#[test]
fn scratch_presets_are_seeded() {
    let tok = fixture("tiny-bert");
    let src = format!("scratch:bert-tiny?tokenizer={}", tok.display());
    let a = load(&src);
    let b = load(&src);
    assert_eq!(a.config.vocab_size, 600);
    assert_eq!(
        (
            a.config.num_hidden_layers,
            a.config.hidden_size,
            a.config.num_attention_heads
        ),
        (2, 128, 2)
    );
    let (la, lb) = (logits(&a, "tiny-bert", 0), logits(&b, "tiny-bert", 0));
    assert_eq!(max_diff(&la, &lb), 0.0, "same seed, same weights");
    let c = load_source(
        &src,
        &LoadOptions {
            seed: 4,
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load")
    .0;
    assert!(max_diff(&la, &logits(&c, "tiny-bert", 0)) > 0.0);
    let tiny = load("scratch:tinybert-4l-312d");
    let i = info(&tiny, &Default::default());
    assert_eq!(
        (i.layers, i.hidden, i.heads, i.intermediate),
        (4, 312, 12, 1200)
    );
    // 8000 × 312 + 512 × 312 + 2 × 312 + 2 × 312 embeddings; per layer 4·(312²+312) +
    // 2·312·1200 + 1200 + 312 + 4·312; pooler 312² + 312; classifier 2·312 + 2.
    assert_eq!(i.parameters.embedding, 2_656_992);
    assert_eq!(
        i.parameters.encoder,
        4 * (4 * (312 * 312 + 312) + 2 * 312 * 1200 + 1200 + 312 + 4 * 312)
    );
    assert_eq!(i.parameters.head, 312 * 312 + 312 + 2 * 312 + 2);
    assert!(load_source("scratch:bert-huge", &LoadOptions::default(), &Device::Cpu).is_err());
}

#[test]
fn derive_copies_exactly_the_named_layers() {
    let folder = alambic::testing::minilm_folder().expect("MiniLM");
    let teacher = load(folder.to_str().expect("path"));
    let student = load(&format!(
        "derive:{}?layers=2,4,6&pooler=false",
        folder.display()
    ));
    assert_eq!(student.config.num_hidden_layers, 3);
    assert_eq!(student.head_kind, HeadKind::Plain(Pooling::Cls));
    let t: std::collections::HashMap<String, Tensor> = teacher
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let mut compared = 0;
    for (name, var) in student.named_vars() {
        let teacher_name = match name.strip_prefix("bert.encoder.layer.") {
            Some(rest) => {
                let (idx, tail) = rest.split_once('.').expect("layer index");
                let from = [2, 4, 6][idx.parse::<usize>().expect("number")] - 1;
                format!("bert.encoder.layer.{from}.{tail}")
            }
            None if name.starts_with("bert.embeddings.") => name.clone(),
            None => continue,
        };
        assert_eq!(max_diff(var.as_tensor(), &t[&teacher_name]), 0.0, "{name}");
        compared += 1;
    }
    assert_eq!(compared, 5 + 3 * 16);
    let err = load_source(
        &format!("derive:{}?layers=2,9", folder.display()),
        &LoadOptions::default(),
        &Device::Cpu,
    )
    .err()
    .expect("layer 9")
    .to_string();
    assert!(
        err.contains("layer 9 does not exist; the teacher has layers 1..6"),
        "{err}"
    );
}

/// The keys transformers saves for BertForSequenceClassification (tiny-bert's model.safetensors).
fn safetensors_keys(path: &Path) -> Vec<String> {
    let mut keys: Vec<String> = candle_core::safetensors::load(path, &Device::Cpu)
        .expect("load")
        .into_keys()
        .collect();
    keys.sort();
    keys
}

/// The values transformers (5.x) accepts for each field an export writes: an activation must be
/// an `ACT2FN` key (`"Gelu"` is a KeyError there), ids must be integers, and so on. Any field
/// outside this list fails the test, so a new field is looked up before it ships.
fn assert_transformers_accepts(config: &Path) {
    const ACTIVATIONS: [&str; 8] = [
        "gelu",
        "gelu_new",
        "gelu_pytorch_tanh",
        "gelu_fast",
        "relu",
        "silu",
        "swish",
        "tanh",
    ];
    const ARCHITECTURES: [&str; 4] = [
        "BertForSequenceClassification",
        "RobertaForSequenceClassification",
        "BertModel",
        "RobertaModel",
    ];
    const POSITIVE_INTS: [&str; 7] = [
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "type_vocab_size",
    ];
    const PROBABILITIES: [&str; 2] = ["hidden_dropout_prob", "attention_probs_dropout_prob"];
    const BOOLEANS: [&str; 9] = [
        "output_hidden_states",
        "return_dict",
        "is_encoder_decoder",
        "use_cache",
        "is_decoder",
        "add_cross_attention",
        "tie_word_embeddings",
        "output_attentions",
        "tie_encoder_decoder",
    ];
    // Free text transformers keeps as attributes (the legacy fixture has the last two).
    const TEXT: [&str; 3] = ["transformers_version", "pre_trained", "training"];
    let text = std::fs::read_to_string(config).expect("config.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let fields = v.as_object().expect("an object");
    for (key, value) in fields {
        let ok = match key.as_str() {
            "model_type" => {
                ["bert", "roberta", "xlm-roberta"].contains(&value.as_str().unwrap_or(""))
            }
            "hidden_act" => ACTIVATIONS.contains(&value.as_str().unwrap_or("")),
            "architectures" => value.as_array().is_some_and(|a| {
                a.len() == 1 && ARCHITECTURES.contains(&a[0].as_str().unwrap_or(""))
            }),
            "position_embedding_type" => value == "absolute",
            "dtype" | "torch_dtype" => {
                ["float32", "float16", "bfloat16"].contains(&value.as_str().unwrap_or(""))
            }
            k if POSITIVE_INTS.contains(&k) => value.as_u64().is_some_and(|n| n > 0),
            k if PROBABILITIES.contains(&k) => {
                value.as_f64().is_some_and(|p| (0.0..1.0).contains(&p))
            }
            "classifier_dropout" => {
                value.is_null() || value.as_f64().is_some_and(|p| (0.0..1.0).contains(&p))
            }
            "layer_norm_eps" | "initializer_range" => value.as_f64().is_some_and(|x| x > 0.0),
            "pad_token_id" | "bos_token_id" | "eos_token_id" | "chunk_size_feed_forward" => {
                value.is_null() || value.as_u64().is_some()
            }
            k if BOOLEANS.contains(&k) => value.is_boolean(),
            k if TEXT.contains(&k) => value.is_string(),
            "id2label" => value.as_object().is_some_and(|m| {
                m.iter()
                    .all(|(i, l)| i.parse::<usize>().is_ok() && l.is_string())
            }),
            "label2id" => value.as_object().is_some_and(|m| {
                m.iter().all(|(l, i)| {
                    i.as_u64()
                        .is_some_and(|i| v["id2label"][i.to_string()] == l.as_str())
                })
            }),
            _ => false,
        };
        assert!(
            ok,
            "{}: transformers does not accept {key} = {value}",
            config.display()
        );
    }
    assert!(fields.contains_key("hidden_act") || fields["model_type"] == "bert");
    assert!(
        !fields.contains_key("_name_or_path"),
        "the source's name is not the export's"
    );
}

#[test]
fn export_reload_same_logits_and_transformers_key_lists() {
    // BERT with pooler and classifier: exactly transformers' keys.
    let bert = load(fixture("tiny-bert").to_str().expect("path"));
    let out = scratch_dir("export-bert");
    let keys = export(&bert, &out).expect("export");
    assert_eq!(
        keys,
        safetensors_keys(&fixture("tiny-bert/model.safetensors"))
    );
    let back = load(out.to_str().expect("path"));
    assert!(
        max_diff(
            &logits(&bert, "tiny-bert", 0),
            &logits(&back, "tiny-bert", 0)
        ) < 1e-6
    );
    let cfg = ModelConfig::from_file(&out.join("config.json")).expect("config parses");
    assert_eq!(
        cfg.architectures,
        Some(vec!["BertForSequenceClassification".to_string()])
    );
    assert_eq!(cfg.model_type, "bert");
    assert_transformers_accepts(&out.join("config.json"));

    // RoBERTa: the legacy checkpoint's keys (which transformers wrote), in safetensors.
    let roberta = load(fixture("tiny-roberta").to_str().expect("path"));
    let out = scratch_dir("export-roberta");
    let keys = export(&roberta, &out).expect("export");
    let legacy = alambic::model::legacy_pickle::read(
        &fixture("tiny-roberta/pytorch_model.bin"),
        &Device::Cpu,
    )
    .expect("read");
    let mut want: Vec<String> = legacy
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !k.ends_with("position_ids"))
        .collect();
    want.sort();
    assert_eq!(keys, want);
    let back = load(out.to_str().expect("path"));
    assert!(
        max_diff(
            &logits(&roberta, "tiny-roberta", 1),
            &logits(&back, "tiny-roberta", 1)
        ) < 1e-6
    );
    let cfg = ModelConfig::from_file(&out.join("config.json")).expect("config parses");
    assert_eq!(
        cfg.architectures,
        Some(vec!["RobertaForSequenceClassification".to_string()])
    );
    assert_transformers_accepts(&out.join("config.json"));

    // Pooler-free: a BertModel without the prefix, and the head beside it.
    let plain = load_source(
        fixture("tiny-bert").to_str().expect("path"),
        &LoadOptions {
            head: Some(HeadKind::Plain(Pooling::Mean)),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load")
    .0;
    let out = scratch_dir("export-plain");
    let keys = export(&plain, &out).expect("export");
    let bert_model_keys: Vec<String> = safetensors_keys(&fixture("tiny-bert/model.safetensors"))
        .into_iter()
        .filter_map(|k| k.strip_prefix("bert.").map(String::from))
        .filter(|k| !k.starts_with("pooler."))
        .collect();
    assert_eq!(keys, bert_model_keys);
    assert_eq!(
        safetensors_keys(&out.join("classifier.safetensors")),
        vec!["classifier.bias", "classifier.weight"]
    );
    assert!(
        std::fs::read_to_string(out.join("README.md"))
            .expect("readme")
            .contains("classifier.safetensors")
    );
    assert_transformers_accepts(&out.join("config.json"));

    // A scratch preset (its config is ours from the first key).
    let scratch = load("scratch:bert-tiny?tokenizer=data/demo/tokenizer.json");
    let out = scratch_dir("export-scratch");
    export(&scratch, &out).expect("export");
    assert_transformers_accepts(&out.join("config.json"));
}

#[test]
fn model_info_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_alambic"))
        .args([
            "model",
            "info",
            fixture("tiny-bert").to_str().expect("path"),
            "--json",
        ])
        .output()
        .expect("run");
    let v = json_of(&out);
    // vocab 600·32 + positions 128·32 + types 2·32 + LN 64 = 23,424; a layer: 4·(32·32+32) +
    // 32·64+64 + 64·32+32 + 4·32 = 8,544; pooler 1,056; classifier 32·3+3 = 99.
    assert_eq!(v["parameters"]["embedding"], 23_424);
    assert_eq!(v["parameters"]["encoder"], 2 * 8_544);
    assert_eq!(v["parameters"]["head"], 1_056 + 99);
    assert_eq!(v["parameters"]["total"], 23_424 + 2 * 8_544 + 1_155);
    assert_eq!(v["tokenizer"], "wordpiece");
    assert_eq!(v["family"], "bert");
}

#[test]
fn shape_mismatch_is_a_loud_error_and_export_cli_works() {
    let dir = scratch_dir("shape-mismatch");
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("tiny-bert").join(f), dir.join(f)).expect("copy");
    }
    let config = std::fs::read_to_string(fixture("tiny-bert/config.json")).expect("config");
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"intermediate_size\": 64", "\"intermediate_size\": 65"),
    )
    .expect("write");
    let err = load_source(
        dir.to_str().expect("path"),
        &LoadOptions::default(),
        &Device::Cpu,
    )
    .err()
    .expect("shape mismatch")
    .to_string();
    assert!(
        err.ends_with("model.safetensors: bert.encoder.layer.0.intermediate.dense.weight: the checkpoint has shape [64, 32], the config needs [65, 32]"),
        "{err}"
    );

    let out = scratch_dir("export-cli").join("student");
    let status = Command::new(env!("CARGO_BIN_EXE_alambic"))
        .args([
            "model",
            "export",
            &format!(
                "derive:{}?layers=2&pooler=false",
                fixture("tiny-bert").display()
            ),
            out.to_str().expect("path"),
        ])
        .output()
        .expect("run");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let cfg = ModelConfig::from_file(&out.join("config.json")).expect("config");
    assert_eq!(
        (cfg.num_hidden_layers, cfg.architectures),
        (1, Some(vec!["BertModel".to_string()]))
    );
    assert!(out.join("tokenizer.json").is_file() && out.join("classifier.safetensors").is_file());
}

/// `scratch:PRESET?vocab=N` sizes a scratch model without a tokenizer (the CodeBERT shape for
/// GPU benchmarks: `bert-base` with CodeBERT's 50,265 pieces).
#[test]
fn scratch_vocab_option_sizes_the_embeddings() {
    use alambic::model::ModelSource;
    assert_eq!(
        ModelSource::parse("scratch:bert-base?vocab=50265").expect("parse"),
        ModelSource::Scratch {
            preset: "bert-base".into(),
            tokenizer: None,
            vocab: Some(50265),
            shape: Default::default(),
        }
    );
    let err = ModelSource::parse("scratch:bert-tiny?vocab=many")
        .expect_err("not a number")
        .to_string();
    assert!(
        err.contains("vocab=`many`: a whole number of at least 5"),
        "{err}"
    );
    let m = load("scratch:bert-tiny?vocab=1234");
    assert_eq!(m.config.vocab_size, 1234);
    assert_eq!(m.config.hidden_size, 128);
    let base = alambic::model::presets::preset("bert-base", 50265, 1).expect("preset");
    assert_eq!(
        (
            base.num_hidden_layers,
            base.hidden_size,
            base.num_attention_heads,
            base.intermediate_size
        ),
        (12, 768, 12, 3072)
    );
}

/// `scratch:PRESET?layers=…&hidden=…` changes the preset's sizes (the FFN keeps its ratio to the
/// width), writes itself back in the same form, and refuses a width the heads do not divide.
#[test]
fn scratch_shape_options_resize_the_preset() {
    use alambic::model::ModelSource;
    let m = load("scratch:bert-tiny?vocab=300&layers=1&hidden=64");
    let c = &m.config;
    assert_eq!(
        (
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (1, 64, 2, 256)
    );
    let m = load("scratch:bert-mini?vocab=300&hidden=128&heads=2&intermediate=300");
    assert_eq!(
        (m.config.num_hidden_layers, m.config.intermediate_size),
        (4, 300)
    );
    // Rewriting the tokenizer (what training does for a scratch model named without one)
    // keeps every other option.
    let source = ModelSource::parse("scratch:bert-tiny?layers=1&hidden=64")
        .expect("parse")
        .with_tokenizer("runs/x/tokenizer/tokenizer.json");
    assert_eq!(
        source.to_string(),
        "scratch:bert-tiny?tokenizer=runs/x/tokenizer/tokenizer.json&layers=1&hidden=64"
    );
    assert_eq!(
        ModelSource::parse(&source.to_string()).expect("reparse"),
        source
    );
    // Under `moe:` too: training gives the scratch base the tokenizer it trains.
    let moe = ModelSource::parse("moe:scratch:bert-tiny?layers=1?experts=4&top_k=1&init=split")
        .expect("parse");
    assert!(moe.lacks_tokenizer());
    let moe = moe.with_tokenizer("t.json");
    assert!(!moe.lacks_tokenizer());
    assert_eq!(
        moe.to_string(),
        "moe:scratch:bert-tiny?tokenizer=t.json&layers=1?experts=4&top_k=1&init=split"
    );
    // The workbench's statistics find the tokenizer of a mixture's base.
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo/tokenizer.json");
    let named = format!("moe:scratch:bert-tiny?tokenizer={demo}?experts=4");
    assert!(alambic::tokenize::TextTokenizer::named_by(&[named.as_str()]).is_some());
    let err = ModelSource::parse("scratch:bert-tiny?hidden=100&heads=3")
        .expect_err("3 does not divide 100")
        .to_string();
    assert!(
        err.contains("hidden=100 is not a multiple of heads=3"),
        "{err}"
    );
    let err = ModelSource::parse("scratch:bert-tiny?layers=0")
        .expect_err("no layers")
        .to_string();
    assert!(
        err.contains("layers=`0`: a whole number of at least 1"),
        "{err}"
    );
}

/// The `max` head reads the element-wise max of the unmasked tokens: padding never wins, even
/// where its activations are the largest.
#[test]
fn max_head_pools_only_unmasked_tokens() {
    use alambic::model::heads::max_pool;
    let hidden = Tensor::new(
        &[
            [[1.0f32, -5.0], [3.0, -2.0], [100.0, 100.0]],
            [[-1.0, -1.0], [-7.0, 4.0], [-3.0, 9.0]],
        ],
        &Device::Cpu,
    )
    .expect("hidden");
    let mask = Tensor::new(&[[1.0f32, 1.0, 0.0], [1.0, 1.0, 1.0]], &Device::Cpu).expect("mask");
    let pooled: Vec<Vec<f32>> = max_pool(&hidden, &mask)
        .expect("pool")
        .to_vec2()
        .expect("vec");
    assert_eq!(pooled, vec![vec![3.0, -2.0], vec![-1.0, 9.0]]);
    let (m, _) = load_source(
        "scratch:bert-tiny?vocab=300",
        &LoadOptions {
            seed: 3,
            head: Some(HeadKind::Plain(Pooling::Max)),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load");
    assert_eq!(m.head_kind, HeadKind::Plain(Pooling::Max));
    assert_eq!(
        alambic::train::config::HeadChoice::Max.kind(),
        Some(HeadKind::Plain(Pooling::Max))
    );
}
