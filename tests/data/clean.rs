use alambic::data::clean::{
    clean, clean_with_lines, drop_pragma_lines, lex, normalize_whitespace, strip_comments,
};
use alambic::data::config::CleanConfig;
use alambic::data::config::DedupConfig;
use alambic::data::dedup::{find_groups, jaccard};

#[test]
fn comments_go_and_strings_stay() {
    let src = "contract A { // <yes> <report> REENTRANCY\n  string u = \"http://x.io/*y*/\"; /* gone */ uint b; /* multi\nline */ uint c;\n  string q = 'it\\'s // here';\n}\n";
    let want = "contract A { \n  string u = \"http://x.io/*y*/\";   uint b; \n uint c;\n  string q = 'it\\'s // here';\n}\n";
    assert_eq!(strip_comments(src), want);
}

#[test]
fn whitespace_is_normalised_but_indentation_kept() {
    let src = "\r\n\r\npragma solidity ^0.4.24;  \r\n\r\n\r\n\r\ncontract A {\n\tuint x;\t\n}";
    assert_eq!(
        normalize_whitespace(src),
        "pragma solidity ^0.4.24;\n\ncontract A {\n\tuint x;\n}\n"
    );
}

#[test]
fn pragma_and_spdx_lines_are_dropped() {
    let src = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract A {}\n";
    assert_eq!(drop_pragma_lines(src), "contract A {}\n");
}

#[test]
fn lexer_splits_words_and_symbols() {
    assert_eq!(
        lex("a.call.value(0x1f)(\"x y\");"),
        vec![
            "a", ".", "call", ".", "value", "(", "0x1f", ")", "(", "\"", "x", "y", "\"", ")", ";"
        ]
    );
}

#[test]
fn jaccard_of_sorted_sets() {
    assert_eq!(jaccard(&[1, 2, 3, 4], &[3, 4, 5, 6]), 2.0 / 6.0);
    assert_eq!(jaccard(&[], &[]), 1.0);
}

#[test]
fn duplicate_groups_on_known_texts() {
    let base: String = (0..60).map(|i| format!("uint v{i} = {i};\n")).collect();
    // One token of 300 differs: 5 of 296 shingles change, J = 291/301 = 0.967.
    let near = base.replace("v30 = 30", "v30 = 31");
    let layout = format!("pragma solidity ^0.4.24;\n{}", base.replace('\n', "  \n\n"));
    let other: String = (0..60).map(|i| format!("address w{i};\n")).collect();
    let texts = [
        base.as_str(),
        near.as_str(),
        layout.as_str(),
        other.as_str(),
    ];
    let groups = find_groups(&texts, &DedupConfig::default());
    assert_eq!(groups.exact, vec![0, 1, 0, 2]);
    assert_eq!(groups.near, vec![0, 0, 0, 1]);
    let strict = DedupConfig {
        near_threshold: 0.97,
        ..DedupConfig::default()
    };
    assert_eq!(find_groups(&texts, &strict).near, vec![0, 1, 0, 2]);
}

#[test]
fn cleaned_lines_know_where_they_came_from() {
    let src = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n\n\n/* two\n lines */\ncontract A {   \n\n\n\n  uint x; // note\n}\n";
    for (drop_pragma, want) in [
        (false, vec![2, 3, 7, 8, 11, 12]),
        (true, vec![7, 8, 11, 12]),
    ] {
        let cfg = CleanConfig {
            drop_pragma,
            ..CleanConfig::default()
        };
        let (text, lines) = clean_with_lines(src, &cfg);
        assert_eq!(text, clean(src, &cfg));
        assert_eq!(lines, want, "drop_pragma {drop_pragma}: {text:?}");
        let raw: Vec<&str> = src.lines().collect();
        for (cleaned, &from) in text.lines().zip(&lines) {
            if !cleaned.is_empty() {
                assert!(
                    raw[from - 1].starts_with(cleaned.trim_end()),
                    "{cleaned} <- {from}"
                );
            }
        }
    }
}
