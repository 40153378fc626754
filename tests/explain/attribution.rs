//! Integrated gradients on real (tiny) models: completeness, and a model whose verdict
//! depends on one token puts that token's line first.

use crate::common::fixture;
use alambic::data::Task;
use alambic::data::clean::clean;
use alambic::explain::{ExplainOptions, Method, explain};
use alambic::infer::Scorer;
use alambic::model::encoder::Batch;
use alambic::model::heads::{HeadKind, Pooling};
use alambic::model::load::{LoadOptions, LoadReport};
use alambic::model::{Classifier, Mode, ModelConfig};
use alambic::tokenize::TextTokenizer;
use alambic::train::ExperimentConfig;
use candle_core::{Device, Tensor};
use std::collections::HashMap;

const CONTRACT: &str = "pragma solidity ^0.8.0;\n\n// a comment line\ncontract Vault {\n    address owner;\n\n\n    function pay(address to) public {\n        require(msg.sender == owner);\n        to.send(1);\n    }\n}\n";

/// The scorer of a model with the defaults' cleaning and windows of `max_len`.
fn scorer(model: Classifier, max_len: usize, task: Task) -> Scorer {
    let mut cfg = ExperimentConfig::load(None, &[]).expect("defaults");
    cfg.dataset.max_len = max_len;
    cfg.dataset.stride = 4;
    cfg.dataset.task = task;
    let pooling = cfg.train.pooling;
    Scorer {
        model,
        cfg,
        threshold: None,
        pooling,
        device: Device::Cpu,
    }
}

fn tiny_bert() -> Classifier {
    let dir = fixture("tiny-bert");
    let (mut model, _) =
        Classifier::from_folder(&dir, &LoadOptions::default(), &Device::Cpu).expect("tiny-bert");
    model.tokenizer = Some(TextTokenizer::load(&dir).expect("tokenizer"));
    model
}

fn ig(steps: usize) -> ExplainOptions {
    ExplainOptions {
        method: Method::Ig,
        steps,
        class: None,
    }
}

/// tiny-bert with its classifier's weights scaled up: at initialisation (std 0.02) its
/// classes are a hair apart, and completeness is tested on a real gap.
fn decisive_tiny_bert() -> Classifier {
    let base = tiny_bert();
    let mut tensors: HashMap<String, Tensor> = base
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let w = (&tensors["classifier.weight"] * 300.0).expect("scaled");
    tensors.insert("classifier.weight".into(), w);
    let mut model = Classifier::from_tensors(
        &base.config,
        tensors,
        base.head_kind,
        base.labels.clone(),
        0,
        &Device::Cpu,
        &mut LoadReport::default(),
    )
    .expect("model");
    model.tokenizer = base.tokenizer.clone();
    model
}

#[test]
fn integrated_gradients_are_complete_on_one_window() {
    let s = scorer(decisive_tiny_bert(), 128, Task::Multiclass);
    let e = explain(&s, CONTRACT, &ig(32)).expect("explain");
    assert_eq!(e.verdict.windows, 1);
    let sum: f32 = e.lines.iter().map(|l| l.score).sum();
    assert!((sum - e.total).abs() < 1e-5, "{sum} vs {}", e.total);
    // f(input) − f(baseline) from two plain forward passes: the text's ids, and the same
    // with every content token replaced by padding.
    let text = clean(CONTRACT, &s.cfg.dataset.clean);
    let ids = s
        .tokenizer()
        .expect("tokenizer")
        .encode(&text)
        .expect("ids");
    let mut baseline = ids.clone();
    let n = baseline.len();
    baseline[1..n - 1].iter_mut().for_each(|id| *id = 0);
    let class = s
        .model
        .labels
        .iter()
        .position(|l| *l == e.class)
        .expect("class");
    let gap = margin(&s.model, ids, class) - margin(&s.model, baseline, class);
    assert!(
        gap.abs() > 1e-3,
        "the input must differ from the baseline: {gap}"
    );
    let off = (e.total - gap).abs();
    assert!(
        off <= 0.05 * gap.abs(),
        "sum {} vs f(x) - f(b) {gap}",
        e.total
    );
    let delta = e.delta.expect("a gradient method reports its gap");
    assert!(
        (delta - off).abs() < 1e-4,
        "reported gap {delta}, measured {off}"
    );
}

