//! Text for people: server-provided strings made safe for a terminal, plurals, and writes
//! to stderr that survive a closed or broken pipe.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// `text` with every character that could move the cursor, recolour or retitle a terminal,
/// or break a line or a table, written as a visible escape: `\n`, `\r`, `\t`, `\u{1b}`.
///
/// Desktop names, fail reasons and error messages come from the server; printed raw, an
/// `ESC [` sequence in one could rewrite what the user sees, or hide a failure. Escaped are
/// the C0 and C1 controls and DEL, the Unicode line and paragraph separators, and the
/// bidirectional overrides and isolates (which can make text read differently from what it
/// is). A backslash is left alone: the escapes are for reading, not for parsing back, and
/// `--output json` keeps the exact strings.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// [`escape_controls`] of an optional value, `-` for a missing one.
pub fn cell(value: Option<&str>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed("-"), escape_controls)
}

/// `1 poll`, `2 polls`, `0 polls`.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// `A`, `A and B`, `A, B and C`.
pub fn and_list(items: &[impl AsRef<str>]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

/// Writes `line` and a newline to stderr.
///
/// Unlike `eprintln!`, never panics: with stderr closed or its reader gone
/// (`wks-wait … 2>&1 | head -n2`), nobody is left to read a line, and the exit code still
/// tells the outcome.
pub fn eprint_line(line: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_all(line.as_bytes())
        .and_then(|()| stderr.write_all(b"\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "desktop-0001 (user-0001): WKS.0181 quota exceeded — 配额 \\ \"ok\"";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn controls_are_visible_escapes() {
        for (raw, shown) in [
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
            ("title\u{1b}]0;pwned\u{7}", "title\\u{1b}]0;pwned\\u{7}"),
            ("over\rwrite", "over\\rwrite"),
            ("two\nlines\tand tab", "two\\nlines\\tand tab"),
            ("c1 \u{9b}31m csi", "c1 \\u{9b}31m csi"),
            ("nul\0 del\u{7f}", "nul\\u{0} del\\u{7f}"),
            ("bidi \u{202e}gnp.exe", "bidi \\u{202e}gnp.exe"),
            ("isolate \u{2066}x\u{2069}", "isolate \\u{2066}x\\u{2069}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
        ] {
            assert_eq!(escape_controls(raw), shown, "{raw:?}");
        }
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some("a\u{7}")), "a\\u{7}");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0u32, "poll"), "0 polls");
        assert_eq!(plural(1u32, "request"), "1 request");
        assert_eq!(plural(2u64, "desktop"), "2 desktops");
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(and_list(&[] as &[&str]), "");
        assert_eq!(and_list(&["A"]), "A");
        assert_eq!(and_list(&["A", "B"]), "A and B");
        assert_eq!(and_list(&["A", "B", "C"]), "A, B and C");
    }
}
