//! The BERT / RoBERTa encoder, after transformers' `modeling_bert.py` and `modeling_roberta.py`
//! (https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/bert/modeling_bert.py),
//! returning every hidden state and attention map.

use super::Mode;
use super::bottleneck::FactoredFfn;
use super::config::{Activation, Family, ModelConfig};
use super::dense_block::dense_block;
use super::int8::{PackedInt8, int8_dense};
use super::moe::{MoeFfn, MoeStats, routed_tokens};
use super::ops::{Dense, LayerNorm, activation, dropout, softmax_mode};
use super::{attention_block, fused};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};
use std::sync::Arc;

/// What the attention mask adds to the scores of padded keys (the value TinyBERT's attention
/// loss expects; exp(-10000) is exactly 0 in f32, so probabilities equal transformers').
pub const MASKED_SCORE: f64 = -10000.0;

#[derive(Clone, Debug)]
pub struct EncoderOutput {
    /// `num_layers + 1` tensors `[batch, seq, hidden]`; index 0 is the embedding output.
    pub hidden_states: Vec<Tensor>,
    /// Per layer `[batch, heads, seq, seq]` softmax probabilities — in training, and in
    /// inference when the scores are asked for; inference without them computes attention
    /// block by block and keeps no map (empty).
    pub attentions: Vec<Tensor>,
    /// Per layer pre-softmax scores with the mask added, when asked for.
    pub scores: Vec<Tensor>,
    /// `[batch, seq]` attention mask as 0/1 floats (for pooling heads).
    pub mask: Tensor,
    /// One entry per Mixture-of-Experts layer, in layer order.
    pub moe: Vec<MoeStats>,
}

impl EncoderOutput {
    pub fn last(&self) -> Result<&Tensor> {
        self.hidden_states
            .last()
            .ok_or_else(|| candle_core::Error::Msg("encoder produced no hidden state".into()))
    }
}

/// Inputs as host values; the encoder builds the tensors.
pub struct Batch<'a> {
    pub input_ids: &'a [Vec<u32>],
    /// 1 for tokens, 0 for padding; rows of one length.
    pub attention_mask: &'a [Vec<u32>],
}

#[derive(Clone, Debug)]
struct Embeddings {
    word: Embedding,
    /// Factorised word embeddings (`alambic_embedding`): `word` is `vocab × E`, this maps
    /// E to the hidden width.
    projection: Option<candle_nn::Linear>,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

#[derive(Clone, Debug)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    ffn: Ffn,
    out_norm: LayerNorm,
}

/// A layer's feed-forward block: BERT's dense one, a mixture of experts that keeps the
/// dense block's output bias, or a bottleneck's factored one.
#[derive(Clone, Debug)]
enum Ffn {
    Dense {
        intermediate: Dense,
        output: Dense,
    },
    Mixture {
        experts: MoeFfn,
        bias: Tensor,
    },
    /// A bottleneck layer's: reduced to the inner width before and after the intermediate.
    Factored(FactoredFfn),
}

#[derive(Clone, Debug)]
pub struct Encoder {
    pub config: ModelConfig,
    pub family: Family,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    device: Device,
}

fn linear(vb: VarBuilder, inp: usize, out: usize) -> Result<Dense> {
    Dense::new(vb, inp, out)
}

