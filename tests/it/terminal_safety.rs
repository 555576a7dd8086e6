//! Text output never prints a control character liftdeck did not write itself (issue 8 §1,
//! "Escapes cannot reach the operator's terminal"): names are refused at the door, and whatever
//! is already stored (an old database, a context value) is escaped on the way out.

use crate::common::*;
use std::process::{Command, Output};

fn liftdeck(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run liftdeck")
}

fn has_raw_escape(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == 0x1b || b == b'\r' || b == 0x07)
}

const TS: &str = "2026-11-01T12:00:00Z";

fn seeded_db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("shop.db");
    let mut lines = String::from(
        r#"{"type":"campaign","key":"c1","name":"plain","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"t","weight":50.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}"#,
    ) + "\n";
    for i in 0..40 {
        let arm = if i % 2 == 0 { "control" } else { "t" };
        // Half the units carry a device value that would clear an operator's screen.
        let device = if i % 4 < 2 {
            "mobile"
        } else {
            "\\u001b[2J\\u0007evil"
        };
        lines.push_str(&format!(
            "{{\"type\":\"assignment\",\"campaign\":\"c1\",\"unit\":\"u{i}\",\"arm\":\"{arm}\",\"propensity\":0.5,\"context\":{{\"device\":\"{device}\"}},\"ts\":\"{TS}\"}}\n"
        ));
    }
    ingest_with_cli(&db, &lines);
    db
}

#[test]
fn a_name_or_arm_key_with_a_control_character_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("new.db");
    for (name, arms) in [
        ("\u{1b}[2Jcleared", "control:50,coupon:50"),
        ("fine", "control:50,co\u{1b}[31mupon:50"),
    ] {
        let out = liftdeck(
            &db,
            &[
                "campaign", "create", "--key", "k", "--name", name, "--arms", arms,
            ],
        );
        assert!(!out.status.success(), "accepted {name:?} / {arms:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("control character"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !has_raw_escape(&out.stderr),
            "the refusal echoes the escape raw"
        );
    }
}

#[test]
fn stored_names_and_segment_values_are_escaped_in_every_text_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = seeded_db(&dir);
    // A database written before names were checked: put the escape in place directly.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "UPDATE campaigns SET name = ?1 WHERE key = 'c1'",
        ["\u{1b}]0;owned\u{7}\u{1b}[2Jname\rover"],
    )
    .expect("update");
    drop(conn);
    for args in [
        vec!["campaign", "list"],
        vec!["campaign", "show", "c1"],
        vec!["report", "ab", "c1", "--by", "device"],
        vec!["health", "--stale", "1000000h"],
    ] {
        let out = liftdeck(&db, &args);
        assert!(
            !has_raw_escape(&out.stdout) && !has_raw_escape(&out.stderr),
            "{args:?} printed a raw control character: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let list = liftdeck(&db, &["campaign", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("\\u{1b}[2Jname\\u{d}over"));
    let by = liftdeck(&db, &["report", "ab", "c1", "--by", "device"]);
    let text = String::from_utf8_lossy(&by.stdout);
    assert!(text.contains("segment \\u{1b}[2J\\u{7}evil"), "{text}");
    // JSON stays exact: the value parses back to the stored bytes.
    let json = liftdeck(&db, &["campaign", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(
        v[0]["spec"]["name"],
        "\u{1b}]0;owned\u{7}\u{1b}[2Jname\rover"
    );
}
