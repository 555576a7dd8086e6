//! `forget` (GDPR art. 17): after random erasures every rollup (per arm, per allocation
//! period, per minute, per custom kind) equals a database that never saw the forgotten
//! customers, `verify` passes, a second erasure changes nothing, a re-ingest of the original
//! file leaves them out, and no table, audit row or export holds the raw id.

use crate::common::{assert_rollups_consistent, cli_ok, ingest_str, run_cli, temp_db, test_env};
use liftdeck::app::erasure::{forget, readmit, ForgetOptions};
use liftdeck::lines::Format;
use liftdeck::store::{Forgotten, NewPeriod, Stage, Store};
use proptest::prelude::*;
use std::collections::BTreeSet;

const AB: &str = r#"{"type":"campaign","key":"p","name":"prop","kind":"ab","arms":[{"key":"a","weight":1.0},{"key":"b","weight":1.0}],"control":"a","traffic":1.0,"metric":"purchase","custom_kinds":["signup"],"seed":1,"status":"running"}"#;
const BANDIT: &str = r#"{"type":"campaign","key":"b","name":"b","kind":"bandit","arms":[{"key":"a","weight":1},{"key":"z","weight":3}],"control":"a","traffic":1.0,"metric":"purchase","seed":"7","status":"running"}"#;
const KINDS: [&str; 6] = [
    "exposure",
    "click",
    "add_to_cart",
    "purchase",
    "signup",
    "purchase",
];

#[derive(Debug, Clone)]
enum Op {
    Assign {
        bandit: bool,
        unit: u8,
        arm: u8,
        pre: Option<u8>,
    },
    Event {
        bandit: bool,
        unit: u8,
        kind: u8,
        value: u16,
        cost: u8,
        minute: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<bool>(), 0u8..12, 0u8..2, proptest::option::of(0u8..50))
            .prop_map(|(bandit, unit, arm, pre)| Op::Assign { bandit, unit, arm, pre }),
        3 => (any::<bool>(), 0u8..12, 0u8..6, 0u16..5000, 0u8..8, 0u8..60).prop_map(
            |(bandit, unit, kind, value, cost, minute)| Op::Event { bandit, unit, kind, value, cost, minute }
        ),
    ]
}

