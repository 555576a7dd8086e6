//! `report ab` on an observational campaign says treatment was not randomised and points at
//! `report causal KEY --covariates ...`; an A/B test's report does not.

use crate::common::{cli_ok as ok, run_cli as run};
use std::fmt::Write as _;
use std::path::Path;

/// A campaign `key` of `kind` with 200 units, every fourth one treated, a few buying.
fn campaign(dir: &tempfile::TempDir, db: &Path, key: &str, kind: &str) {
    ok(&run(
        db,
        &[
            "campaign",
            "create",
            "--key",
            key,
            "--kind",
            kind,
            "--arms",
            "control:50,treated:50",
            "--control",
            "control",
        ],
    ));
    ok(&run(db, &["campaign", "start", key]));
    let mut s = String::new();
    for i in 0..200 {
        let arm = if i % 4 == 0 { "treated" } else { "control" };
        let propensity = if kind == "observational" {
            String::new()
        } else {
            r#""propensity":0.5,"#.to_string()
        };
        writeln!(
            s,
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i:04}","arm":"{arm}",{propensity}"context":{{"age":{}}},"ts":"2026-11-01T12:00:00Z"}}"#,
            20 + i % 40
        )
        .expect("write");
        if i % 5 == 0 {
            writeln!(
                s,
                r#"{{"type":"event","event_id":"e{i}","campaign":"{key}","unit":"u{i:04}","kind":"purchase","value":30,"cost":0,"ts":"2026-11-01T12:05:00Z"}}"#
            )
            .expect("write");
        }
    }
    let file = dir.path().join(format!("{key}.jsonl"));
    std::fs::write(&file, s).expect("write lines");
    ok(&run(db, &["ingest", file.to_str().expect("path")]));
}

#[test]
fn report_ab_on_an_observational_campaign_says_it_was_not_randomised() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("obs.db");
    campaign(&dir, &db, "mailing", "observational");
    let text = ok(&run(&db, &["report", "ab", "mailing"]));
    assert!(text.contains("treatment was not randomised"), "{text}");
    assert!(
        text.contains("report causal mailing --covariates"),
        "{text}"
    );
    let json = ok(&run(&db, &["report", "ab", "mailing", "--json"]));
    assert!(json.contains("treatment was not randomised"), "{json}");

    campaign(&dir, &db, "abtest", "ab");
    let text = ok(&run(&db, &["report", "ab", "abtest"]));
    assert!(!text.contains("not randomised"), "{text}");
}
