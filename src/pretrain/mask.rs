//! Dynamic masking for masked-language modelling, as BERT's recipe: a share of the tokens is
//! selected (whole words together when asked), and of those 80 % become the mask token, 10 % a
//! random token and 10 % stay as they are; the loss reads only the selected positions. Every
//! draw comes from a generator seeded by (run seed, epoch, window), so an epoch masks
//! differently from the last and a resumed run masks exactly as an uninterrupted one.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The `[pretrain]` keys masking reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskSpec {
    /// Share of a window's content tokens selected for prediction.
    pub share: f64,
    /// Of the selected: replaced by the mask token, and by a random token (the rest stay).
    pub mask_token: f64,
    pub random_token: f64,
    pub whole_words: bool,
}

/// What the tokenizer tells masking.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    pub mask_id: u32,
    pub size: u32,
    /// Ids never selected nor drawn as random replacements ([CLS], [SEP], [PAD], …).
    pub special: Vec<u32>,
    /// Per id: whether the token continues the word before it (WordPiece's `##`, a byte-level
    /// BPE token without its leading `Ġ`).
    pub continues: Vec<bool>,
}

/// A masked window: the model's input and, per selected position, the original token.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Masked {
    pub input: Vec<u32>,
    /// `(position, original id)`, in position order.
    pub targets: Vec<(usize, u32)>,
}

/// The generator for one window of one epoch.
pub fn window_rng(seed: u64, epoch: usize, window: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6c_6d5f_6d61_736b);
    rng.set_stream(((epoch as u64) << 40) ^ window);
    rng
}

/// Spans of positions that form one word each (specials are left out).
fn words(ids: &[u32], vocab: &Vocabulary, whole_words: bool) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        if vocab.special.contains(&id) {
            continue;
        }
        let continues = whole_words && vocab.continues.get(id as usize).copied().unwrap_or(false);
        match spans.last_mut() {
            Some(last) if continues && last.1 == i => last.1 = i + 1,
            _ => spans.push((i, i + 1)),
        }
    }
    spans
}

/// Masks `ids` (a whole window, specials included).
pub fn mask(ids: &[u32], vocab: &Vocabulary, spec: &MaskSpec, rng: &mut ChaCha8Rng) -> Masked {
    let mut spans = words(ids, vocab, spec.whole_words);
    let content: usize = spans.iter().map(|s| s.1 - s.0).sum();
    let wanted = ((content as f64 * spec.share).round() as usize).max(usize::from(content > 0));
    spans.shuffle(rng);
    let mut selected: Vec<usize> = Vec::with_capacity(wanted);
    for (start, end) in spans {
        if selected.len() >= wanted {
            break;
        }
        // A word that would overshoot is skipped, as in BERT's whole-word masking.
        if selected.len() + (end - start) > wanted {
            continue;
        }
        selected.extend(start..end);
    }
    selected.sort_unstable();
    let mut input = ids.to_vec();
    let mut targets = Vec::with_capacity(selected.len());
    for pos in selected {
        targets.push((pos, ids[pos]));
        let roll: f64 = rng.random();
        if roll < spec.mask_token {
            input[pos] = vocab.mask_id;
        } else if roll < spec.mask_token + spec.random_token {
            input[pos] = random_token(vocab, rng);
        }
    }
    Masked { input, targets }
}

fn random_token(vocab: &Vocabulary, rng: &mut ChaCha8Rng) -> u32 {
    loop {
        let id = rng.random_range(0..vocab.size);
        if !vocab.special.contains(&id) {
            return id;
        }
    }
}
