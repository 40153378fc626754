//! `derive:SRC?layers=2,4,6&pooler=false`: a student that copies the teacher's embeddings and
//! the chosen encoder layers (numbered 1..L; 0 is the embeddings), the study's "partial
//! initialisation" and "fewer layers, no pooler".

use super::ModelError;
use super::config::Family;
use super::heads::{HeadKind, Pooling};
use super::load::{Classifier, LoadReport};
use candle_core::Tensor;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub struct DeriveSpec {
    pub layers: Vec<usize>,
    pub pooler: bool,
}

impl DeriveSpec {
    /// The query part: `layers=2,4,6&pooler=false`.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut layers = None;
        let mut pooler = true;
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected key=value"))?;
            match key {
                "layers" => {
                    let parsed: Result<Vec<usize>, _> = value
                        .split(',')
                        .map(|v| v.trim().parse::<usize>())
                        .collect();
                    layers =
                        Some(parsed.map_err(|_| {
                            format!("layers `{value}`: expected numbers like 2,4,6")
                        })?);
                }
                "pooler" => {
                    pooler = value
                        .parse()
                        .map_err(|_| format!("pooler `{value}`: expected true or false"))?;
                }
                other => return Err(format!("unknown option `{other}` (layers, pooler)")),
            }
        }
        let layers = layers.ok_or("missing layers=… (e.g. layers=2,4,6)")?;
        if layers.is_empty() || layers.contains(&0) {
            return Err("layers are numbered from 1 (0 is the embeddings)".into());
        }
        Ok(Self { layers, pooler })
    }

    /// The query `parse` reads back.
    pub fn query(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(usize::to_string).collect();
        match self.pooler {
            true => format!("layers={}", layers.join(",")),
            false => format!("layers={}&pooler=false", layers.join(",")),
        }
    }
}

pub fn derive(
    teacher: &Classifier,
    spec: &DeriveSpec,
    seed: u64,
) -> Result<(Classifier, LoadReport), ModelError> {
    let n = teacher.config.num_hidden_layers;
    if let Some(bad) = spec.layers.iter().find(|&&l| l > n) {
        return Err(ModelError::Config(format!(
            "derive: layer {bad} does not exist; the teacher has layers 1..{n}"
        )));
    }
    let family = teacher.family();
    let p = family.prefix();
    let teacher_vars: HashMap<String, Tensor> = teacher
        .named_vars()
        .into_iter()
        .map(|(k, v)| Ok((k, v.as_tensor().copy()?)))
        .collect::<Result<_, candle_core::Error>>()?;
    let mut tensors = HashMap::new();
    for (name, t) in &teacher_vars {
        if name.starts_with(&format!("{p}.embeddings.")) {
            tensors.insert(name.clone(), t.clone());
        }
    }
    for (student_idx, &teacher_layer) in spec.layers.iter().enumerate() {
        let from = format!("{p}.encoder.layer.{}.", teacher_layer - 1);
        let to = format!("{p}.encoder.layer.{student_idx}.");
        for (name, t) in &teacher_vars {
            if let Some(rest) = name.strip_prefix(&from) {
                tensors.insert(format!("{to}{rest}"), t.clone());
            }
        }
    }
    let head = match (spec.pooler, family, teacher.head_kind) {
        (false, _, _) => HeadKind::Plain(Pooling::Cls),
        (true, Family::Bert, HeadKind::BertPooler) | (true, Family::Roberta, HeadKind::Roberta) => {
            for (name, t) in &teacher_vars {
                if name.starts_with("classifier") || name.starts_with(&format!("{p}.pooler")) {
                    tensors.insert(name.clone(), t.clone());
                }
            }
            teacher.head_kind
        }
        (true, _, kind) => kind,
    };
    let mut config = teacher.config.clone();
    config.num_hidden_layers = spec.layers.len();
    let mut report = LoadReport::default();
    report.notes.push(format!(
        "derived from the teacher's embeddings and layers {:?}{}",
        spec.layers,
        if spec.pooler { "" } else { ", no pooler" }
    ));
    let mut student = Classifier::from_tensors(
        &config,
        tensors,
        head,
        teacher.labels.clone(),
        seed,
        teacher.device(),
        &mut report,
    )?;
    student.tokenizer = teacher.tokenizer.clone();
    Ok((student, report))
}