/// The unit of a line, and the line; `phase` is the hour (and so the allocation period).
fn line(op: &Op, n: usize, hour: u32) -> (u8, String) {
    match op {
        Op::Assign {
            bandit,
            unit,
            arm,
            pre,
        } => {
            let ctx = pre.map_or("{}".to_string(), |p| {
                format!(r#"{{"pre_value":{}}}"#, f64::from(p) / 10.0)
            });
            let (c, arms) = if *bandit {
                ("b", ["a", "z"])
            } else {
                ("p", ["a", "b"])
            };
            (
                *unit,
                format!(
                    r#"{{"type":"assignment","campaign":"{c}","unit":"u{unit}","arm":"{}","propensity":0.5,"context":{ctx},"ts":"2026-11-01T{hour:02}:{:02}:00Z"}}"#,
                    arms[*arm as usize],
                    n % 60
                ),
            )
        }
        Op::Event {
            bandit,
            unit,
            kind,
            value,
            cost,
            minute,
        } => {
            let c = if *bandit { "b" } else { "p" };
            // The bandit has no custom kind: its `signup` lines are rejects, kept in the log.
            (
                *unit,
                format!(
                    r#"{{"type":"event","event_id":"e{hour}-{n}","campaign":"{c}","unit":"u{unit}","kind":"{}","value":{},"cost":{},"ts":"2026-11-01T{hour:02}:{minute:02}:30Z"}}"#,
                    KINDS[*kind as usize],
                    f64::from(*value) / 100.0,
                    f64::from(*cost) / 4.0
                ),
            )
        }
    }
}

fn text(ops: &[Op], hour: u32, skip: &BTreeSet<u8>) -> String {
    let mut out = String::new();
    for (n, o) in ops.iter().enumerate() {
        let (unit, l) = line(o, n, hour);
        if !skip.contains(&unit) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Both campaigns, a first phase, a new bandit period, a second phase; units in `skip` left
/// out (the database that never saw them).
fn build(first: &[Op], second: &[Op], skip: &BTreeSet<u8>) -> (Store, String) {
    let mut store = Store::open_in_memory().expect("mem");
    let head = format!("{AB}\n{BANDIT}\n");
    ingest_str(&mut store, &head, Format::Jsonl, 10);
    let one = text(first, 1, skip);
    ingest_str(&mut store, &one, Format::Jsonl, 17);
    let new = NewPeriod {
        started_at: liftdeck::clock::parse_rfc3339("2026-11-01T02:00:00Z").expect("time"),
        stage: Stage::Exploit,
        units: 0,
        weights: vec![0.8, 0.2],
        summary: serde_json::json!({}),
    };
    store.start_period("b", 1, &new, "test").expect("period");
    let two = text(second, 3, skip);
    ingest_str(&mut store, &two, Format::Jsonl, 23);
    (store, format!("{head}{one}{two}"))
}

fn forget_all(store: &mut Store, units: &BTreeSet<u8>) -> Vec<Forgotten> {
    units
        .iter()
        .map(|u| {
            let options = ForgetOptions {
                campaign: None,
                dry_run: false,
                key_file: None,
            };
            forget(store, &test_env(), &format!("u{u}"), options).expect("forget")
        })
        .collect()
}

/// Every rollup of `a` equals `b`'s: per arm, per period, per minute (rows that are zero
/// everywhere aside: a minute emptied by an erasure may keep its row), per custom kind.
fn assert_same_everywhere(a: &Store, b: &Store) -> Result<(), TestCaseError> {
    for key in ["p", "b"] {
        let (x, y) = (
            a.arm_summaries(key).expect("a"),
            b.arm_summaries(key).expect("b"),
        );
        for (s, t) in x.iter().zip(&y) {
            let d = s.rollup.differences(&t.rollup, 1e-9);
            prop_assert!(d.is_empty(), "{}/{}: {:?}", key, s.key, d);
        }
        let (x, y) = (
            a.period_rollups(key).expect("a"),
            b.period_rollups(key).expect("b"),
        );
        prop_assert_eq!(x.len(), y.len());
        for (s, t) in x.iter().zip(&y) {
            for (r, q) in s.arms.iter().zip(&t.arms) {
                let d = r.differences(q, 1e-9);
                prop_assert!(d.is_empty(), "{} period {}: {:?}", key, s.period, d);
            }
        }
        let nonzero = |s: &Store| -> Vec<(String, i64, [i64; 5], [f64; 2])> {
            s.buckets(key)
                .expect("buckets")
                .into_iter()
                .map(|r| {
                    let counts = [
                        r.new_units,
                        r.exposures,
                        r.clicks,
                        r.purchases,
                        r.conversions,
                    ];
                    (r.arm, r.bucket, counts, [r.revenue, r.cost])
                })
                .filter(|(_, _, c, m)| {
                    c.iter().any(|&n| n != 0) || m.iter().any(|x| x.abs() > 1e-9)
                })
                .collect()
        };
        let (x, y) = (nonzero(a), nonzero(b));
        prop_assert_eq!(x.len(), y.len(), "{} buckets: {:?} vs {:?}", key, x, y);
        for (s, t) in x.iter().zip(&y) {
            prop_assert_eq!((&s.0, s.1, s.2), (&t.0, t.1, t.2));
            for (m, n) in s.3.iter().zip(&t.3) {
                prop_assert!(
                    (m - n).abs() <= 1e-9 * m.abs().max(1.0),
                    "{:?} vs {:?}",
                    s,
                    t
                );
            }
        }
        prop_assert_eq!(
            a.custom_kind_rollups(key).expect("a"),
            b.custom_kind_rollups(key).expect("b")
        );
    }
    Ok(())
}

fn units_of(store: &Store) -> i64 {
    ["p", "b"]
        .iter()
        .flat_map(|k| store.arm_summaries(k).expect("arms"))
        .map(|a| a.rollup.units)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_after_random_erasures_equal_a_database_that_never_saw_them(
        first in proptest::collection::vec(op(), 1..120),
        second in proptest::collection::vec(op(), 0..120),
        gone in proptest::collection::btree_set(0u8..12, 0..6),
    ) {
        let (mut store, original) = build(&first, &second, &BTreeSet::new());
        let (mut never, never_text) = build(&first, &second, &gone);
        let before = units_of(&store);
        let done = forget_all(&mut store, &gone);
        let removed: u64 = done.iter().map(|f| f.assignments).sum();
        prop_assert_eq!(before - units_of(&store), removed as i64, "units fall by the removed");
        assert_rollups_consistent(&store);
        assert_same_everywhere(&store, &never)?;
        // A second request changes nothing.
        let again = forget_all(&mut store, &gone);
        prop_assert!(again.iter().all(|f| f.already_forgotten && !f.removed_anything()));
        assert_same_everywhere(&store, &never)?;
        // Replaying the original file brings nobody back: their lines are skipped, and the
        // rest does what it does to the database that never saw them (mostly duplicates;
        // an event that came before its assignment is accepted now).
        let replay = ingest_str(&mut store, &original, Format::Jsonl, 31);
        let replay_never = ingest_str(&mut never, &never_text, Format::Jsonl, 31);
        prop_assert_eq!(replay.accepted, replay_never.accepted);
        let theirs = text(&first, 1, &BTreeSet::new()).lines().count()
            + text(&second, 3, &BTreeSet::new()).lines().count()
            - text(&first, 1, &gone).lines().count()
            - text(&second, 3, &gone).lines().count();
        prop_assert_eq!(replay.forgotten, theirs as u64);
        assert_same_everywhere(&store, &never)?;
        assert_rollups_consistent(&store);
    }
}

/// Every text value of every table of the database file, for "the raw id is nowhere".
fn all_text(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(r) = rows.next().expect("row") {
            for i in 0..n {
                if let Ok(rusqlite::types::ValueRef::Text(s)) = r.get_ref(i) {
                    out.push_str(&String::from_utf8_lossy(s));
                    out.push('\n');
                }
            }
        }
    }
    out
}

const ALICE: &str = "alice@example.com";

fn alice_lines() -> String {
    format!(
        "{AB}\n\
         {{\"type\":\"assignment\",\"campaign\":\"p\",\"unit\":\"{ALICE}\",\"arm\":\"b\",\"propensity\":0.5,\"context\":{{\"pre_value\":3}},\"ts\":\"2026-11-01T12:00:00Z\"}}\n\
         {{\"type\":\"event\",\"event_id\":\"ea\",\"campaign\":\"p\",\"unit\":\"{ALICE}\",\"kind\":\"purchase\",\"value\":12.5,\"ts\":\"2026-11-01T12:01:00Z\"}}\n\
         {{\"type\":\"event\",\"event_id\":\"eb\",\"campaign\":\"p\",\"unit\":\"{ALICE}\",\"kind\":\"bogus\",\"ts\":\"2026-11-01T12:02:00Z\"}}\n\
         {{\"type\":\"assignment\",\"campaign\":\"p\",\"unit\":\"bob\",\"arm\":\"a\",\"propensity\":0.5,\"ts\":\"2026-11-01T12:00:00Z\"}}\n"
    )
}

#[test]
fn no_table_audit_row_or_export_holds_the_raw_id_afterwards() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut store) = temp_db(&dir, "f.db");
    let s = ingest_str(&mut store, &alice_lines(), Format::Jsonl, 10);
    assert_eq!(s.rejected, 1, "the bogus kind is a reject quoting the id");
    assert!(all_text(&path).contains(ALICE));
    let options = ForgetOptions {
        campaign: None,
        dry_run: true,
        key_file: None,
    };
    let dry = forget(&mut store, &test_env(), ALICE, options).expect("dry run");
    assert_eq!((dry.assignments, dry.events, dry.rejects), (1, 1, 1));
    assert!(all_text(&path).contains(ALICE), "a dry run changes nothing");
    let f = forget(
        &mut store,
        &test_env(),
        ALICE,
        ForgetOptions {
            dry_run: false,
            ..options
        },
    )
    .expect("forget");
    assert_eq!((f.assignments, f.events, f.rejects), (1, 1, 1));
    assert_eq!(f.campaigns, vec!["p".to_string()]);
    assert!(f.tombstone.starts_with("s1-"), "{}", f.tombstone);
    drop(store);
    let everything = all_text(&path);
    assert!(!everything.contains(ALICE), "the raw id is still stored");
    assert!(everything.contains(&f.tombstone));
    let store = Store::open(&path).expect("reopen");
    let audit = store.audit_log(5).expect("audit");
    let row = audit
        .iter()
        .find(|a| a.action == "privacy.forget")
        .expect("audit row");
    assert!(row.detail.contains(&f.tombstone) && row.detail.contains("\"events\":1"));
    assert_eq!(store.forgotten_count().expect("count"), 1);
    assert_rollups_consistent(&store);
    let export = cli_ok(&run_cli(&path, &["export", "p"]));
    assert!(
        export.contains("bob") && !export.contains(ALICE),
        "{export}"
    );
}

