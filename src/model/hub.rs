//! `hf:owner/name[@revision]` through the `hf-hub` crate and the standard Hugging Face cache
//! (`HF_HOME`, `HF_HUB_CACHE`); with `HF_HUB_OFFLINE=1` only the cache is read.

use super::ModelError;
use hf_hub::{Cache, Repo, RepoType};
use std::path::PathBuf;

/// Files a model folder may need, in order of preference per role.
const WEIGHTS: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];
const TOKENIZER: [&[&str]; 3] = [
    &["tokenizer.json"],
    &["vocab.json", "merges.txt"],
    &["vocab.txt"],
];
const OPTIONAL: [&str; 1] = ["tokenizer_config.json"];

pub fn cache() -> Cache {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(path) => Cache::new(PathBuf::from(path)),
        None => Cache::from_env(),
    }
}

pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// `owner/name[@revision]` → (repo id, revision).
pub fn parse(spec: &str) -> (String, String) {
    match spec.split_once('@') {
        Some((id, rev)) => (id.to_string(), rev.to_string()),
        None => (spec.to_string(), "main".to_string()),
    }
}

/// The local snapshot folder of a Hub model, downloading what is missing unless offline.
pub fn resolve(spec: &str) -> Result<PathBuf, ModelError> {
    let (id, revision) = parse(spec);
    let cache = cache();
    let repo = Repo::with_revision(id.clone(), RepoType::Model, revision.clone());
    if let Some(config) = cache.repo(repo.clone()).get("config.json") {
        return folder_of(config, spec);
    }
    // A commit hash has a snapshot folder but no ref file.
    let snapshot = cache
        .path()
        .join(repo.folder_name())
        .join("snapshots")
        .join(&revision);
    if snapshot.join("config.json").is_file() {
        return Ok(snapshot);
    }
    if offline() {
        return Err(ModelError::Source {
            source_name: format!("hf:{spec}"),
            msg: format!(
                "{id}@{revision} is not in the Hugging Face cache at {} and HF_HUB_OFFLINE is set; \
                 download it where the Hub is reachable (`huggingface-cli download {id}`) and copy \
                 the cache, or name a local folder",
                cache.path().display()
            ),
        });
    }
    download(&id, &revision, spec)
}

fn download(id: &str, revision: &str, spec: &str) -> Result<PathBuf, ModelError> {
    let err = |msg: String| ModelError::Source {
        source_name: format!("hf:{spec}"),
        msg,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_cache_dir(cache().path().clone())
        .build()
        .map_err(|e| err(format!("cannot reach the Hub: {e}")))?;
    let repo = api.repo(Repo::with_revision(
        id.into(),
        RepoType::Model,
        revision.into(),
    ));
    let config = repo
        .get("config.json")
        .map_err(|e| err(format!("cannot download config.json: {e}")))?;
    WEIGHTS
        .iter()
        .find_map(|f| repo.get(f).ok())
        .ok_or_else(|| {
            err("the repository has neither model.safetensors nor pytorch_model.bin".into())
        })?;
    for files in TOKENIZER {
        if files.iter().all(|f| repo.get(f).is_ok()) {
            break;
        }
    }
    for f in OPTIONAL {
        let _ = repo.get(f);
    }
    folder_of(config, spec)
}

fn folder_of(config: PathBuf, spec: &str) -> Result<PathBuf, ModelError> {
    config
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| ModelError::Source {
            source_name: format!("hf:{spec}"),
            msg: "cache entry has no folder".into(),
        })
}
