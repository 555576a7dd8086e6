//! `liftdeck health`: OK, stale and SRM verdicts with their exit codes.

use crate::common::*;
use liftdeck::app::health::{check, overall, Severity};
use liftdeck::lines::Format;
use std::process::Command;

/// A running 50/50 campaign whose units are split `control`/`treat`, every unit with an event
/// at `ts` (RFC 3339).
fn campaign_lines(key: &str, control: usize, treat: usize, ts: &str) -> String {
    let mut s = format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"t","weight":50.0}}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}}"#
    );
    s.push('\n');
    for i in 0..control + treat {
        let arm = if i < control { "control" } else { "t" };
        s.push_str(&format!(
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"{ts}"}}"#
        ));
        s.push('\n');
        s.push_str(&format!(
            r#"{{"type":"event","event_id":"{key}-e{i}","campaign":"{key}","unit":"u{i}","kind":"exposure","ts":"{ts}"}}"#
        ));
        s.push('\n');
    }
    s
}

const TS: &str = "2026-11-01T12:00:00Z";
const TS_MICROS: i64 = 1_793_534_400_000_000;

#[test]
fn fresh_fair_campaign_is_ok_stale_is_a_warning_broken_split_is_critical() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "h.db");
    ingest_str(
        &mut store,
        &campaign_lines("fair", 500, 510, TS),
        Format::Jsonl,
        1000,
    );
    let minute = 60_000_000;
    let h = check(&store, TS_MICROS + minute, 15 * minute).expect("health");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].severity, Severity::Ok, "{:?}", h[0].findings);
    let h = check(&store, TS_MICROS + 20 * minute, 15 * minute).expect("health");
    assert_eq!(h[0].severity, Severity::Warning);
    assert_eq!(h[0].findings[0].check, "stale");
    ingest_str(
        &mut store,
        &campaign_lines("broken", 600, 400, TS),
        Format::Jsonl,
        1000,
    );
    let h = check(&store, TS_MICROS + minute, 15 * minute).expect("health");
    assert_eq!(overall(&h), Severity::Critical);
    let broken = h.iter().find(|c| c.campaign == "broken").expect("listed");
    assert!(
        broken.findings.iter().any(|f| f.check == "srm"),
        "{broken:?}"
    );
}

#[test]
fn cli_exits_2_on_srm_and_prints_one_line_per_campaign() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("cli.db");
    let file = dir.path().join("broken.jsonl");
    std::fs::write(&file, campaign_lines("broken", 600, 400, TS)).expect("write");
    let ingest = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .arg(&file)
        .output()
        .expect("ingest");
    assert!(ingest.status.success());
    let out = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["health", "--stale", "1000000h"])
        .output()
        .expect("health");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("CRIT broken units=1000: SRM"), "{text}");
    let json = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["health", "--json", "--stale", "1000000h"])
        .output()
        .expect("health");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v[0]["severity"], "critical");
}

fn report_breached(db: &std::path::Path, key: &str) -> bool {
    let out = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(["report", "ab", key, "--json"])
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v["guardrails"].as_array().expect("guardrail rows").clone();
    assert_eq!(rows.len(), 1, "{v}");
    rows[0]["breached"].as_bool().expect("bool")
}

#[test]
fn health_honours_the_guardrail_margin_report_ab_honours() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("margin.db");
    let text = guardrail_lines("tolerant", "running", r#"{"guardrail_margin":0.2}"#)
        + &guardrail_lines("strict", "running", "{}");
    ingest_with_cli(&db, &text);
    assert!(!report_breached(&db, "tolerant"));
    assert!(report_breached(&db, "strict"));
    let store = liftdeck::store::Store::open_read_only(&db).expect("open");
    let h = check(&store, TS_MICROS + 60_000_000, 15 * 60_000_000).expect("health");
    let of = |key: &str| h.iter().find(|c| c.campaign == key).expect("listed");
    let tolerant = of("tolerant");
    assert!(
        tolerant.findings.iter().all(|f| f.check != "guardrail"),
        "report ab says not breached, health must agree: {tolerant:?}"
    );
    assert_eq!(tolerant.severity, Severity::Ok, "{tolerant:?}");
    let strict = of("strict");
    assert!(
        strict.findings.iter().any(|f| f.check == "guardrail"),
        "{strict:?}"
    );
    assert_eq!(strict.severity, Severity::Critical);
}

#[test]
fn a_paused_campaign_with_a_breached_guardrail_is_still_critical() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "paused.db");
    ingest_str(
        &mut store,
        &guardrail_lines("paused", "paused", "{}"),
        Format::Jsonl,
        1000,
    );
    // A day later: a running campaign would be stale, a paused one is not expected to move.
    let day = 86_400_000_000;
    let h = check(&store, TS_MICROS + day, 15 * 60_000_000).expect("health");
    assert_eq!(h.len(), 1, "a paused campaign is checked");
    assert_eq!(h[0].status, liftdeck::domain::Status::Paused);
    assert_eq!(h[0].severity, Severity::Critical, "{:?}", h[0].findings);
    assert!(h[0].findings.iter().any(|f| f.check == "guardrail"));
    assert!(h[0].findings.iter().all(|f| f.check != "stale"));
    assert!(liftdeck::app::health::format_lines(&h).starts_with("CRIT paused (paused) units=1000"));
}
