//! Masking statistics on a seeded run: the share selected, the 80/10/10 replacement, whole
//! words selected together, and masks that change with the epoch but not between runs.

use crate::common::fixture;
use alambic::pretrain::build::vocabulary;
use alambic::pretrain::mask::{MaskSpec, Masked, Vocabulary, mask, window_rng};
use alambic::tokenize::TextTokenizer;
use std::path::Path;

const SPEC: MaskSpec = MaskSpec {
    share: 0.15,
    mask_token: 0.8,
    random_token: 0.1,
    whole_words: true,
};

/// Windows of 62 content tokens from the demo contracts until `tokens` content tokens.
fn windows(tok: &TextTokenizer, tokens: usize) -> Vec<Vec<u32>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("data/demo/contracts.jsonl")).expect("demo");
    let mut out = Vec::new();
    let mut seen = 0;
    for line in text.lines().cycle() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let (ids, _) = tok
            .encode_content(v["code"].as_str().expect("code"))
            .expect("ids");
        for chunk in ids.chunks(62) {
            let mut w = tok.prefix().to_vec();
            w.extend_from_slice(chunk);
            w.extend_from_slice(tok.suffix());
            seen += chunk.len();
            out.push(w);
            if seen >= tokens {
                return out;
            }
        }
    }
    out
}

fn setup() -> (Vocabulary, Vec<Vec<u32>>) {
    let tok = TextTokenizer::load(fixture("tiny-bert")).expect("tokenizer");
    let vocab = vocabulary(&tok, 600).expect("vocabulary");
    (vocab, windows(&tok, 100_000))
}

fn masked(vocab: &Vocabulary, windows: &[Vec<u32>], spec: &MaskSpec, epoch: usize) -> Vec<Masked> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| mask(w, vocab, spec, &mut window_rng(13, epoch, i as u64)))
        .collect()
}

#[test]
fn shares_selected_and_replaced_are_berts_within_one_percent() {
    let (vocab, windows) = setup();
    let content: usize = windows.iter().map(|w| w.len() - 2).sum();
    assert!(content >= 100_000);
    let all = masked(&vocab, &windows, &SPEC, 0);
    let (mut selected, mut as_mask, mut random, mut kept) = (0usize, 0usize, 0usize, 0usize);
    for (w, m) in windows.iter().zip(&all) {
        for &(pos, original) in &m.targets {
            assert_eq!(w[pos], original);
            assert!(
                !vocab.special.contains(&original),
                "a special token was selected"
            );
            selected += 1;
            match m.input[pos] {
                id if id == vocab.mask_id => as_mask += 1,
                id if id == original => kept += 1,
                _ => random += 1,
            }
        }
        // Positions not selected are untouched.
        let chosen: Vec<usize> = m.targets.iter().map(|t| t.0).collect();
        for (i, (&a, &b)) in w.iter().zip(&m.input).enumerate() {
            if !chosen.contains(&i) {
                assert_eq!(a, b, "position {i} changed without being selected");
            }
        }
    }
    let share = selected as f64 / content as f64;
    assert!((share - 0.15).abs() <= 0.01, "selected {share}");
    let n = selected as f64;
    // A random replacement draws the original again with probability 1/595: counted as kept.
    for (what, got, want) in [
        ("mask", as_mask, 0.8),
        ("random", random, 0.1),
        ("kept", kept, 0.1),
    ] {
        let got = got as f64 / n;
        assert!(
            (got - want).abs() <= 0.01,
            "{what}: {got} of the selected tokens"
        );
    }
}

#[test]
fn whole_words_are_selected_together() {
    let (vocab, windows) = setup();
    let continues = |id: u32| vocab.continues[id as usize];
    let mut multi_piece_words = 0;
    for (w, m) in windows.iter().zip(masked(&vocab, &windows, &SPEC, 1)) {
        let chosen: std::collections::HashSet<usize> = m.targets.iter().map(|t| t.0).collect();
        for &i in &chosen {
            if i + 1 < w.len() && continues(w[i + 1]) {
                assert!(
                    chosen.contains(&(i + 1)),
                    "the rest of the word at {i} was left"
                );
                multi_piece_words += 1;
            }
            // (A window may begin inside a word: its first piece then starts the word here.)
            if continues(w[i]) && !vocab.special.contains(&w[i - 1]) {
                assert!(
                    chosen.contains(&(i - 1)),
                    "the start of the word at {i} was left"
                );
            }
        }
    }
    assert!(
        multi_piece_words > 1000,
        "{multi_piece_words} multi-piece words"
    );

    // Without whole words, pieces are chosen alone: some word is split.
    let spec = MaskSpec {
        whole_words: false,
        ..SPEC
    };
    let split = windows
        .iter()
        .zip(masked(&vocab, &windows, &spec, 1))
        .any(|(w, m)| {
            let chosen: Vec<usize> = m.targets.iter().map(|t| t.0).collect();
            chosen
                .iter()
                .any(|&i| i + 1 < w.len() && continues(w[i + 1]) && !chosen.contains(&(i + 1)))
        });
    assert!(split);
}

#[test]
fn masks_are_seeded_per_epoch() {
    let (vocab, windows) = setup();
    let windows = &windows[..50];
    assert_eq!(
        masked(&vocab, windows, &SPEC, 0),
        masked(&vocab, windows, &SPEC, 0)
    );
    assert_ne!(
        masked(&vocab, windows, &SPEC, 0),
        masked(&vocab, windows, &SPEC, 1)
    );
}