/// The explained target of a one-of-N model: the class logit minus the others' mean.
fn margin(model: &Classifier, ids: Vec<u32>, class: usize) -> f32 {
    let mask = vec![vec![1u32; ids.len()]];
    let out = model
        .forward(
            &Batch {
                input_ids: &[ids],
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            false,
        )
        .expect("forward");
    let logits = out
        .logits
        .get(0)
        .and_then(|t| t.to_vec1::<f32>())
        .expect("logits");
    let others: f32 = logits
        .iter()
        .enumerate()
        .filter(|(c, _)| *c != class)
        .map(|(_, l)| l)
        .sum();
    logits[class] - others / (logits.len() - 1) as f32
}

#[test]
fn lines_are_numbered_as_in_the_file() {
    let s = scorer(tiny_bert(), 16, Task::Multiclass);
    for method in Method::ALL {
        let opts = ExplainOptions {
            method,
            steps: 4,
            class: Some("LABEL_2".into()),
        };
        let e = explain(&s, CONTRACT, &opts).expect("explain");
        assert!(e.verdict.windows > 1, "short windows overlap");
        assert_eq!(e.class, "LABEL_2");
        let raw: Vec<&str> = CONTRACT.lines().collect();
        assert_eq!(e.lines.len(), raw.len());
        for (i, l) in e.lines.iter().enumerate() {
            assert_eq!(l.line, i + 1);
            assert_eq!(l.text, raw[i]);
            // Blank and comment lines carry no token; every code line does.
            let code = !raw[i].trim().is_empty() && !raw[i].trim_start().starts_with("//");
            assert_eq!(l.tokens > 0, code, "{method}: line {} `{}`", l.line, l.text);
        }
        let sum: f32 = e.lines.iter().map(|l| l.score).sum();
        assert!(
            (sum - e.total).abs() < 1e-4,
            "{method}: {sum} vs {}",
            e.total
        );
        let top = e.top(3);
        assert_eq!(top.len(), 3);
        assert!(top[0].score >= top[1].score && top[1].score >= top[2].score);
    }
}

#[test]
fn an_unknown_class_is_refused_by_name() {
    let s = scorer(tiny_bert(), 128, Task::Multiclass);
    let opts = ExplainOptions {
        class: Some("reentrancy".into()),
        ..ExplainOptions::default()
    };
    let err = explain(&s, CONTRACT, &opts)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("reentrancy") && err.contains("LABEL_0"),
        "{err}"
    );
}

