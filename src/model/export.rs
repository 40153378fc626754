//! Export to a Hugging Face folder that transformers loads with no missing or unexpected keys:
//! `BertForSequenceClassification` / `RobertaForSequenceClassification` for the heads
//! transformers has; a pooler-free head has no transformers class, so its encoder goes out as
//! `BertModel`/`RobertaModel` (keys without the family prefix) and the head as
//! `classifier.safetensors`, with the Python that applies it in README.md.

use super::ModelError;
use super::config::Family;
use super::heads::{HeadKind, Pooling};
use super::load::Classifier;
use crate::store::write_atomic;
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

pub fn export(model: &Classifier, out: &Path) -> Result<Vec<String>, ModelError> {
    std::fs::create_dir_all(out).map_err(|e| ModelError::io(out, e))?;
    if let Some(moe) = &model.config.alambic_moe {
        let readme = format!(
            "# Exported by Alambic: a Mixture-of-Experts encoder\n\nThe feed-forward blocks of \
             layers {:?} are {} experts behind a top-{} token router (`alambic_moe` in \
             `config.json`; `src/model/moe.rs` says how the gates and the shared neurons \
             combine). transformers has no BERT with experts, {ALAMBIC_ONLY}",
            moe.layers, moe.experts, moe.top_k,
        );
        return export_alambic(model, out, "AlambicMoeForSequenceClassification", &readme);
    }
    if let Some(b) = &model.config.alambic_bottleneck {
        let readme = format!(
            "# Exported by Alambic: a bottleneck encoder\n\nLayers {:?} read and write the \
             width {} but run attention and the feed-forward block at width {} \
             (`alambic_bottleneck` in `config.json`; `src/model/bottleneck.rs` names the \
             weights). transformers has no BERT whose attention is narrower than its hidden \
             states, {ALAMBIC_ONLY}",
            b.layers, model.config.hidden_size, b.inner,
        );
        return export_alambic(
            model,
            out,
            "AlambicBottleneckForSequenceClassification",
            &readme,
        );
    }
    if let Some(f) = &model.config.alambic_embedding {
        let readme = format!(
            "# Exported by Alambic: factorised word embeddings\n\nThe vocabulary is embedded \
             at width {} and projected to the hidden width {} (`alambic_embedding` in \
             `config.json`, weights `embeddings.word_projection.weight`; \
             `src/model/embedding_factor.rs`). transformers' BERT has no such projection (ALBERT's \
             also narrows positions and shares layers), {ALAMBIC_ONLY}",
            f.size, model.config.hidden_size,
        );
        return export_alambic(
            model,
            out,
            "AlambicFactorisedForSequenceClassification",
            &readme,
        );
    }
    let family = model.family();
    let prefix = format!("{}.", family.prefix());
    let vars = model.named_vars();
    let mut main: HashMap<String, Tensor> = HashMap::new();
    let mut head: HashMap<String, Tensor> = HashMap::new();
    let plain = matches!(model.head_kind, HeadKind::Plain(_));
    for (name, var) in vars {
        let t = var.as_tensor().clone();
        if plain {
            match name.strip_prefix(&prefix) {
                Some(rest) => main.insert(rest.to_string(), t),
                None => head.insert(name, t),
            };
        } else {
            main.insert(name, t);
        }
    }
    let keys = save_weights(&main, out)?;
    let architecture = match (family, model.head_kind) {
        (Family::Bert, HeadKind::BertPooler) => "BertForSequenceClassification",
        (Family::Roberta, HeadKind::Roberta) => "RobertaForSequenceClassification",
        (Family::Bert, _) => "BertModel",
        (Family::Roberta, _) => "RobertaModel",
    };
    write_config(model, model.config.clone(), architecture, out)?;
    if plain {
        save_safetensors(&head, &out.join("classifier.safetensors"))?;
        let readme = out.join("README.md");
        let pooling = match model.head_kind {
            HeadKind::Plain(Pooling::Mean) => "mean",
            HeadKind::Plain(Pooling::Max) => "max",
            _ => "cls",
        };
        write_atomic(&readme, plain_head_readme(architecture, pooling).as_bytes())
            .map_err(|e| ModelError::io(&readme, e))?;
    }
    Ok(keys)
}

