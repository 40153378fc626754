//! Vocabulary pruning: a tokenizer that knows only the ids a corpus uses, renumbered in their
//! old order, so a model keeps only those embedding rows.
//!
//! The tokenizer's own vocabulary is rewritten (its serialized form: model vocabulary, BPE
//! merges, added tokens, post-processor ids) rather than ids mapped after encoding, so the
//! pruned tokenizer is an ordinary one that transformers reads too. For every tokenizer model
//! a text whose pieces are all kept tokenizes to the same pieces:
//! - WordPiece takes the longest known prefix; the original's choice is kept, and no longer
//!   prefix was known before, so none is now;
//! - BPE applies its merges by rank; every merge that built a kept piece is kept (the pieces it
//!   joins are kept with it), and merges it never applied do not change which one it applies;
//! - Unigram picks the best segmentation; the original's is still there, and only others went.
//!
//! Unseen text falls back to kept pieces: the ASCII characters (WordPiece, Unigram), the
//! single-symbol pieces a BPE starts from (for byte-level BPE, every byte), then `[UNK]`.

use super::TextTokenizer;
use super::TokenizeError;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use tokenizers::Tokenizer;

/// What a pruned vocabulary keeps.
pub struct KeptIds {
    /// Sorted.
    pub ids: Vec<u32>,
    /// How many of them the texts use often enough (the rest are special or fallback pieces).
    pub used: usize,
}

impl TextTokenizer {
    /// The ids a pruned vocabulary keeps, sorted: those `texts` use at least `min_count` times,
    /// the special tokens, the fallback pieces, and for BPE every piece a kept one is merged
    /// from.
    pub fn kept_ids(&self, texts: &[&str], min_count: usize) -> Result<KeptIds, TokenizeError> {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for enc in self.inner().encode_batch(texts.to_vec(), false)? {
            for &id in enc.get_ids() {
                *counts.entry(id).or_default() += 1;
            }
        }
        let json = self.json()?;
        let model = &json["model"];
        let vocab = model_vocab(model)?;
        let mut kept: BTreeSet<u32> = counts
            .into_iter()
            .filter(|&(_, n)| n >= min_count.max(1))
            .map(|(id, _)| id)
            .collect();
        let used = kept.len();
        kept.extend(self.prefix().iter().chain(self.suffix()));
        kept.extend(added_tokens(&json).filter(|t| t.special).map(|t| t.id));
        kept.extend(unk_id(model, &vocab));
        kept.extend(fallback_ids(model, &vocab));
        if model["type"] == "BPE" {
            close_under_merges(model, &vocab, &mut kept)?;
        }
        Ok(KeptIds {
            ids: kept.into_iter().collect(),
            used,
        })
    }

    /// This tokenizer with only the `kept` ids (sorted, as `kept_ids` gives them), renumbered
    /// 0, 1, … in their old order.
    pub fn pruned(&self, kept: &[u32]) -> Result<TextTokenizer, TokenizeError> {
        let renumber: HashMap<u32, u32> = kept
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new as u32))
            .collect();
        let mut json = self.json()?;
        let model = json
            .get_mut("model")
            .ok_or_else(|| TokenizeError::Tokenizer("the tokenizer has no model".into()))?;
        rewrite_model(model, &renumber)?;
        rewrite_added(&mut json, &renumber)?;
        if let Some(p) = json.get_mut("post_processor") {
            rewrite_processor(p, &renumber)?;
        }
        let text = json.to_string();
        let inner: Tokenizer = text.parse().map_err(|e: tokenizers::Error| {
            TokenizeError::Tokenizer(format!("the pruned tokenizer does not load: {e}"))
        })?;
        let mut pruned = TextTokenizer::wrap(inner, Path::new(&self.source))?;
        pruned.source = format!("{} (pruned to {} tokens)", self.source, kept.len());
        Ok(pruned)
    }

    fn json(&self) -> Result<Value, TokenizeError> {
        serde_json::to_value(self.inner())
            .map_err(|e| TokenizeError::Tokenizer(format!("cannot serialise the tokenizer: {e}")))
    }
}

