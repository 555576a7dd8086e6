//! A database whose data plane is a ClickHouse warehouse keeps its assignment and event tables
//! empty, so a store function that reads them must either answer from the warehouse or refuse
//! (`StoreError::NotOnWarehouse`); reading the empty tables would be a silent wrong answer
//! (no units, no revenue). This test checks that rule on the source: every function in
//! `src/store/` whose SQL names a data-plane table mentions the warehouse (it routes or calls
//! `sqlite_plane_only`), or carries a `// data-plane:` comment saying why it is safe.

use super::sql_safety::{is_sql, literals, rust_files, words};
use std::path::Path;

/// The SQLite tables a warehouse database leaves empty.
const DATA_PLANE: &[&str] = &[
    "assignments",
    "events",
    "unit_totals",
    "unit_custom_totals",
    "arm_rollups",
    "arm_custom_rollups",
    "arm_buckets",
    "arm_period_rollups",
];

/// Files exempt as a whole, with the reason.
const EXEMPT: &[(&str, &str)] = &[
    (
        "batch.rs",
        "the SQLite writer: apply_part sends a warehouse batch to batch_warehouse first",
    ),
    ("migrate.rs", "schema migrations of the file itself"),
    (
        "shell_baseline.rs",
        "the sqlite3 baseline's own scratch file",
    ),
];

/// What marks a function as routed or refusing.
const ROUTED: &[&str] = &["sqlite_plane_only(", "self.warehouse", "// data-plane:"];

/// (function name, first line, its text) for each `fn` of `src`, up to a `mod tests`.
fn functions(src: &str) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("mod tests") || t.starts_with("#[cfg(test)]") {
            if let Some(last) = out.last_mut() {
                last.2 = i;
            }
            break;
        }
        let t = t
            .strip_prefix("pub(super) ")
            .or_else(|| t.strip_prefix("pub(crate) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix("fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(last) = out.last_mut() {
                last.2 = i;
            }
            // A doc comment or attribute right above belongs to this function.
            let mut start = i;
            while start > 0 && lines[start - 1].trim_start().starts_with("//") {
                start -= 1;
            }
            out.push((name, start + 1, lines.len()));
        }
    }
    out
}

/// The functions of one file that read a data-plane table without routing.
fn unrouted(src: &str) -> Vec<String> {
    let lines: Vec<&str> = src.lines().collect();
    let sql: Vec<_> = literals(src)
        .into_iter()
        .filter(|l| is_sql(&l.text) && words(&l.text).any(|w| DATA_PLANE.contains(&w)))
        .collect();
    let mut out = Vec::new();
    for (name, first, end) in functions(src) {
        let body = lines[first - 1..end].join("\n");
        let reads = sql.iter().any(|l| l.line >= first && l.line <= end);
        if reads && !ROUTED.iter().any(|m| body.contains(m)) {
            out.push(format!("{name} (line {first})"));
        }
    }
    out
}

#[test]
fn every_store_read_of_the_data_plane_routes_to_the_warehouse_or_refuses() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    rust_files(&store, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&store).unwrap_or(f);
        if rel.starts_with("warehouse") || EXEMPT.iter().any(|(name, _)| rel == Path::new(name)) {
            continue;
        }
        checked += 1;
        let src = std::fs::read_to_string(f).expect("read source");
        for fun in unrouted(&src) {
            problems.push(format!("src/store/{}: {fun}", rel.display()));
        }
    }
    assert!(checked > 15, "checked only {checked} files");
    assert!(
        problems.is_empty(),
        "these read SQLite's data-plane tables with no warehouse route or refusal:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_an_unrouted_read_and_passes_a_refusal() {
    let bad = "impl Store {\n    pub fn units(&self) -> i64 {\n        \
               self.conn.query_row(\"SELECT COUNT(*) FROM assignments\", [], |r| r.get(0))\n    \
               }\n}\n";
    assert_eq!(unrouted(bad), vec!["units (line 2)".to_string()]);
    let good = bad.replace(
        "{\n        self",
        "{\n        self.sqlite_plane_only(\"x\")?;\n        self",
    );
    assert!(unrouted(&good).is_empty());
    let noted = bad.replace(
        "    pub fn",
        "    // data-plane: only ever called on a file without a warehouse\n    pub fn",
    );
    assert!(unrouted(&noted).is_empty());
    let other = bad.replace("assignments", "campaigns");
    assert!(unrouted(&other).is_empty());
}
