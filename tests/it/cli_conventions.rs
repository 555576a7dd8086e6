//! What scripts rely on: the exit-code table (clap's errors included), `--json` on every
//! scripted command with JSON errors, RFC 3339 timestamps and string seeds in JSON, exports
//! that survive a JSON tool reading numbers as doubles, one cause per error message, and
//! draft campaigns that can be edited and deleted.

use crate::common::*;
use liftdeck::store::Store;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .env_remove("LIFTDECK_DB")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run liftdeck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// A running two-arm campaign `c` with a seed above 2^53 and `units` assigned units.
fn running_campaign(db: &Path, units: usize) {
    let seed = (u64::MAX - 12_345).to_string();
    let out = run(
        db,
        &[
            "campaign", "create", "--key", "c", "--arms", "a:1,b:1", "--seed", &seed,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run(db, &["campaign", "start", "c"]).status.success());
    for i in 0..units {
        let out = run(db, &["assign", "c", &format!("u{i}")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn clap_errors_are_usage_errors_and_help_succeeds() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("x.db");
    for args in [
        vec!["nosuch"],
        vec!["health", "--bogus"],
        vec!["health", "--stale", "soon"],
        vec!["campaign"],
        vec!["power", "--mde", "x"],
    ] {
        let out = run(&db, &args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
    for args in [vec!["--help"], vec!["health", "--help"], vec!["--version"]] {
        let out = run(&db, &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
    let help = stdout(&run(&db, &["--help"]));
    assert!(help.contains("77 refused by --read-only"), "{help}");
}

#[test]
fn every_scripted_command_documents_json_in_its_help() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("x.db");
    for cmd in [
        vec!["verify"],
        vec!["power"],
        vec!["health"],
        vec!["assign"],
        vec!["campaign", "create"],
        vec!["campaign", "list"],
        vec!["campaign", "show"],
        vec!["campaign", "start"],
        vec!["campaign", "pause"],
        vec!["campaign", "stop"],
        vec!["campaign", "edit"],
        vec!["campaign", "delete"],
        vec!["report", "ab"],
        vec!["report", "causal"],
        vec!["train"],
        vec!["forecast"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = stdout(&run(&db, &args));
        assert!(
            help.contains("--json"),
            "{cmd:?} --help lacks --json:\n{help}"
        );
        assert!(
            help.contains("RFC 3339"),
            "{cmd:?}: the conventions are stated"
        );
    }
}

#[test]
fn with_json_an_error_is_a_json_object_on_stdout_and_text_on_stderr() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.db");
    let out = run(&missing, &["campaign", "list", "--json"]);
    assert_eq!(out.status.code(), Some(66));
    let v = json(&out);
    assert_eq!(v["error"]["code"], 66);
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("no database at")));
    assert!(stderr(&out).contains("no database at"));
    let out = run(&missing, &["health", "--json", "--stale", "soon"]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(json(&out)["error"]["code"], 64);
    // Without --json, stdout stays empty on error.
    let out = run(&missing, &["campaign", "list"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn json_timestamps_are_rfc3339_and_seeds_are_strings() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    running_campaign(&db, 3);
    let ev = dir.path().join("ev.jsonl");
    std::fs::write(
        &ev,
        r#"{"type":"event","event_id":"e1","campaign":"c","unit":"u0","kind":"purchase","value":5,"cost":0,"ts":"2026-11-01T12:00:00Z"}"#,
    )
    .expect("write");
    assert!(run(&db, &["ingest", &ev.display().to_string()])
        .status
        .success());
    let list = json(&run(&db, &["campaign", "list", "--json"]));
    let c = &list[0];
    assert_eq!(c["spec"]["seed"], (u64::MAX - 12_345).to_string());
    for field in ["created_at", "started_at"] {
        let t = c[field].as_str().unwrap_or_else(|| panic!("{field}: {c}"));
        assert!(liftdeck::clock::parse_rfc3339(t).is_some(), "{field}: {t}");
    }
    assert!(c["stopped_at"].is_null());
    let show = json(&run(&db, &["campaign", "show", "c", "--json"]));
    assert_eq!(show["campaign"]["spec"]["seed"], c["spec"]["seed"]);
    let last: Vec<&str> = show["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .filter_map(|a| a["rollup"]["last_event_ts"].as_str())
        .collect();
    assert_eq!(last, ["2026-11-01T12:00:00Z"], "{show}");
    let health = json(&run(&db, &["health", "--json", "--stale", "1000000h"]));
    assert_eq!(health[0]["last_event"], "2026-11-01T12:00:00Z", "{health}");
}

/// What jq 1.6 does to a JSON line: every number becomes a double.
fn numbers_as_doubles(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_doubles).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, numbers_as_doubles(v)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn an_export_read_with_doubles_reproduces_the_same_assignments() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src.db");
    running_campaign(&src, 8);
    let export = run(&src, &["export", "c"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let mangled: String = stdout(&export)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("line");
            numbers_as_doubles(v).to_string() + "\n"
        })
        .collect();
    let file = dir.path().join("through-jq.jsonl");
    std::fs::write(&file, mangled).expect("write");
    let dst = dir.path().join("dst.db");
    let out = run(&dst, &["ingest", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (a, b) = (
        Store::open(&src).expect("src"),
        Store::open(&dst).expect("dst"),
    );
    assert_eq!(
        a.campaign("c").expect("c").0.spec.seed,
        b.campaign("c").expect("c").0.spec.seed,
        "the seed survived"
    );
    assert_same_rollups(&a, &b);
    drop((a, b));
    // New units land on the same arms in both: the hash decision depends on the seed.
    for i in 100..140 {
        let unit = format!("n{i}");
        let x = stdout(&run(&src, &["assign", "c", &unit]));
        let y = stdout(&run(&dst, &["assign", "c", &unit]));
        assert_eq!(x, y, "unit {unit}");
    }
}

#[test]
fn a_cause_is_printed_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("garbage.db");
    std::fs::write(&db, b"not sqlite at all\n".repeat(100)).expect("write");
    let out = run(&db, &["campaign", "list"]);
    assert_eq!(out.status.code(), Some(65));
    let err = stderr(&out);
    assert_eq!(err.matches("file is not a database").count(), 1, "{err}");
}

#[test]
fn export_into_a_closed_pipe_exits_0_quietly_in_both_formats() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "big.db");
    ingest_str(
        &mut store,
        &sim_jsonl(5, 3000),
        liftdeck::lines::Format::Jsonl,
        10_000,
    );
    drop(store);
    for format in ["jsonl", "csv"] {
        let mut child = Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(["export", "coupon-10", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut head = [0u8; 100];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut head)
            .expect("first bytes");
        // The reader is gone now (`| head`); the export must notice and stop quietly.
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{format}: {}", stderr(&out));
    }
}

#[test]
fn an_arm_without_a_weight_or_with_an_unbounded_one_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("w.db");
    let out = run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "w",
            "--arms",
            "control:50,coupon",
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("`coupon`"), "{}", stderr(&out));
    let out = run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "w",
            "--arms",
            "a:1e308,b:1e308",
        ],
    );
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("finite"), "{}", stderr(&out));
    let out = run(
        &db,
        &["campaign", "create", "--key", "w", "--arms", "a:0,b:1"],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn a_draft_can_be_edited_and_deleted_with_an_audit_trail_and_nothing_else_can() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("e.db");
    let out = run(
        &db,
        &[
            "campaign", "create", "--key", "typo", "--arms", "a:1,b:1", "--name", "Tpyo",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &db,
        &[
            "campaign",
            "edit",
            "typo",
            "--name",
            "Typo fixed",
            "--arms",
            "control:60,t:40",
            "--offer",
            "t:value=10",
            "--traffic",
            "0.5",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let edited = json(&out);
    assert_eq!(edited["definition"]["name"], "Typo fixed");
    let store = Store::open(&db).expect("open");
    let (c, arms) = store.campaign("typo").expect("campaign");
    assert_eq!(c.spec.name, "Typo fixed");
    assert_eq!(
        c.spec.control.as_deref(),
        Some("control"),
        "old control gone"
    );
    assert_eq!(
        arms.iter()
            .map(|a| (a.key.as_str(), a.weight))
            .collect::<Vec<_>>(),
        [("control", 60.0), ("t", 40.0)]
    );
    assert_eq!(c.spec.traffic, 0.5);
    assert_rollups_consistent(&store);
    let audit = store.audit_log(10).expect("audit");
    assert_eq!(audit[0].action, "campaign.edit");
    assert!(audit[0].detail.contains("Tpyo") && audit[0].detail.contains("Typo fixed"));
    drop(store);
    // An invalid edit changes nothing.
    let out = run(&db, &["campaign", "edit", "typo", "--control", "nosuch"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    // A campaign that ran is neither edited nor deleted.
    running_campaign(&db, 1);
    for args in [
        vec!["campaign", "edit", "c", "--name", "x"],
        vec!["campaign", "delete", "c"],
    ] {
        let out = run(&db, &args);
        assert_eq!(out.status.code(), Some(65), "{args:?}");
        assert!(stderr(&out).contains("only a draft"), "{}", stderr(&out));
    }
    let out = run(&db, &["campaign", "delete", "typo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&db).expect("open");
    assert!(store.campaign("typo").is_err(), "deleted");
    assert_eq!(store.campaigns().expect("list").len(), 1);
    let audit = store.audit_log(1).expect("audit");
    assert_eq!(audit[0].action, "campaign.delete");
    assert!(
        audit[0].detail.contains("Typo fixed"),
        "the definition is kept"
    );
    drop(store);
    let raw = rusqlite::Connection::open(&db).expect("raw");
    let orphans: i64 = raw
        .query_row(
            "SELECT COUNT(*) FROM arms WHERE campaign_id NOT IN (SELECT id FROM campaigns)",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(orphans, 0, "the draft's arms went with it");
    let out = run(&db, &["campaign", "delete", "typo"]);
    assert_eq!(out.status.code(), Some(65));
}

#[test]
fn verify_mismatch_has_its_own_exit_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    running_campaign(&db, 4);
    let out = run(&db, &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["ok"], true);
    let raw = rusqlite::Connection::open(&db).expect("raw");
    raw.execute("UPDATE arm_rollups SET units = units + 7", [])
        .expect("tamper");
    drop(raw);
    let out = run(&db, &["verify"]);
    assert_eq!(out.status.code(), Some(5), "not 2, which is health CRIT");
    assert!(stdout(&out).contains("MISMATCH"));
    let v = json(&run(&db, &["verify", "--json"]));
    assert_eq!(v["ok"], false);
    assert!(v["campaigns"][0]["mismatches"][0].is_string(), "{v}");
}

#[test]
fn assign_and_power_answer_in_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("a.db");
    running_campaign(&db, 0);
    let v = json(&run(&db, &["assign", "c", "u1", "--json"]));
    assert!(v["arm"].is_string() && v["new"] == true, "{v}");
    let v = json(&run(&db, &["assign", "c", "u1", "--json"]));
    assert_eq!(v["new"], false);
    let v = json(&run(
        &db,
        &["power", "--baseline", "0.05", "--mde", "0.1", "--json"],
    ));
    assert!(
        v["units_per_arm"].as_f64().is_some_and(|n| n > 1000.0),
        "{v}"
    );
}

/// The primary metric is an event kind or a money metric per unit; anything else is refused
/// with the allowed money metrics named (the console's form lists the same values).
#[test]
fn a_campaign_metric_may_be_revenue_and_a_wrong_one_lists_the_choices() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("m.db");
    let ok = run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "rev",
            "--arms",
            "a:50,b:50",
            "--metric",
            "revenue",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "bad",
            "--arms",
            "a:50,b:50",
            "--metric",
            "nosuch",
        ],
    );
    assert_eq!(bad.status.code(), Some(65), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("revenue, cost, profit, aov"),
        "{}",
        stderr(&bad)
    );
}

/// `campaign show` prints counts and money in the one number format, as `report ab` does.
#[test]
fn campaign_show_prints_money_and_counts_in_the_one_number_format() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("show.db");
    ingest_with_cli(&db, &guardrail_lines("s", "running", "{}"));
    let v = json(&run(&db, &["campaign", "show", "s", "--json"]));
    let revenue = v["arms"][0]["rollup"]["revenue_sum"]
        .as_f64()
        .expect("revenue");
    let text = stdout(&run(&db, &["campaign", "show", "s"]));
    let money = liftdeck::format::NumberFormat::default().money(revenue);
    assert!(money.contains(','), "a sum in the thousands: {money}");
    assert!(text.contains(&money), "{money} not in\n{text}");
    assert!(text.contains("50.00%"), "weights as rates: {text}");
}
