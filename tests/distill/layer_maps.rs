//! Layer maps for a 6-layer teacher and 2-, 3- and 4-layer students; the errors they raise.

use crate::common::fixture;
use alambic::distill::layer_map::{LayerMapSpec, check_attention, check_token_level, resolve};
use alambic::tokenize::TextTokenizer;

fn uniform() -> LayerMapSpec {
    LayerMapSpec::Named("uniform".into())
}

#[test]
fn uniform_last_and_explicit_maps() {
    assert_eq!(resolve(&uniform(), 2, 6), Ok(vec![(1, 3), (2, 6)]));
    assert_eq!(resolve(&uniform(), 3, 6), Ok(vec![(1, 2), (2, 4), (3, 6)]));
    assert_eq!(
        resolve(&uniform(), 4, 6),
        Ok(vec![(1, 1), (2, 3), (3, 4), (4, 6)])
    );
    assert_eq!(
        resolve(&LayerMapSpec::Named("last".into()), 3, 6),
        Ok(vec![(3, 6)])
    );
    let pairs = LayerMapSpec::Pairs(vec![[0, 0], [1, 2], [2, 4], [3, 6]]);
    assert_eq!(
        resolve(&pairs, 3, 6),
        Ok(vec![(0, 0), (1, 2), (2, 4), (3, 6)])
    );
    let parsed: LayerMapSpec = toml::from_str::<toml::Table>("map = [[1, 2], [2, 4]]")
        .expect("toml")
        .remove("map")
        .expect("map")
        .try_into()
        .expect("spec");
    assert_eq!(parsed, LayerMapSpec::Pairs(vec![[1, 2], [2, 4]]));
}

#[test]
fn bad_maps_and_head_mismatches_say_which_pair_and_why() {
    assert_eq!(
        resolve(&LayerMapSpec::Pairs(vec![[1, 2], [4, 6]]), 3, 6),
        Err(
            "layer map pair [4, 6]: the student has layers 0..3, the teacher 0..6 (0 = embeddings)"
                .into()
        )
    );
    assert!(resolve(&LayerMapSpec::Named("middle".into()), 3, 6).is_err());
    assert_eq!(check_attention(&[(1, 2), (2, 4)], 12, 12), Ok(()));
    let err = check_attention(&[(1, 2)], 4, 12).expect_err("heads");
    assert!(
        err.starts_with(
            "attention terms: pair [1, 2] compares 4 student heads with 12 teacher heads"
        ),
        "{err}"
    );
    let err = check_attention(&[(0, 0)], 12, 12).expect_err("layer 0");
    assert!(err.contains("layer 0, the embeddings"), "{err}");
}

#[test]
fn token_level_terms_refuse_different_tokenizers_and_map_pruned_ones() {
    let bert = TextTokenizer::load(fixture("tiny-bert")).expect("bert");
    let same = TextTokenizer::load(fixture("tiny-bert/vocab.txt")).expect("bert vocab");
    let roberta = TextTokenizer::load(fixture("tiny-roberta")).expect("roberta");
    assert_eq!(check_token_level(&same, &bert), Ok(None));
    // A pruned vocabulary reads as the teacher's own ids, and not the other way round.
    let kept = vec![0, 1, 2, 3, 4, 101, 102, 333, 599];
    let pruned = bert.pruned(&kept).expect("pruned");
    assert_eq!(check_token_level(&pruned, &bert), Ok(Some(kept)));
    assert!(check_token_level(&bert, &pruned).is_err());
    let err = check_token_level(&bert, &roberta).expect_err("mismatch");
    assert!(
        err.contains(
            "the teacher's tokenizer (bpe, 800 tokens) and the student's (wordpiece, 600 tokens)"
        ),
        "{err}"
    );
}
