//! Text that came from outside (campaign names, unit ids, reject messages, raw lines) made
//! safe to print on an operator's terminal. Pure.
//!
//! Every control character (C0 including tab, CR and LF; DEL; C1) and every Unicode bidi or
//! line-separator control is written as a Rust-style escape, `\u{1b}` for ESC, so an
//! `ESC [2J` in a name cannot clear the screen and a CR cannot overwrite a line. Everything
//! else, including backslashes and non-ASCII text, is printed as is. JSON output is not
//! escaped this way: it is exact, and JSON's own escaping makes it safe.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character escaped as `\u{XX}`; borrowed when there is none.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole text output liftdeck composed itself: every control character escaped as in
/// [`escape_control`] except the newlines that end its own lines. The last line of defence
/// for anything that reached a table without field-level escaping.
pub fn escape_output(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for line in s.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&escape_control(body));
        out.push_str(newline);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_keeps_its_own_newlines_and_escapes_every_other_control() {
        let text = "name \u{1b}[2J\trow\r\nnext \u{9b}1m\n";
        let safe = super::escape_output(text);
        assert_eq!(safe, "name \\u{1b}[2J\\u{9}row\\u{d}\nnext \\u{9b}1m\n");
        assert!(!safe.chars().any(|c| c.is_control() && c != '\n'));
        assert!(matches!(
            super::escape_output("plain\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(
            escape_control("coupon-10 é 😀 \\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_control("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            escape_control("x\ry\u{7}\u{7f}\u{9b}"),
            "x\\u{d}y\\u{7}\\u{7f}\\u{9b}"
        );
        assert_eq!(escape_control("tab\there\n"), "tab\\u{9}here\\u{a}");
        assert_eq!(escape_control("\u{202e}evil"), "\\u{202e}evil");
        // Nothing unsafe survives, whatever the input.
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = c.to_string();
            let e = escape_control(&s);
            assert!(!e.chars().any(is_unsafe), "{c:?} -> {e:?}");
        }
    }
}
