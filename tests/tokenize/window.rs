//! Windowing a known text into overlapping windows with their special tokens.

use crate::common::fixture;
use alambic::tokenize::{TextTokenizer, WindowSpec, window_count};

#[test]
fn window_count_formula() {
    // body 10, step 6 (overlap 4)
    assert_eq!(window_count(0, 10, 6), 1);
    assert_eq!(window_count(10, 10, 6), 1);
    assert_eq!(window_count(11, 10, 6), 2);
    assert_eq!(window_count(16, 10, 6), 2);
    assert_eq!(window_count(17, 10, 6), 3);
}

#[test]
fn windows_of_a_known_text() {
    let tok = TextTokenizer::load(fixture("tiny-bert")).expect("load");
    let text = "function withdraw(uint amount) public { require(balances[msg.sender] >= amount); msg.sender.call.value(amount)(); balances[msg.sender] -= amount; }";
    let (content, _) = tok.encode_content(text).expect("encode");
    assert_eq!(content.len(), 45);
    let spec = WindowSpec {
        max_len: 16,
        stride: 4,
    };
    let windows = tok.windows(text, spec).expect("windows");
    // body 14, step 10: 1 + ceil((45 - 14) / 10) = 5
    assert_eq!(windows.len(), 5);
    let first = &windows[0];
    let mut want_first = vec![2];
    want_first.extend_from_slice(&content[..14]);
    want_first.push(3);
    assert_eq!(first.ids, want_first);
    assert_eq!(first.tokens, (0, 14));
    let last = &windows[4];
    let mut want_last = vec![2];
    want_last.extend_from_slice(&content[40..45]);
    want_last.push(3);
    assert_eq!(last.ids, want_last);
    assert_eq!(last.tokens, (40, 45));
    assert_eq!(&text[last.bytes.0..last.bytes.1], "-= amount; }");
    assert_eq!(
        windows[1].tokens,
        (10, 24),
        "4 tokens shared with the first"
    );
    assert!(windows.iter().all(|w| w.ids.len() <= 16));
}

#[test]
fn impossible_window_spec_is_an_error() {
    let tok = TextTokenizer::load(fixture("tiny-bert")).expect("load");
    let err = tok
        .windows(
            "x",
            WindowSpec {
                max_len: 6,
                stride: 4,
            },
        )
        .expect_err("overlap too large")
        .to_string();
    assert!(err.contains("max_len 6 leaves 4 content tokens"), "{err}");
}
