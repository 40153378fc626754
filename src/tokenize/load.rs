//! Loading a tokenizer from what a Hugging Face folder holds: `tokenizer.json`; a bare
//! `vocab.txt` (BERT WordPiece, how TinyBERT is published); or `vocab.json` + `merges.txt`
//! (RoBERTa byte-level BPE, how CodeBERT is published). The pipelines built for the last two
//! mirror transformers' converters (`convert_slow_tokenizer.py`), so ids match its fast
//! tokenizers.

use super::TokenizeError;
use std::path::{Path, PathBuf};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, Tokenizer};

/// Byte ranges of tokens in the text they came from.
pub type Offsets = Vec<(usize, usize)>;

pub const BERT_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
pub const ROBERTA_SPECIALS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];

/// A tokenizer with its padding and truncation switched off (we window texts ourselves), and
/// the special tokens it wraps every sequence in.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    /// What it was loaded from, for messages and run configs.
    pub source: String,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl TextTokenizer {
    /// A folder (tokenizer.json, else vocab.json + merges.txt, else vocab.txt) or one of
    /// those files.
    /// The tokenizer the first of these model sources names (a scratch model's `?tokenizer=`,
    /// or a model folder's own), for statistics that need one; `None` if none names one.
    pub fn named_by(sources: &[&str]) -> Option<Self> {
        use crate::model::ModelSource;
        fn of(source: ModelSource) -> Option<TextTokenizer> {
            match source {
                ModelSource::Scratch {
                    tokenizer: Some(t), ..
                } => TextTokenizer::load(t).ok(),
                ModelSource::Folder(p) => TextTokenizer::load(p).ok(),
                // A rewritten model reads its base's tokenizer (a pruned one a renumbered
                // copy of it: the same counts for statistics).
                ModelSource::Rewrite { base, .. } => of(*base),
                _ => None,
            }
        }
        sources.iter().find_map(|s| of(ModelSource::parse(s).ok()?))
    }

    pub fn load(source: impl AsRef<Path>) -> Result<Self, TokenizeError> {
        let path = source.as_ref();
        if path.is_dir() {
            let json = path.join("tokenizer.json");
            let (vocab_json, merges) = (path.join("vocab.json"), path.join("merges.txt"));
            let vocab_txt = path.join("vocab.txt");
            if json.is_file() {
                return Self::from_tokenizer_json(&json);
            }
            if vocab_json.is_file() && merges.is_file() {
                return Self::from_vocab_merges(&vocab_json, &merges);
            }
            if vocab_txt.is_file() {
                return Self::from_vocab_txt(&vocab_txt, lowercase_setting(path));
            }
            return Err(load_error(
                path,
                "no tokenizer here: expected tokenizer.json, vocab.json + merges.txt, or vocab.txt",
            ));
        }
        match path.file_name().and_then(|n| n.to_str()) {
            Some("vocab.txt") => {
                let dir = path.parent().unwrap_or(Path::new("."));
                Self::from_vocab_txt(path, lowercase_setting(dir))
            }
            Some("vocab.json") => Self::from_vocab_merges(path, &path.with_file_name("merges.txt")),
            Some(_) if path.is_file() => Self::from_tokenizer_json(path),
            _ => Err(load_error(path, "no such tokenizer file or folder")),
        }
    }

    pub fn from_tokenizer_json(path: &Path) -> Result<Self, TokenizeError> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_error(path, e))?;
        // all-MiniLM-L6-v2's tokenizer.json pads and truncates to 128: both would silently cap
        // lengths, so they go; windowing decides lengths.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| load_error(path, e))?;
        Self::wrap(inner, path)
    }

    /// BERT WordPiece from a bare vocabulary, as `BertTokenizerFast` builds it.
    pub fn from_vocab_txt(path: &Path, lowercase: bool) -> Result<Self, TokenizeError> {
        let text = std::fs::read_to_string(path).map_err(|e| load_error(path, e))?;
        let vocab: Vec<&str> = text.lines().collect();
        let id_of = |t: &str| {
            vocab
                .iter()
                .position(|v| *v == t)
                .map(|i| i as u32)
                .ok_or_else(|| load_error(path, format!("the vocabulary has no `{t}` token")))
        };
        let (cls, sep) = (id_of("[CLS]")?, id_of("[SEP]")?);
        let model = WordPiece::from_file(&path.to_string_lossy())
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| load_error(path, e))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))
            .map_err(|e| load_error(path, e))?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        add_specials(&mut inner, &BERT_SPECIALS, &vocab)?;
        Self::wrap(inner, path)
    }

    /// RoBERTa byte-level BPE, as `RobertaTokenizerFast` builds it (no prefix space).
    pub fn from_vocab_merges(vocab: &Path, merges: &Path) -> Result<Self, TokenizeError> {
        if !merges.is_file() {
            return Err(load_error(merges, "vocab.json needs merges.txt beside it"));
        }
        let model = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
            .build()
            .map_err(|e| load_error(vocab, e))?;
        let vocab_map = model.get_vocab();
        let id_of = |t: &str| {
            vocab_map
                .get(t)
                .copied()
                .ok_or_else(|| load_error(vocab, format!("the vocabulary has no `{t}` token")))
        };
        let (cls, sep) = (id_of("<s>")?, id_of("</s>")?);
        let mut inner = Tokenizer::new(model);
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_post_processor(Some(
            RobertaProcessing::new(("</s>".into(), sep), ("<s>".into(), cls))
                .trim_offsets(true)
                .add_prefix_space(false),
        ));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let known: Vec<&str> = ROBERTA_SPECIALS
            .iter()
            .copied()
            .filter(|t| vocab_map.contains_key(*t))
            .collect();
        add_specials(&mut inner, &known, &known)?;
        Self::wrap(inner, vocab)
    }

    pub(crate) fn wrap(inner: Tokenizer, path: &Path) -> Result<Self, TokenizeError> {
        // Where a sequence sits between the special tokens: encode one character both ways.
        let bare = inner.encode("a", false)?.get_ids().to_vec();
        let full = inner.encode("a", true)?.get_ids().to_vec();
        let at = full
            .windows(bare.len().max(1))
            .position(|w| w == bare.as_slice())
            .ok_or_else(|| load_error(path, "cannot find the text between the special tokens"))?;
        Ok(Self {
            prefix: full[..at].to_vec(),
            suffix: full[at + bare.len()..].to_vec(),
            inner,
            source: path.display().to_string(),
        })
    }

    /// Ids with the special tokens, no length limit.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        Ok(self.inner.encode(text, true)?.get_ids().to_vec())
    }

    /// Ids and byte offsets of the text alone, without special tokens.
    pub fn encode_content(&self, text: &str) -> Result<(Vec<u32>, Offsets), TokenizeError> {
        let enc = self.inner.encode(text, false)?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    /// Content token counts of many texts, in parallel.
    pub fn count_tokens(&self, texts: &[&str]) -> Result<Vec<usize>, TokenizeError> {
        let encodings = self.inner.encode_batch(texts.to_vec(), false)?;
        Ok(encodings.iter().map(|e| e.get_ids().len()).collect())
    }

    pub fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    pub fn suffix(&self) -> &[u32] {
        &self.suffix
    }

    pub fn special_count(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// The tokenizer's model: `wordpiece`, `bpe`, `unigram` or `wordlevel`.
    pub fn kind(&self) -> &'static str {
        match self.inner.get_model() {
            tokenizers::ModelWrapper::WordPiece(_) => "wordpiece",
            tokenizers::ModelWrapper::BPE(_) => "bpe",
            tokenizers::ModelWrapper::Unigram(_) => "unigram",
            tokenizers::ModelWrapper::WordLevel(_) => "wordlevel",
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizeError> {
        Ok(self.inner.decode(ids, true)?)
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Writes `tokenizer.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, TokenizeError> {
        std::fs::create_dir_all(dir).map_err(|e| TokenizeError::Io {
            path: dir.into(),
            source: e,
        })?;
        let path = dir.join("tokenizer.json");
        self.inner
            .save(&path, false)
            .map_err(|e| load_error(&path, e))?;
        Ok(path)
    }
}

fn add_specials(
    inner: &mut Tokenizer,
    specials: &[&str],
    vocab: &[&str],
) -> Result<(), TokenizeError> {
    let tokens: Vec<AddedToken> = specials
        .iter()
        .filter(|t| vocab.contains(t))
        .map(|t| {
            // RoBERTa's mask swallows the space before it, as in transformers.
            AddedToken::from(t.to_string(), true).lstrip(*t == "<mask>")
        })
        .collect();
    inner.add_special_tokens(tokens)?;
    Ok(())
}

/// `do_lower_case` from `tokenizer_config.json` when present; BERT vocabularies are uncased
/// by default (TinyBERT's is).
fn lowercase_setting(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("do_lower_case").and_then(|b| b.as_bool()))
        .unwrap_or(true)
}

fn load_error(path: &Path, msg: impl std::fmt::Display) -> TokenizeError {
    TokenizeError::Load {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}
