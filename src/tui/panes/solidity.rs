//! Solidity highlighting for the contract viewer: comments, strings, numbers, keywords and
//! types. No maintained highlighter crate ships a Solidity grammar without a C toolchain
//! (syntect's bundled set has none; tree-sitter needs a compiled grammar), and the viewer only
//! needs token classes, so a small lexer does it.

use super::super::theme::Theme;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

const KEYWORDS: [&str; 40] = [
    "pragma",
    "solidity",
    "import",
    "contract",
    "interface",
    "library",
    "abstract",
    "is",
    "function",
    "modifier",
    "event",
    "emit",
    "struct",
    "enum",
    "mapping",
    "constructor",
    "fallback",
    "receive",
    "return",
    "returns",
    "if",
    "else",
    "for",
    "while",
    "do",
    "break",
    "continue",
    "require",
    "assert",
    "revert",
    "public",
    "private",
    "internal",
    "external",
    "view",
    "pure",
    "payable",
    "memory",
    "storage",
    "calldata",
];

const TYPES: [&str; 12] = [
    "address", "bool", "string", "bytes", "uint", "int", "uint256", "int256", "bytes32", "uint8",
    "uint128", "byte",
];

/// Lines of `code` with token styles, from line `skip`, at most `take` lines.
pub fn highlight(code: &str, theme: &Theme, skip: usize, take: usize) -> Vec<Line<'static>> {
    let mut in_block_comment = false;
    code.lines()
        .enumerate()
        .map(|(i, line)| {
            let spans = line_spans(line, theme, &mut in_block_comment);
            (i, spans)
        })
        .skip(skip)
        .take(take)
        .map(|(_, spans)| Line::from(spans))
        .collect()
}

fn line_spans(line: &str, theme: &Theme, in_block: &mut bool) -> Vec<Span<'static>> {
    let comment = theme.muted().add_modifier(Modifier::ITALIC);
    let mut spans = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut plain = String::new();
    let flush = |plain: &mut String, spans: &mut Vec<Span<'static>>| {
        if !plain.is_empty() {
            spans.push(Span::styled(std::mem::take(plain), theme.text()));
        }
    };
    while i < chars.len() {
        if *in_block {
            let start = i;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            if i < chars.len() {
                i += 2;
                *in_block = false;
            }
            spans.push(Span::styled(
                chars[start..i.min(chars.len())].iter().collect::<String>(),
                comment,
            ));
            continue;
        }
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(chars[i..].iter().collect::<String>(), comment));
            break;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            flush(&mut plain, &mut spans);
            *in_block = true;
            continue;
        }
        if c == '"' || c == '\'' {
            flush(&mut plain, &mut spans);
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
            spans.push(Span::styled(
                chars[start..i].iter().collect::<String>(),
                theme.fg("valid"),
            ));
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let style = if KEYWORDS.contains(&word.as_str()) {
                Some(theme.fg("title").add_modifier(Modifier::BOLD))
            } else if TYPES.contains(&word.as_str())
                || word.starts_with("uint")
                || word.starts_with("bytes")
            {
                Some(theme.fg("teacher"))
            } else if word.chars().all(|ch| ch.is_ascii_digit()) {
                Some(theme.fg("warning"))
            } else {
                None
            };
            match style {
                Some(s) => {
                    flush(&mut plain, &mut spans);
                    spans.push(Span::styled(word, s));
                }
                None => plain.push_str(&word),
            }
            continue;
        }
        plain.push(c);
        i += 1;
    }
    flush(&mut plain, &mut spans);
    spans
}