/// tiny-bert rewired so that its verdict reads one token: every layer's output projections
/// are zero (each layer passes its input through), all embeddings but `planted`'s have mean
/// 0 and a 0 in dimensions 0 and 1 (so their normalised sum has 0 there),
/// and the mean-pooled classifier reads dimension 0 (LayerNorms without scale or shift).
fn planted(token: u32) -> Classifier {
    let dir = fixture("tiny-bert");
    let base = tiny_bert();
    let config: ModelConfig = base.config.clone();
    let h = config.hidden_size;
    let mut tensors: HashMap<String, Tensor> = base
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let words = tensors["bert.embeddings.word_embeddings.weight"]
        .to_vec2::<f32>()
        .expect("words");
    let rows: Vec<f32> = words
        .iter()
        .enumerate()
        .flat_map(|(id, row)| {
            let mut r = row.clone();
            if id as u32 == token {
                // The norm of the others (std 0.02): LayerNorm is blind to scale, so a
                // planted row far longer than the padding's would jump to its normalised
                // value within the first 1 % of the path, between two midpoints.
                r = vec![0.0; h];
                r[0] = 0.08;
                r[1] = -0.08;
            } else {
                r = off_planted_dims(r, h);
            }
            r
        })
        .collect();
    let dev = Device::Cpu;
    let set = |t: &mut HashMap<String, Tensor>, name: &str, value: Tensor| {
        assert!(t.contains_key(name), "{name}");
        t.insert(name.to_string(), value);
    };
    set(
        &mut tensors,
        "bert.embeddings.word_embeddings.weight",
        Tensor::from_vec(rows, (words.len(), h), &dev).expect("rows"),
    );
    // Positions and token types keep their values off dimensions 0 and 1 (so the baseline is
    // not the zero vector, where LayerNorm is undefined: the padding row is zero).
    for name in [
        "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight",
    ] {
        let rows = tensors[name].to_vec2::<f32>().expect("rows");
        let n = rows.len();
        let flat: Vec<f32> = rows
            .into_iter()
            .flat_map(|r| off_planted_dims(r, h))
            .collect();
        set(
            &mut tensors,
            name,
            Tensor::from_vec(flat, (n, h), &dev).expect("t"),
        );
    }
    for l in 0..config.num_hidden_layers {
        for part in ["attention.output.dense", "output.dense"] {
            for p in ["weight", "bias"] {
                let name = format!("bert.encoder.layer.{l}.{part}.{p}");
                let zeros = tensors[&name].zeros_like().expect("zeros");
                set(&mut tensors, &name, zeros);
            }
        }
    }
    let norms: Vec<String> = tensors
        .keys()
        .filter(|k| k.contains("LayerNorm"))
        .cloned()
        .collect();
    for name in norms {
        let t = &tensors[&name];
        let value = if name.ends_with("weight") {
            t.ones_like()
        } else {
            t.zeros_like()
        };
        set(&mut tensors, &name, value.expect("norm"));
    }
    let mut w = vec![0f32; 2 * h];
    w[h] = 5.0; // class 1 reads dimension 0
    tensors.insert(
        "classifier.weight".into(),
        Tensor::from_vec(w, (2, h), &dev).expect("w"),
    );
    tensors.insert(
        "classifier.bias".into(),
        Tensor::zeros(2, candle_core::DType::F32, &dev).expect("b"),
    );
    let mut model = Classifier::from_tensors(
        &config,
        tensors,
        HeadKind::Plain(Pooling::Mean),
        vec!["safe".into(), "vulnerable".into()],
        0,
        &dev,
        &mut LoadReport::default(),
    )
    .expect("planted model");
    model.tokenizer = Some(TextTokenizer::load(&dir).expect("tokenizer"));
    model
}

/// A row with 0 in dimensions 0 and 1 and mean 0 over the rest.
fn off_planted_dims(mut r: Vec<f32>, h: usize) -> Vec<f32> {
    r[0] = 0.0;
    r[1] = 0.0;
    let mean = r.iter().sum::<f32>() / (h - 2) as f32;
    r.iter_mut().skip(2).for_each(|x| *x -= mean);
    r
}

#[test]
fn a_planted_token_puts_its_line_first() {
    let tok = TextTokenizer::load(fixture("tiny-bert")).expect("tokenizer");
    let send = tok
        .token_to_id("send")
        .expect("`send` is in the vocabulary");
    let s = scorer(planted(send), 128, Task::Binary);
    for method in [Method::Ig, Method::Grad] {
        let opts = ExplainOptions {
            method,
            steps: 32,
            class: None,
        };
        let e = explain(&s, CONTRACT, &opts).expect("explain");
        assert_eq!(e.verdict.verdict, "vulnerable", "{method}");
        let top = e.top(2);
        assert_eq!(top[0].line, 10, "{method}: {:?}", top[0]);
        assert!(top[0].text.contains("send"));
        // Every other line's tokens cancel against the baseline: the planted line is all.
        assert!(
            top[1].score.abs() < 1e-3 * top[0].score,
            "{method}: {:?}",
            top[1]
        );
        assert!((e.total - top[0].score).abs() < 1e-3 * top[0].score);
    }
    // Without the token the margin is 0, so it is the whole of the verdict's evidence.
    let plain = CONTRACT.replace("send", "pay");
    let e = explain(&s, &plain, &ig(8)).expect("explain");
    assert!(e.total.abs() < 1e-4, "{}", e.total);
}
