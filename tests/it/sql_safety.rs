//! The SQL rules of DESIGN.md, checked on the source itself: no SQL string literal outside
//! `src/store/`, and no SQL in `src/store/` built with `format!`/`write!`/`concat!` from a
//! runtime value.
//!
//! Some store code splices compile-time fragments (column lists from a field table, an enum's
//! SQL expression, a migration's version number). Such a macro call passes only under a marker
//! comment on the line(s) just above it:
//!
//! ```text
//! // sql-splice: constant            -- every argument is a SCREAMING_CASE const or a literal
//! // sql-splice: constant: n, p      -- and `n`, `p` were reviewed as built from constants only
//! ```
//!
//! The scanner checks each argument of the call (inline `{name}` and positional) against that
//! list, so a runtime value added later fails the test even under the marker; a marker with
//! no SQL-building call under it fails as stale. Values always travel as `?N` parameters.
//!
//! The scanner is a small lexer (comments, string, raw string and char literals), not a Rust
//! parser; its own tests below show that it catches the shapes it claims to.

use std::path::{Path, PathBuf};

/// Uppercase words that only SQL uses in this code base's strings. Case matters: UI text says
/// "select a campaign", SQL here is written in capitals (a lowercase query would slip through;
/// the house style keeps SQL keywords upper-case).
const SQL_WORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "PRAGMA", "DROP", "ALTER", "VALUES", "WHERE",
    "FROM", "JOIN", "UPSERT", "VACUUM", "ATTACH", "REINDEX", "ANALYZE",
];
/// Words that make a literal a SQL statement on their own; a fragment without one is SQL when
/// it holds two of SQL_WORDS (`FROM events WHERE`).
const STATEMENT_WORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "PRAGMA", "DROP", "ALTER", "VACUUM",
    "ATTACH", "REINDEX",
];
const MARKER: &str = "sql-splice: constant";
const BUILDERS: &[&str] = &["format!", "write!", "writeln!", "concat!", "format_args!"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    pub(crate) line: usize,
    /// Byte offsets of the literal in the source (quotes included).
    start: usize,
    end: usize,
    pub(crate) text: String,
}

/// The string literals of `src` (comments skipped), with the line each starts on.
pub(crate) fn literals(src: &str) -> Vec<Literal> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let line_at = |pos: usize| src[..pos].bytes().filter(|&c| c == b'\n').count() + 1;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if !ident_before(b, i) && matches!(b.get(i + 1), Some(b'"' | b'#')) => {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let body = j + 1;
                let end = find(b, body, &close).unwrap_or(b.len());
                out.push(Literal {
                    line: line_at(i),
                    start: i,
                    end: (end + close.len()).min(b.len()),
                    text: src[body..end].to_string(),
                });
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                out.push(Literal {
                    line: line_at(i),
                    start: i,
                    end: (end + 1).min(b.len()),
                    text: src[i + 1..end].to_string(),
                });
                i = end + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'', '"') or a lifetime ('a): skip a char literal
                // whole so its quote cannot open a string.
                if b.get(i + 1) == Some(&b'\\') {
                    i = find(b, i + 3, b"'").map_or(b.len(), |e| e + 1);
                } else if let Some(c) = src[i + 1..].chars().next() {
                    let after = i + 1 + c.len_utf8();
                    i = if b.get(after) == Some(&b'\'') {
                        after + 1
                    } else {
                        i + 1
                    };
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..b.len().saturating_sub(needle.len() - 1)).find(|&k| b[k..].starts_with(needle))
}

pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// A literal is SQL when it holds a statement keyword, or two SQL keywords (a fragment such
/// as `FROM events WHERE`), all in capitals.
pub(crate) fn is_sql(text: &str) -> bool {
    // `{UPDATE}` in a template is a Rust name being interpolated, not SQL.
    let text = &without_placeholders(text);
    let sql: Vec<&str> = words(text).filter(|w| SQL_WORDS.contains(w)).collect();
    words(text).any(|w| STATEMENT_WORDS.contains(&w)) || sql.len() >= 2
}

fn without_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[derive(Debug, PartialEq)]
struct Violation {
    line: usize,
    what: String,
}

/// SQL literals in a file outside `src/store/`.
fn sql_outside_store(src: &str) -> Vec<Violation> {
    literals(src)
        .into_iter()
        .filter(|l| is_sql(&l.text))
        .map(|l| Violation {
            line: l.line,
            what: format!("SQL string outside src/store/: {:?}", short(&l.text)),
        })
        .collect()
}

fn short(text: &str) -> String {
    text.chars().take(60).collect()
}

