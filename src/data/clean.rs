//! Cleaning Solidity source: comments (some datasets annotate the bug in them), whitespace,
//! and optionally `pragma`/SPDX lines (the compiler version is a dataset-source confound).

use super::config::CleanConfig;

pub fn clean(code: &str, cfg: &CleanConfig) -> String {
    let mut text = if cfg.strip_comments {
        strip_comments(code)
    } else {
        code.to_string()
    };
    if cfg.drop_pragma {
        text = drop_pragma_lines(&text);
    }
    if cfg.normalize_whitespace {
        text = normalize_whitespace(&text);
    }
    text
}

/// The cleaned text and, for each of its lines, the 1-based line of `code` it came from, so
/// that what is found in the cleaned text can be shown where the user's editor has it.
/// Stripping comments keeps every line break; dropping pragmas and normalising whitespace
/// drop whole lines (a run of blank lines becomes its first).
pub fn clean_with_lines(code: &str, cfg: &CleanConfig) -> (String, Vec<usize>) {
    let text = clean(code, cfg);
    let stripped = if cfg.strip_comments {
        strip_comments(code)
    } else {
        code.to_string()
    };
    let unified = if cfg.normalize_whitespace {
        stripped.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        stripped
    };
    let mut source = unified.lines().enumerate().filter(|(_, l)| {
        let t = l.trim_start();
        !(cfg.drop_pragma && (t.starts_with("pragma ") || t.contains("SPDX-License-Identifier")))
    });
    // Walk the cleaned lines against the surviving source lines: equal text (up to trailing
    // blanks) is the same line; a blank cleaned line stands for the next blank source line.
    let mut map = Vec::new();
    for line in text.lines() {
        let want = line.trim_end();
        let found = source.by_ref().find(|(_, l)| l.trim_end() == want);
        map.push(found.map_or_else(|| map.last().copied().unwrap_or(1), |(i, _)| i + 1));
    }
    (text, map)
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Code,
    LineComment,
    BlockComment,
    Str(char),
}

/// Removes `//` and `/* */` comments, leaving string literals (which may hold `//`, as URLs
/// do) untouched. A block comment spanning lines keeps its line breaks, so line numbers of the
/// code after it stay meaningful; an inline one becomes a space so tokens do not fuse.
pub fn strip_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    let mut state = State::Code;
    let mut block_had_newline = false;
    while let Some(c) = chars.next() {
        match state {
            State::Code => match (c, chars.peek()) {
                ('/', Some('/')) => {
                    chars.next();
                    state = State::LineComment;
                }
                ('/', Some('*')) => {
                    chars.next();
                    state = State::BlockComment;
                    block_had_newline = false;
                }
                ('"' | '\'', _) => {
                    out.push(c);
                    state = State::Str(c);
                }
                _ => out.push(c),
            },
            State::LineComment => {
                if c == '\n' {
                    out.push('\n');
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if c == '\n' {
                    out.push('\n');
                    block_had_newline = true;
                } else if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    if !block_had_newline {
                        out.push(' ');
                    }
                    state = State::Code;
                }
            }
            State::Str(quote) => {
                out.push(c);
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else if c == quote || c == '\n' {
                    // An unterminated literal ends at the line break, as solc reports it.
                    state = State::Code;
                }
            }
        }
    }
    out
}

/// Line endings to `\n`, no trailing blanks, at most one empty line in a row, no empty lines
/// at the start, exactly one line break at the end. Indentation is kept.
pub fn normalize_whitespace(code: &str) -> String {
    let unified = code.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(unified.len());
    let mut blank_run = 0usize;
    for line in unified.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if blank_run > 0 && !out.is_empty() {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Drops `pragma …;` statements and SPDX licence lines.
pub fn drop_pragma_lines(code: &str) -> String {
    code.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("pragma ") || t.contains("SPDX-License-Identifier"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Tokens for duplicate detection: runs of word characters (identifiers, keywords, numbers)
/// and single other characters; whitespace and layout do not matter. This is the tokenisation
/// whose 5-gram Jaccard reproduces cgt_dasp's published near-duplicate groups most closely.
pub fn lex(code: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut word_start: Option<usize> = None;
    for (i, c) in code.char_indices() {
        let is_word = c.is_alphanumeric() || c == '_';
        match (is_word, word_start) {
            (true, None) => word_start = Some(i),
            (true, Some(_)) => {}
            (false, start) => {
                if let Some(s) = start {
                    tokens.push(&code[s..i]);
                    word_start = None;
                }
                if !c.is_whitespace() {
                    tokens.push(&code[i..i + c.len_utf8()]);
                }
            }
        }
    }
    if let Some(s) = word_start {
        tokens.push(&code[s..]);
    }
    tokens
}