#[test]
fn a_customer_with_no_data_is_tombstoned_and_readmitting_lets_new_data_in() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut store) = temp_db(&dir, "f.db");
    ingest_str(&mut store, &format!("{AB}\n"), Format::Jsonl, 10);
    let options = ForgetOptions {
        campaign: Some("p"),
        dry_run: false,
        key_file: None,
    };
    // Asked before any of their data arrived: nothing to remove, the tombstone still counts.
    let f = forget(&mut store, &test_env(), ALICE, options).expect("forget");
    assert!(!f.removed_anything() && !f.already_forgotten);
    let s = ingest_str(&mut store, &alice_lines(), Format::Jsonl, 10);
    assert_eq!((s.forgotten, s.accepted, s.rejected), (3, 1, 0));
    assert_eq!(store.arm_summaries("p").expect("arms")[1].rollup.units, 0);
    assert!(readmit(&mut store, &test_env(), ALICE, Some("p"), None).expect("readmit"));
    let s = ingest_str(&mut store, &alice_lines(), Format::Jsonl, 10);
    assert_eq!((s.forgotten, s.accepted), (0, 2));
    assert_eq!(store.arm_summaries("p").expect("arms")[1].rollup.units, 1);
    let unknown = ForgetOptions {
        campaign: Some("nope"),
        ..options
    };
    assert!(forget(&mut store, &test_env(), ALICE, unknown).is_err());
    drop(store);
    // The command line: exit 0 and no raw id in what it prints; ingest says what it skipped.
    let out = run_cli(&path, &["forget", ALICE, "--json"]);
    let text = cli_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["assignments"], 1);
    assert!(!text.contains(ALICE));
    let lines = dir.path().join("again.jsonl");
    std::fs::write(&lines, alice_lines()).expect("write");
    let out = run_cli(&path, &["ingest", &lines.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped 3 lines of forgotten customers"),
        "{err}"
    );
    // `assign` still answers (the storefront must show something) but stores nothing.
    let out = run_cli(&path, &["assign", "p", ALICE]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = cli_ok(&run_cli(&path, &["export", "p"]));
    assert!(!export.contains(ALICE), "{export}");
    let out = run_cli(&path, &["forget", "never-seen"]);
    assert!(cli_ok(&out).contains("nothing to forget"));
    let out = run_cli(&path, &["verify"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_pseudonymising_database_forgets_by_the_hashed_id_and_tombstones_the_pseudonym() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut store) = temp_db(&dir, "f.db");
    let key = liftdeck::privacy::Key::from_bytes([7u8; liftdeck::privacy::KEY_BYTES]);
    let key_file = dir.path().join("k.key");
    std::fs::write(&key_file, key.to_file_text()).expect("key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let env = test_env();
    liftdeck::app::privacy::unit_ids(&mut store, Some(&key_file), &env).expect("start");
    // What ingest stores once the flag maps ids (H35): the pseudonym, never the raw id.
    let hashed = key.unit_id(ALICE);
    ingest_str(
        &mut store,
        &alice_lines().replace(ALICE, &hashed),
        Format::Jsonl,
        10,
    );
    let options = ForgetOptions {
        campaign: None,
        dry_run: false,
        key_file: Some(&key_file),
    };
    let f = forget(&mut store, &env, ALICE, options).expect("forget");
    assert_eq!((f.assignments, f.events, f.rejects), (1, 1, 1));
    assert_eq!(f.tombstone, hashed, "the tombstone is the stored pseudonym");
    // Without the flag, the key file the database names is used: the same pseudonym.
    let no_flag = ForgetOptions {
        key_file: None,
        ..options
    };
    let again = forget(&mut store, &env, ALICE, no_flag).expect("again");
    assert!(again.already_forgotten && !again.removed_anything());
    assert!(!all_text(&path).contains(ALICE));
    let s = ingest_str(
        &mut store,
        &alice_lines().replace(ALICE, &hashed),
        Format::Jsonl,
        10,
    );
    assert_eq!(s.forgotten, 3);
    assert_rollups_consistent(&store);
}
