//! Training a tokenizer on the dataset itself, for scratch models that have no vocabulary of
//! their own. The pipelines match the published ones (BERT WordPiece, RoBERTa byte-level BPE).

use super::load::{BERT_SPECIALS, ROBERTA_SPECIALS};
use super::{TextTokenizer, TokenizeError};
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, Tokenizer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    Wordpiece,
    Bpe,
}

impl std::str::FromStr for TokenizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wordpiece" => Ok(Self::Wordpiece),
            "bpe" => Ok(Self::Bpe),
            other => Err(format!(
                "unknown tokenizer kind `{other}` (wordpiece or bpe)"
            )),
        }
    }
}

pub fn train_tokenizer(
    texts: &[&str],
    kind: TokenizerKind,
    vocab_size: usize,
) -> Result<TextTokenizer, TokenizeError> {
    let specials = |names: &[&str]| -> Vec<AddedToken> {
        names
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect()
    };
    let mut tokenizer = match kind {
        TokenizerKind::Wordpiece => {
            let mut t = Tokenizer::new(WordPiece::default());
            t.with_normalizer(Some(BertNormalizer::new(true, true, None, true)))?;
            t.with_pre_tokenizer(Some(BertPreTokenizer));
            t.with_decoder(Some(WordPieceDecoder::default()));
            let mut trainer = TrainerWrapper::WordPieceTrainer(
                WordPieceTrainer::builder()
                    .vocab_size(vocab_size)
                    .min_frequency(2)
                    .show_progress(false)
                    .special_tokens(specials(&BERT_SPECIALS))
                    .build(),
            );
            t.train(&mut trainer, texts.iter())?;
            t
        }
        TokenizerKind::Bpe => {
            let mut t = Tokenizer::new(BPE::default());
            t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
            t.with_decoder(Some(ByteLevelDecoder::default()));
            let mut trainer = TrainerWrapper::BpeTrainer(
                BpeTrainer::builder()
                    .vocab_size(vocab_size)
                    .min_frequency(2)
                    .show_progress(false)
                    .special_tokens(specials(&ROBERTA_SPECIALS))
                    .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                    .build(),
            );
            t.train(&mut trainer, texts.iter())?;
            t
        }
    };
    let id = |tok: &str| {
        tokenizer
            .token_to_id(tok)
            .ok_or_else(|| TokenizeError::Tokenizer(format!("trained vocabulary lacks `{tok}`")))
    };
    match kind {
        TokenizerKind::Wordpiece => {
            let (sep, cls) = (id("[SEP]")?, id("[CLS]")?);
            tokenizer.with_post_processor(Some(BertProcessing::new(
                ("[SEP]".into(), sep),
                ("[CLS]".into(), cls),
            )));
        }
        TokenizerKind::Bpe => {
            let (sep, cls) = (id("</s>")?, id("<s>")?);
            tokenizer.with_post_processor(Some(
                RobertaProcessing::new(("</s>".into(), sep), ("<s>".into(), cls))
                    .trim_offsets(true)
                    .add_prefix_space(false),
            ));
        }
    }
    TextTokenizer::wrap(tokenizer, Path::new("(trained)"))
}