fn broken(what: &str) -> TokenizeError {
    TokenizeError::Tokenizer(format!("unexpected tokenizer layout: {what}"))
}

/// Token → id of the tokenizer model's own vocabulary (Unigram: the piece's position).
fn model_vocab(model: &Value) -> Result<HashMap<String, u32>, TokenizeError> {
    match &model["vocab"] {
        Value::Object(map) => map
            .iter()
            .map(|(t, id)| {
                let id = id.as_u64().ok_or_else(|| broken("a vocabulary id"))?;
                Ok((t.clone(), id as u32))
            })
            .collect(),
        Value::Array(pieces) => pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let t = p[0].as_str().ok_or_else(|| broken("a Unigram piece"))?;
                Ok((t.to_string(), i as u32))
            })
            .collect(),
        _ => Err(broken("the model has no vocabulary")),
    }
}

struct AddedToken {
    id: u32,
    special: bool,
}

fn added_tokens(json: &Value) -> impl Iterator<Item = AddedToken> + '_ {
    json["added_tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(AddedToken {
                id: t["id"].as_u64()? as u32,
                special: t["special"].as_bool().unwrap_or(false),
            })
        })
}

fn unk_id(model: &Value, vocab: &HashMap<String, u32>) -> Option<u32> {
    match model["unk_id"].as_u64() {
        Some(id) => Some(id as u32),
        None => vocab.get(model["unk_token"].as_str()?).copied(),
    }
}

/// The pieces unseen text falls back to: a BPE's single symbols (for byte-level BPE, the 256
/// bytes), and otherwise the printable ASCII characters, alone and as word continuations.
fn fallback_ids<'a>(
    model: &'a Value,
    vocab: &'a HashMap<String, u32>,
) -> impl Iterator<Item = u32> + 'a {
    let continuing = model["continuing_subword_prefix"].as_str().unwrap_or("");
    let bpe = model["type"] == "BPE";
    vocab.iter().filter_map(move |(token, &id)| {
        let bare = token
            .strip_prefix(continuing)
            .filter(|_| !continuing.is_empty());
        let mut chars = bare.unwrap_or(token).chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if bpe || c.is_ascii_graphic() => Some(id),
            _ => None,
        }
    })
}

/// Adds to `kept` the two pieces of every merge that builds a kept piece, down to the BPE's
/// alphabet.
fn close_under_merges(
    model: &Value,
    vocab: &HashMap<String, u32>,
    kept: &mut BTreeSet<u32>,
) -> Result<(), TokenizeError> {
    let mut parts: HashMap<u32, (u32, u32)> = HashMap::new();
    for (a, b) in merges(model)? {
        let joined = merged(model, &a, &b);
        if let (Some(&ia), Some(&ib), Some(&ij)) =
            (vocab.get(&a), vocab.get(&b), vocab.get(&joined))
        {
            // The first (lowest-rank) merge that builds a piece is the one BPE applies.
            parts.entry(ij).or_insert((ia, ib));
        }
    }
    let mut todo: Vec<u32> = kept.iter().copied().collect();
    while let Some(id) = todo.pop() {
        if let Some(&(a, b)) = parts.get(&id) {
            for p in [a, b] {
                if kept.insert(p) {
                    todo.push(p);
                }
            }
        }
    }
    Ok(())
}

/// A BPE's merges in rank order, whether serialized as pairs or as "a b" strings.
fn merges(model: &Value) -> Result<Vec<(String, String)>, TokenizeError> {
    let list = model["merges"]
        .as_array()
        .ok_or_else(|| broken("a BPE without merges"))?;
    list.iter()
        .map(|m| match m {
            Value::Array(pair) => match (pair.first(), pair.get(1)) {
                (Some(Value::String(a)), Some(Value::String(b))) => Ok((a.clone(), b.clone())),
                _ => Err(broken("a merge pair")),
            },
            Value::String(s) => s
                .split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| broken("a merge string")),
            _ => Err(broken("a merge")),
        })
        .collect()
}