/// The marker's reviewed names on the comment lines just above `line` (1-based), if any.
fn marker_above(lines: &[&str], line: usize) -> Option<(usize, Vec<String>)> {
    let mut k = line.checked_sub(2)?;
    loop {
        let t = lines.get(k)?.trim();
        if !t.starts_with("//") {
            return None;
        }
        if let Some(at) = t.find(MARKER) {
            let rest = t[at + MARKER.len()..].trim();
            let names = rest
                .strip_prefix(':')
                .map(|r| split_args(r.split(" -- ").next().unwrap_or("")))
                .unwrap_or_default();
            return Some((k + 1, names));
        }
        k = k.checked_sub(1)?;
    }
}

/// Splits `args` (the text after the template) at top-level commas.
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur, mut quoted) = (0i32, String::new(), false);
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The names a template interpolates inline: `{name}`, `{name:>8}` (not `{}`, `{0}`, `{{`).
fn inline_names(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template.replace("{{", "").replace("}}", "");
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        let name = inner.split(':').next().unwrap_or("").trim();
        if !name.is_empty() && !name.chars().all(|c| c.is_ascii_digit()) {
            out.push(name.to_string());
        }
        rest = rest[open + close + 1..].to_string();
    }
    out
}

fn is_string_literal(a: &str) -> bool {
    a.starts_with('"') || (a.starts_with('r') && a.contains('"'))
}

/// `name = expr` (not `a == b`) as a formatting macro's named argument.
fn named_arg(arg: &str) -> Option<(&str, &str)> {
    let (name, expr) = arg.split_once('=')?;
    let name = name.trim();
    let ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident && !expr.starts_with('=')).then(|| (name, expr.trim()))
}

fn is_constant(arg: &str, reviewed: &[String]) -> bool {
    let arg = arg.strip_prefix('&').unwrap_or(arg).trim();
    // A const, possibly through a module path (`rollup_sql::RAW_UNITS_CTE`).
    let last = arg.rsplit("::").next().unwrap_or(arg);
    let path_ok = arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    let screaming = path_ok
        && last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && last
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let literal = arg.starts_with('"')
        || arg.starts_with("r#\"")
        || arg.chars().all(|c| c.is_ascii_digit() || c == '_');
    screaming || literal || reviewed.iter().any(|r| r == arg)
}

/// SQL built by a formatting macro in a store file without a valid marker, and stale markers.
fn sql_built_from_runtime_values(src: &str) -> Vec<Violation> {
    let lines: Vec<&str> = src.lines().collect();
    let lits = literals(src);
    let mut out = Vec::new();
    let mut used_markers = Vec::new();
    for lit in &lits {
        if !is_sql(&lit.text) {
            continue;
        }
        // The literal is a macro's template when `name!(` (or `name!(out,`) comes just before it.
        let before = src[..lit.start].trim_end();
        let before = before.strip_suffix('(').map(str::trim_end).or_else(|| {
            // write!(out, "..."): the template follows the destination argument.
            let comma = before.strip_suffix(',')?;
            let open = comma.rfind('(')?;
            Some(comma[..open].trim_end())
        });
        let Some(before) = before else { continue };
        let Some(builder) = BUILDERS.iter().find(|m| before.ends_with(*m)) else {
            continue;
        };
        let call_line = lines
            .iter()
            .take(lit.line)
            .rposition(|l| l.contains(builder))
            .map_or(lit.line, |k| k + 1);
        // The arguments run from the end of the template to the call's closing parenthesis.
        let mut depth = 1i32;
        let mut close = lit.end;
        for (k, c) in src[lit.end..].char_indices() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = lit.end + k;
                break;
            }
        }
        let mut args: Vec<String> = inline_names(&lit.text);
        if builder == &"concat!" {
            // concat! joins literals only; any non-literal piece is a runtime splice.
            args.extend(
                split_args(&src[lit.end..close])
                    .into_iter()
                    .filter(|a| !is_string_literal(a)),
            );
        } else {
            let tail =
                src[lit.end..close].trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            // `name = expr` binds an inline `{name}`: the expression is what gets spliced.
            for a in split_args(tail) {
                match named_arg(&a) {
                    Some((name, expr)) => {
                        args.retain(|x| x != name);
                        args.push(expr.to_string());
                    }
                    None => args.push(a),
                }
            }
        }
        if args.is_empty() {
            continue; // a constant template with nothing spliced
        }
        match marker_above(&lines, call_line) {
            Some((marker_line, reviewed)) => {
                used_markers.push(marker_line);
                for a in &args {
                    if !is_constant(a, &reviewed) {
                        out.push(Violation {
                            line: lit.line,
                            what: format!(
                                "{builder} splices `{a}` into SQL; it is not a SCREAMING_CASE \
                                 const, a literal, or a name reviewed on the `{MARKER}` line"
                            ),
                        });
                    }
                }
                for r in &reviewed {
                    if !args
                        .iter()
                        .any(|a| a.strip_prefix('&').unwrap_or(a).trim() == r)
                    {
                        out.push(Violation {
                            line: marker_line,
                            what: format!(
                                "marker reviews `{r}`, which the call below does not splice"
                            ),
                        });
                    }
                }
            }
            None => out.push(Violation {
                line: lit.line,
                what: format!(
                    "{builder} builds SQL from {:?}; pass values as ?N parameters, or mark a \
                     compile-time splice with `// {MARKER}[: reviewed names]`",
                    args
                ),
            }),
        }
    }
    for (k, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("//")
            && l.contains(MARKER)
            && !l.contains("//!")
            && !used_markers.contains(&(k + 1))
        {
            out.push(Violation {
                line: k + 1,
                what: "stale `sql-splice: constant` marker: no SQL-building call under it".into(),
            });
        }
    }
    out
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sql_lives_in_store_and_is_never_formatted_from_runtime_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = root.join("store");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut problems = Vec::new();
    let mut store_files = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).expect("read source");
        let found = if f.starts_with(&store) {
            store_files += 1;
            sql_built_from_runtime_values(&src)
        } else {
            sql_outside_store(&src)
        };
        let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(f);
        problems.extend(
            found
                .into_iter()
                .map(|v| format!("{}:{}: {}", rel.display(), v.line, v.what)),
        );
    }
    assert!(store_files > 10, "src/store/ has only {store_files} files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_lexer_sees_strings_not_comments_or_chars() {
    let src = "// SELECT in a comment\n/* DELETE FROM x */ let c = '\"'; let l: &'a str;\n\
               let s = \"SELECT 1\"; let r = r#\"a \"quoted\" b\"#;";
    let lits = literals(src);
    let texts: Vec<&str> = lits.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["SELECT 1", "a \"quoted\" b"]);
    assert_eq!(lits[0].line, 3);
}