/// What an Alambic-only export's README says after naming the kind.
const ALAMBIC_ONLY: &str = "so this folder does not load with `AutoModel`; Alambic reads it \
    wherever a model source goes (`teacher.model`, `student.model`, `alambic model info DIR`). \
    `alambic predict` and `eval` read the run folder it came from.\n";

/// A model transformers has no class for: its folder is Alambic's own (the config with the
/// head named, every weight in `model.safetensors`, the tokenizer) and its README says so.
fn export_alambic(
    model: &Classifier,
    out: &Path,
    architecture: &str,
    readme: &str,
) -> Result<Vec<String>, ModelError> {
    let main: HashMap<String, Tensor> = model
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let keys = save_weights(&main, out)?;
    let mut config = model.config.clone();
    config.extra.insert(
        ALAMBIC_HEAD.into(),
        serde_json::to_value(model.head_kind)
            .map_err(|e| ModelError::Config(format!("cannot write the head: {e}")))?,
    );
    write_config(model, config, architecture, out)?;
    let path = out.join("README.md");
    write_atomic(&path, readme.as_bytes()).map_err(|e| ModelError::io(&path, e))?;
    Ok(keys)
}

/// `model.safetensors`; its keys, sorted.
pub(crate) fn save_weights(
    main: &HashMap<String, Tensor>,
    out: &Path,
) -> Result<Vec<String>, ModelError> {
    let mut keys: Vec<String> = main.keys().cloned().collect();
    keys.sort();
    save_safetensors(main, &out.join("model.safetensors"))?;
    Ok(keys)
}

/// `config.json` (the given config, naming the architecture and the model's labels) and the
/// tokenizer.
pub(crate) fn write_config(
    model: &Classifier,
    mut config: super::ModelConfig,
    architecture: &str,
    out: &Path,
) -> Result<(), ModelError> {
    config.architectures = Some(vec![architecture.to_string()]);
    // An int8 model exports its dequantised f32 weights (what the int8 stands for).
    config.alambic_int8 = None;
    // The source's own name or path is not the export's (transformers fills it on load).
    config.extra.remove("_name_or_path");
    config.set_labels(&model.labels);
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| ModelError::Config(format!("cannot write config.json: {e}")))?;
    let config_path = out.join("config.json");
    write_atomic(&config_path, text.as_bytes()).map_err(|e| ModelError::io(&config_path, e))?;
    if let Some(tok) = &model.tokenizer {
        tok.save(out)?;
    }
    Ok(())
}

/// The head of an Alambic-only export, in its `config.json` (transformers ignores the key).
pub const ALAMBIC_HEAD: &str = "alambic_head";

fn save_safetensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), ModelError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ModelError::io(dir, e))?;
    candle_core::safetensors::save(tensors, tmp.path())?;
    tmp.persist(path)
        .map_err(|e| ModelError::io(path, e.error))?;
    Ok(())
}

fn plain_head_readme(architecture: &str, pooling: &str) -> String {
    format!(
        "# Exported by Alambic\n\nThe encoder is a plain `{architecture}` without a pooler; the \
         classification head (no pooler, {pooling} pooling) is in `classifier.safetensors`, \
         since transformers has no class for it. Apply it like this:\n\n```python\nimport torch\n\
         from safetensors.torch import load_file\nfrom transformers import AutoModel, AutoTokenizer\n\n\
         tok = AutoTokenizer.from_pretrained(\"MODEL_DIR\")\nenc = AutoModel.from_pretrained(\"MODEL_DIR\", add_pooling_layer=False).eval()\n\
         head = load_file(\"MODEL_DIR/classifier.safetensors\")\n\nbatch = tok([\"contract A {{}}\"], return_tensors=\"pt\")\n\
         hidden = enc(**batch).last_hidden_state\n{}\nlogits = pooled @ head[\"classifier.weight\"].T + head[\"classifier.bias\"]\n```\n",
        match pooling {
            "mean" =>
                "mask = batch[\"attention_mask\"].unsqueeze(-1).float()\npooled = (hidden * mask).sum(1) / mask.sum(1)",
            "max" =>
                "mask = batch[\"attention_mask\"].unsqueeze(-1).float()\npooled = (hidden + (mask - 1) * 1e4).amax(1)",
            _ => "pooled = hidden[:, 0]",
        }
    )
}