/// The piece a merge of `a` and `b` makes (a continuation prefix on `b` is dropped).
fn merged(model: &Value, a: &str, b: &str) -> String {
    let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("");
    let b = if prefix.is_empty() {
        b
    } else {
        b.strip_prefix(prefix).unwrap_or(b)
    };
    format!("{a}{b}")
}

fn rewrite_model(model: &mut Value, renumber: &HashMap<u32, u32>) -> Result<(), TokenizeError> {
    let vocab = model_vocab(model)?;
    let kept: HashMap<&String, u32> = vocab
        .iter()
        .filter_map(|(t, old)| renumber.get(old).map(|&new| (t, new)))
        .collect();
    match model["vocab"].take() {
        Value::Array(pieces) => {
            let pieces: Vec<Value> = pieces
                .into_iter()
                .enumerate()
                .filter(|(i, _)| renumber.contains_key(&(*i as u32)))
                .map(|(_, p)| p)
                .collect();
            model["vocab"] = Value::Array(pieces);
            if let Some(unk) = model["unk_id"].as_u64() {
                let new = renumber
                    .get(&(unk as u32))
                    .ok_or_else(|| broken("the unknown piece was not kept"))?;
                model["unk_id"] = Value::from(*new);
            }
        }
        _ => {
            let map: serde_json::Map<String, Value> = kept
                .iter()
                .map(|(t, &id)| ((*t).clone(), Value::from(id)))
                .collect();
            model["vocab"] = Value::Object(map);
        }
    }
    if model["type"] == "BPE" {
        let pairs: Vec<Value> = merges(model)?
            .into_iter()
            .filter(|(a, b)| {
                kept.contains_key(a)
                    && kept.contains_key(b)
                    && kept.contains_key(&merged(model, a, b))
            })
            .map(|(a, b)| Value::from(vec![a, b]))
            .collect();
        model["merges"] = Value::Array(pairs);
    }
    Ok(())
}

fn rewrite_added(json: &mut Value, renumber: &HashMap<u32, u32>) -> Result<(), TokenizeError> {
    let Some(list) = json.get_mut("added_tokens").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    list.retain(|t| {
        t["id"]
            .as_u64()
            .is_some_and(|id| renumber.contains_key(&(id as u32)))
    });
    for t in list {
        let old = t["id"]
            .as_u64()
            .ok_or_else(|| broken("an added token id"))? as u32;
        t["id"] = Value::from(renumber[&old]);
    }
    Ok(())
}

/// The ids a post-processor writes around every sequence (`[CLS]`, `</s>`, …).
fn rewrite_processor(p: &mut Value, renumber: &HashMap<u32, u32>) -> Result<(), TokenizeError> {
    let new_id = |v: &Value| -> Result<Value, TokenizeError> {
        let old = v.as_u64().ok_or_else(|| broken("a special token id"))? as u32;
        renumber
            .get(&old)
            .map(|&n| Value::from(n))
            .ok_or_else(|| broken("a special token was not kept"))
    };
    match p["type"].as_str() {
        Some("BertProcessing" | "RobertaProcessing") => {
            for key in ["sep", "cls"] {
                let id = new_id(&p[key][1])?;
                p[key][1] = id;
            }
        }
        Some("TemplateProcessing") => {
            if let Some(specials) = p["special_tokens"].as_object_mut() {
                for special in specials.values_mut() {
                    if let Some(ids) = special["ids"].as_array_mut() {
                        for id in ids {
                            *id = new_id(id)?;
                        }
                    }
                }
            }
        }
        Some("Sequence") => {
            if let Some(list) = p["processors"].as_array_mut() {
                for q in list {
                    rewrite_processor(q, renumber)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