impl Encoder {
    /// `vb` points at the family prefix (`bert.` / `roberta.`).
    pub fn new(vb: VarBuilder, config: &ModelConfig) -> Result<Self> {
        let family = config.family_or_bert();
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let e = vb.pp("embeddings");
        let width = config.alambic_embedding.map_or(h, |f| f.size);
        let projection = match config.alambic_embedding {
            Some(f) => Some(candle_nn::Linear::new(
                e.pp(super::embedding_factor::PROJECTION)
                    .get((h, f.size), "weight")?,
                None,
            )),
            None => None,
        };
        let embeddings = Embeddings {
            word: Embedding::new(
                e.get((config.vocab_size, width), "word_embeddings.weight")?,
                width,
            ),
            projection,
            position: Embedding::new(
                e.get(
                    (config.max_position_embeddings, h),
                    "position_embeddings.weight",
                )?,
                h,
            ),
            token_type: Embedding::new(
                e.get((config.type_vocab_size, h), "token_type_embeddings.weight")?,
                h,
            ),
            norm: LayerNorm::new(e.pp("LayerNorm"), h, eps)?,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention");
                // A bottleneck layer's attention runs at its inner width.
                let w = config.inner_width(i);
                let bottleneck = config.alambic_bottleneck.as_ref().filter(|b| b.covers(i));
                Ok(Layer {
                    query: linear(a.pp("self.query"), h, w)?,
                    key: linear(a.pp("self.key"), h, w)?,
                    value: linear(a.pp("self.value"), h, w)?,
                    attn_out: linear(a.pp("output.dense"), w, h)?,
                    attn_norm: LayerNorm::new(a.pp("output.LayerNorm"), h, eps)?,
                    ffn: match config.alambic_moe.as_ref().filter(|m| m.covers(i)) {
                        _ if bottleneck.is_some() => {
                            Ffn::Factored(FactoredFfn::new(&l, h, config.intermediate_size, w)?)
                        }
                        Some(moe) => Ffn::Mixture {
                            experts: MoeFfn::new(l.clone(), config, moe, i)?,
                            bias: l.pp("output.dense").get(h, "bias")?,
                        },
                        None => Ffn::Dense {
                            intermediate: linear(
                                l.pp("intermediate.dense"),
                                h,
                                config.intermediate_size,
                            )?,
                            output: linear(l.pp("output.dense"), config.intermediate_size, h)?,
                        },
                    },
                    out_norm: LayerNorm::new(l.pp("output.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            family,
            embeddings,
            layers,
            device: vb.device().clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dense layers of every plain layer by name (`encoder.layer.{i}.attention.self.query`,
    /// …, below the family prefix): what int8 quantisation replaces. A mixture's experts and
    /// a bottleneck's reductions keep f32.
    pub fn dense_layers(&mut self) -> Vec<(String, &mut Dense)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            let mut named: Vec<(&str, &mut Dense)> = vec![
                ("attention.self.query", &mut l.query),
                ("attention.self.key", &mut l.key),
                ("attention.self.value", &mut l.value),
                ("attention.output.dense", &mut l.attn_out),
            ];
            if let Ffn::Dense {
                intermediate,
                output,
            } = &mut l.ffn
            {
                named.push(("intermediate.dense", intermediate));
                named.push(("output.dense", output));
            }
            out.extend(
                named
                    .into_iter()
                    .map(|(n, d)| (format!("encoder.layer.{i}.{n}"), d)),
            );
        }
        out
    }

    /// Gives the named dense layers their int8 weights (names as `dense_layers` gives them;
    /// a layer not named goes back to f32).
    pub fn set_int8(&mut self, weights: &std::collections::HashMap<String, Arc<PackedInt8>>) {
        for (name, dense) in self.dense_layers() {
            dense.int8 = weights.get(&name).cloned();
        }
    }

    /// The int8 weights of the layers that have them, by name.
    pub fn int8_weights(&self) -> Vec<(String, Arc<PackedInt8>)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let mut named: Vec<(&str, &Dense)> = vec![
                ("attention.self.query", &l.query),
                ("attention.self.key", &l.key),
                ("attention.self.value", &l.value),
                ("attention.output.dense", &l.attn_out),
            ];
            if let Ffn::Dense {
                intermediate,
                output,
            } = &l.ffn
            {
                named.push(("intermediate.dense", intermediate));
                named.push(("output.dense", output));
            }
            out.extend(named.into_iter().filter_map(|(n, d)| {
                d.int8
                    .clone()
                    .map(|w| (format!("encoder.layer.{i}.{n}"), w))
            }));
        }
        out
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn forward(
        &self,
        batch: &Batch,
        mode: &mut Mode,
        want_scores: bool,
    ) -> Result<EncoderOutput> {
        // Inference records no backprop graph: each intermediate is freed when the next layer
        // no longer needs it, rather than kept alive by the outputs until the batch ends.
        let _no_grad = (!mode.is_train()).then(candle_core::no_grad);
        self.encode(batch, None, mode, want_scores)
    }

    /// `[batch, seq, E]`: the rows of the word-embedding matrix for the batch's ids (before a
    /// factorised embedding's projection) — the input attribution differentiates.
    pub fn word_embeddings(&self, batch: &Batch) -> Result<Tensor> {
        let (ids, _, _) = self.input_tensors(batch)?;
        self.embeddings.word.forward(&ids)
    }

    /// The forward pass from word embeddings `words` (`[batch, seq, E]`, e.g. a path between
    /// a baseline's and the input's); `batch` gives the mask and positions.
    pub fn forward_from_words(
        &self,
        batch: &Batch,
        words: &Tensor,
        mode: &mut Mode,
        want_scores: bool,
    ) -> Result<EncoderOutput> {
        let _no_grad = (!mode.is_train()).then(candle_core::no_grad);
        self.encode(batch, Some(words), mode, want_scores)
    }

    /// The pass itself, from the batch's ids or from given word embeddings.
    fn encode(
        &self,
        batch: &Batch,
        words: Option<&Tensor>,
        mode: &mut Mode,
        want_scores: bool,
    ) -> Result<EncoderOutput> {
        let (ids, mask, positions) = self.input_tensors(batch)?;
        let cfg = &self.config;
        let e = &self.embeddings;
        let token_types = ids.zeros_like()?;
        let words = match words {
            Some(w) => w.clone(),
            None => e.word.forward(&ids)?,
        };
        let words = match &e.projection {
            Some(p) => p.forward(&words)?,
            None => words,
        };
        let embedded = words
            .add(&e.position.forward(&positions)?)?
            .add(&e.token_type.forward(&token_types)?)?;
        let mut hidden = dropout(
            &e.norm.forward_mode(&embedded, mode)?,
            cfg.hidden_dropout_prob,
            mode,
        )?;
        // [batch, 1, 1, seq]: 0 for tokens, MASKED_SCORE for padding.
        let additive = ((mask.ones_like()? - &mask)? * MASKED_SCORE)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        let mut out = EncoderOutput {
            hidden_states: vec![hidden.clone()],
            attentions: Vec::new(),
            scores: Vec::new(),
            mask,
            moe: Vec::new(),
        };
        // The tokens mixture layers route: the same for every layer of the pass.
        let routed = match cfg.alambic_moe {
            Some(_) => Some(routed_tokens(&out.mask)?),
            None => None,
        };
        for layer in &self.layers {
            let (next, probs, scores) =
                self.layer_forward(layer, &hidden, &out.mask, &additive, mode, want_scores)?;
            let (next, stats) = self.ffn_forward(layer, &next, routed.as_ref(), mode)?;
            out.moe.extend(stats);
            hidden = next;
            out.hidden_states.push(hidden.clone());
            out.attentions.extend(probs);
            out.scores.extend(scores);
        }
        Ok(out)
    }

    /// The attention half of a layer: its output (after the residual and LayerNorm), the
    /// attention probabilities (unless inference ran block by block) and, when asked, the
    /// pre-softmax scores with the mask added. `ffn_forward` does the other half.
    fn layer_forward(
        &self,
        l: &Layer,
        x: &Tensor,
        mask: &Tensor,
        additive_mask: &Tensor,
        mode: &mut Mode,
        want_scores: bool,
    ) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let cfg = &self.config;
        let (b, s, _) = x.dims3()?;
        let heads = cfg.num_attention_heads;
        // The attention's own width: the hidden size, or a bottleneck layer's inner width.
        let width = l.query.weight.dim(0)?;
        let d = width / heads.max(1);
        let split = |t: Tensor| -> Result<Tensor> {
            if fused::fusable(&t) {
                fused::split_heads(&t, heads)
            } else {
                t.reshape((b, s, heads, d))?.transpose(1, 2)?.contiguous()
            }
        };
        let scale = 1.0 / (d as f64).sqrt();
        let (q, k, v) = (
            self.dense(&l.query, x, None, mode)?,
            self.dense(&l.key, x, None, mode)?,
            self.dense(&l.value, x, None, mode)?,
        );
        // Inference that reads no attention map: scores, softmax and context per head in
        // cache, never materialised.
        let block = if !mode.is_train() && !want_scores {
            attention_block::block_attention(&q, &k, &v, mask, heads, scale, MASKED_SCORE)?
        } else {
            None
        };
        let (context, probs, scores) = match block {
            Some(context) => (context, None, None),
            None => {
                let (q, k, v) = (split(q)?, split(k)?, split(v)?);
                let raw = q.matmul(&k.t()?)?;
                // The fused kernel scales, masks and normalises in one pass; the scores
                // themselves are only materialised when a loss reads them.
                let (probs, scores) = if fused::fusable(&raw) && !want_scores {
                    (
                        fused::masked_softmax(&raw, mask, scale, MASKED_SCORE)?,
                        None,
                    )
                } else {
                    let scores = (raw * scale)?.broadcast_add(additive_mask)?;
                    (softmax_mode(&scores, mode)?, Some(scores))
                };
                let dropped = dropout(&probs, cfg.attention_probs_dropout_prob, mode)?;
                let context = dropped.matmul(&v)?;
                let context = if fused::fusable(&context) {
                    fused::merge_heads(&context, heads)?
                } else {
                    context
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape((b, s, width))?
                };
                (context, Some(probs), scores)
            }
        };
        let attn = self.dense(&l.attn_out, &context, Some(x), mode)?;
        let attn = l.attn_norm.forward_mode(&attn, mode)?;
        Ok((attn, probs, scores.filter(|_| want_scores)))
    }

    /// The feed-forward half of a layer on the attention block's output `attn`: the next
    /// hidden state, and a mixture layer's statistics (`routed`: the tokens it routes).
    fn ffn_forward(
        &self,
        l: &Layer,
        attn: &Tensor,
        routed: Option<&Tensor>,
        mode: &mut Mode,
    ) -> Result<(Tensor, Option<MoeStats>)> {
        let cfg = &self.config;
        let (out, stats) = match &l.ffn {
            Ffn::Dense {
                intermediate,
                output,
            } => {
                let fused_gelu = match (mode.is_train(), cfg.hidden_act, &intermediate.int8) {
                    (false, Activation::Gelu, Some(w)) => {
                        int8_dense(attn, w, &intermediate.bias, None, true)?
                    }
                    (false, Activation::Gelu, None) => {
                        dense_block(attn, &intermediate.weight, &intermediate.bias, None, true)?
                    }
                    _ => None,
                };
                let inter = match fused_gelu {
                    Some(inter) => inter,
                    None => activation(&intermediate.forward_mode(attn, mode)?, cfg.hidden_act)?,
                };
                (self.dense(output, &inter, Some(attn), mode)?, None)
            }
            Ffn::Factored(f) => {
                let inter = activation(&f.expand(attn)?, cfg.hidden_act)?;
                (
                    self.dense(&f.output, &f.contract(&inter)?, Some(attn), mode)?,
                    None,
                )
            }
            Ffn::Mixture { experts, bias } => {
                let tokens = routed.ok_or_else(|| {
                    candle_core::Error::Msg(
                        "a mixture layer in a config without alambic_moe".into(),
                    )
                })?;
                let (y, stats) = experts.forward(attn, tokens)?;
                let y = y.broadcast_add(bias)?;
                let y = (dropout(&y, cfg.hidden_dropout_prob, mode)? + attn)?;
                (y, Some(stats))
            }
        };
        Ok((l.out_norm.forward_mode(&out, mode)?, stats))
    }

    /// A dense layer, and for the two that add a residual (the attention and feed-forward
    /// outputs) its dropout and the residual: `dropout(d(x)) + residual`. Inference runs it as
    /// one pass (`dense_block`: bias and residual written first, the product accumulated into
    /// them); training composes the differentiable ops.
    fn dense(
        &self,
        d: &Dense,
        x: &Tensor,
        residual: Option<&Tensor>,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        if !mode.is_train() {
            let y = match &d.int8 {
                Some(w) => int8_dense(x, w, &d.bias, residual, false)?,
                None => dense_block(x, &d.weight, &d.bias, residual, false)?,
            };
            if let Some(y) = y {
                return Ok(y);
            }
        }
        let y = d.forward_mode(x, mode)?;
        match residual {
            Some(r) => dropout(&y, self.config.hidden_dropout_prob, mode)? + r,
            None => Ok(y),
        }
    }

    /// Ids, the float mask, and position ids (RoBERTa counts from `pad_token_id + 1` and gives
    /// padding the pad position, as transformers' `create_position_ids_from_input_ids`).
    fn input_tensors(&self, batch: &Batch) -> Result<(Tensor, Tensor, Tensor)> {
        let rows = batch.input_ids.len();
        let seq = batch.input_ids.first().map_or(0, Vec::len);
        if batch.input_ids.iter().any(|r| r.len() != seq)
            || batch.attention_mask.len() != rows
            || batch.attention_mask.iter().any(|r| r.len() != seq)
        {
            candle_core::bail!("batch rows must share one length (ids and mask), got ragged rows");
        }
        let max_pos = match self.family {
            Family::Bert => seq,
            Family::Roberta => seq + self.config.pad_token_id as usize + 1,
        };
        if max_pos > self.config.max_position_embeddings {
            candle_core::bail!(
                "sequence of {seq} tokens is longer than the model's {} positions",
                self.config.max_position_embeddings
            );
        }
        let flat_ids: Vec<u32> = batch.input_ids.iter().flatten().copied().collect();
        let flat_mask: Vec<f32> = batch
            .attention_mask
            .iter()
            .flatten()
            .map(|&m| m as f32)
            .collect();
        let positions: Vec<u32> = match self.family {
            Family::Bert => (0..rows).flat_map(|_| 0..seq as u32).collect(),
            Family::Roberta => {
                let pad = self.config.pad_token_id;
                batch
                    .input_ids
                    .iter()
                    .flat_map(|row| {
                        let mut count = 0;
                        row.iter()
                            .map(move |&id| {
                                if id == pad {
                                    pad
                                } else {
                                    count += 1;
                                    pad + count
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
        };
        let dev = &self.device;
        Ok((
            Tensor::from_vec(flat_ids, (rows, seq), dev)?,
            Tensor::from_vec(flat_mask, (rows, seq), dev)?.to_dtype(DType::F32)?,
            Tensor::from_vec(positions, (rows, seq), dev)?,
        ))
    }
}