#[test]
fn sql_outside_store_is_caught_and_english_is_not() {
    assert_eq!(
        sql_outside_store("let q = \"SELECT count(*) FROM events\";").len(),
        1
    );
    assert_eq!(
        sql_outside_store("let q = r#\"DELETE FROM events\"#;").len(),
        1
    );
    assert_eq!(
        sql_outside_store("x(\"PRAGMA journal_mode = WAL\")").len(),
        1
    );
    assert!(sql_outside_store("x(\"select a campaign from the list\")").is_empty());
    assert!(sql_outside_store("x(\"Press Enter to update\")").is_empty());
    assert!(sql_outside_store("// SELECT * FROM t\nlet a = 1;").is_empty());
}

#[test]
fn a_runtime_value_formatted_into_sql_is_caught() {
    let bad = [
        "let sql = format!(\"SELECT * FROM t WHERE key = '{key}'\");",
        "let sql = format!(\"DELETE FROM t WHERE id = {}\", id);",
        "write!(out, \"INSERT INTO t VALUES ({})\", v)?;",
        "let s = concat!(\"SELECT \", name);",
        // Under the marker, a runtime argument still fails.
        "// sql-splice: constant\nlet s = format!(\"SELECT {COLS} FROM t WHERE k = {k}\");",
        // A reviewed name does not cover another one.
        "// sql-splice: constant: cols\nlet s = format!(\"SELECT {} FROM {}\", cols, table);",
        // A named argument is checked by its expression, not its name.
        "// sql-splice: constant: b\nlet s = format!(\"SELECT {b} FROM t\", b = key);",
    ];
    for b in bad {
        assert!(
            !sql_built_from_runtime_values(b).is_empty(),
            "not caught: {b}"
        );
    }
}

#[test]
fn constant_splices_under_a_marker_pass_and_stale_markers_fail() {
    let good = [
        "// sql-splice: constant\nlet s = format!(\"SELECT {CAMPAIGN_COLUMNS} FROM campaigns\");",
        "// sql-splice: constant: columns()\nlet s = format!(\"SELECT {} FROM t\", columns());",
        "// sql-splice: constant: i + 1 -- PRAGMA takes no parameter\n\
         tx.execute_batch(&format!(\"PRAGMA user_version = {}\", i + 1))?;",
        "let s = format!(\"SELECT 1 FROM t WHERE a = ?1\");",
        "let msg = format!(\"campaign {key} not found\");",
        "// sql-splice: constant: f()\nlet s = format!(\"SELECT {b} FROM t\", b = f());",
        "// sql-splice: constant\nlet s = format!(\"SELECT {} FROM t\", m::COLS);",
        "let t = format!(\" weights {UPDATE} {n} updates\");",
    ];
    for g in good {
        assert_eq!(sql_built_from_runtime_values(g), [], "refused: {g}");
    }
    let stale = "// sql-splice: constant\nlet a = 1;";
    assert_eq!(sql_built_from_runtime_values(stale).len(), 1);
    let over_reviewed = "// sql-splice: constant: x\nlet s = format!(\"SELECT {A} FROM t\");";
    assert_eq!(sql_built_from_runtime_values(over_reviewed).len(), 1);
}
