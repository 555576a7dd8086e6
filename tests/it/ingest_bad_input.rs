//! The bad-input corpus under fixtures/bad/: every broken line is rejected with the expected
//! named reason and line number, valid lines beside it are kept, and nothing half-applies.

use crate::common::*;
use std::process::Command;

struct Expected {
    file: String,
    line: u64,
    reason: String,
    detail: String,
}

fn expectations() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("bad/expected.tsv")).expect("expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "bad expectation line: {l}");
            Expected {
                file: f[0].into(),
                line: f[1].parse().expect("line number"),
                reason: f[2].into(),
                detail: f[3].into(),
            }
        })
        .collect()
}

#[test]
fn every_bad_line_is_rejected_with_its_reason_and_line() {
    let expected = expectations();
    let mut files: Vec<String> = expected.iter().map(|e| e.file.clone()).collect();
    files.dedup();
    // Every corpus file has expectations, and every expectation names a corpus file.
    let on_disk: Vec<String> = std::fs::read_dir(fixture("bad"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.tsv" && n != "setup.jsonl")
        .collect();
    for f in &on_disk {
        assert!(files.contains(f), "{f} has no expectations");
    }
    for file in &files {
        let dir = tempfile::tempdir().expect("tmp");
        let (_, mut store) = temp_db(&dir, "bad.db");
        let setup = ingest_file(&mut store, &fixture("bad/setup.jsonl"));
        assert_eq!(
            setup.rejected, 0,
            "setup must be clean: {:?}",
            setup.samples
        );
        let summary = ingest_file(&mut store, &fixture(&format!("bad/{file}")));
        let mine: Vec<&Expected> = expected.iter().filter(|e| &e.file == file).collect();
        let got: Vec<(u64, &str, &str)> = summary
            .samples
            .iter()
            .map(|(l, e)| (*l, e.reason.code(), e.detail.as_str()))
            .collect();
        assert_eq!(got.len(), mine.len(), "{file}: got {got:#?}");
        for (e, g) in mine.iter().zip(&got) {
            assert_eq!((e.line, e.reason.as_str()), (g.0, g.1), "{file}: {g:?}");
            assert!(
                g.2.contains(&e.detail),
                "{file} line {}: `{}` lacks `{}`",
                g.0,
                g.2,
                e.detail
            );
        }
        // The rejects table holds the same lines with their raw text.
        let rejects = store.rejects(100).expect("rejects");
        assert_eq!(rejects.len(), mine.len(), "{file}");
        assert!(rejects.iter().all(|r| r.source.ends_with(file.as_str())));
        // Everything that was accepted left consistent rollups.
        assert_eq!(
            summary.accepted + summary.rejected + summary.duplicates,
            summary.lines
        );
        assert_rollups_consistent(&store);
    }
}

#[test]
fn valid_lines_next_to_bad_ones_are_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "mixed.db");
    ingest_file(&mut store, &fixture("bad/setup.jsonl"));
    let s = ingest_file(&mut store, &fixture("bad/bad_rows.csv"));
    assert_eq!((s.accepted, s.rejected), (1, 3));
    let arms = store.arm_summaries("shop-ab").expect("arms");
    let coupon = &arms[1].rollup;
    assert_eq!((coupon.purchases, coupon.conversions), (1, 1));
    assert_eq!((coupon.revenue_sum, coupon.cost_sum), (12.5, 1.25));
    // A custom kind declared on the campaign is accepted and counted per unit.
    let s = ingest_file(&mut store, &fixture("bad/unknown_kind.jsonl"));
    assert_eq!((s.accepted, s.rejected), (1, 1));
    assert_eq!(
        store.arm_summaries("shop-ab").expect("arms")[0]
            .rollup
            .custom_events,
        1
    );
    assert_rollups_consistent(&store);
}

#[test]
fn cli_names_file_line_and_field_and_exits_3() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("cli.db");
    let run = |file: &str| {
        Command::new(bin())
            .args(["--db", db.to_str().expect("utf8"), "ingest", file])
            .output()
            .expect("run liftdeck")
    };
    let setup = run(fixture("bad/setup.jsonl").to_str().expect("utf8"));
    assert_eq!(
        setup.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let bad = fixture("bad/missing_field.jsonl");
    let out = run(bad.to_str().expect("utf8"));
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} line 1: missing field `unit`", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("4 rejected"), "{stderr}");
}

#[test]
fn the_readme_table_lists_every_reject_reason() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    for r in liftdeck::lines::RejectReason::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", r.code())),
            "{} missing",
            r.code()
        );
    }
}
