//! Pseudonymisation end to end: with a key, no raw unit id and no raw identifying context
//! value reaches any TEXT column of any table (ingest JSON lines and CSV, assign, import obd,
//! rejected lines included); the same raw id gets the same arm either way; a pseudonymising
//! database refuses raw-id commands without its key or with another one; keygen writes 0600
//! and never overwrites.

use crate::common::{bin, fixture, test_env};
use liftdeck::app::{self, privacy, Assignment};
use liftdeck::privacy::Key;
use liftdeck::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs the binary on `db` in `dir` with no inherited database or key from the environment.
fn run(dir: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("LIFTDECK_DB")
        .env_remove("LIFTDECK_PSEUDONYMIZE")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run liftdeck")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{:?}: {}", o.status, err(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let o = run(dir, &dir.join("unused.db"), &["keygen", name]);
    ok(&o);
    path
}

/// A running two-arm campaign `c1` in a new database at `db`.
fn campaign(dir: &Path, db: &Path) {
    ok(&run(
        dir,
        db,
        &[
            "campaign", "create", "--key", "c1", "--arms", "a:1,b:1", "--seed", "7",
        ],
    ));
    ok(&run(dir, db, &["campaign", "start", "c1"]));
}

/// Every TEXT value in every table of the database.
fn all_text(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for i in 0..n {
                if let rusqlite::types::ValueRef::Text(b) = row.get_ref(i).expect("value") {
                    out.push((t.clone(), String::from_utf8_lossy(b).into_owned()));
                }
            }
        }
    }
    out
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

const RAW_IDS: [&str; 7] = [
    "cust-alice-0001",
    "cust-bob-0002",
    "cust-ghost-9999",
    "cust-broken-7777",
    "cust-csv-0003",
    "cust-assign-0004",
    "cust-envvar-0005",
];
const RAW_VALUES: [&str; 4] = [
    "alice@example.com",
    "bob@example.com",
    "+49-170-5550101",
    "carol@example.com",
];

#[test]
fn no_raw_id_or_identifying_value_reaches_any_text_column() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let db = d.join("shop.db");
    let key_path = keygen(d, "shop.key");
    campaign(d, &db);
    let k = key_path.to_str().expect("utf-8 path");
    ok(&run(
        d,
        &db,
        &["--pseudonymize", k, "privacy", "context", "email", "hash"],
    ));
    ok(&run(d, &db, &["privacy", "context", "phone", "drop"]));
    let jsonl = d.join("in.jsonl");
    std::fs::write(
        &jsonl,
        r#"{"type":"assignment","campaign":"c1","unit":"cust-alice-0001","arm":"a","propensity":0.5,"context":{"email":"alice@example.com","phone":"+49-170-5550101","device":"mobile"},"ts":"2026-11-01T12:00:00Z"}
{"type":"assignment","campaign":"c1","unit":"cust-bob-0002","arm":"b","propensity":0.5,"context":{"email":"bob@example.com","pre_value":3.5},"ts":"2026-11-01T12:00:01Z"}
{"type":"event","event_id":"e-1","campaign":"c1","unit":"cust-alice-0001","kind":"purchase","value":35.5,"cost":3.0,"ts":"2026-11-01T12:03:10Z"}
{"type":"event","event_id":"e-2","campaign":"c1","unit":"cust-ghost-9999","kind":"click","ts":"2026-11-01T12:03:11Z"}
{"type":"event","campaign":"c1","unit":"cust-broken-7777","kind":"click","ts":"not a time"
"#,
    )
    .expect("write");
    let o = run(d, &db, &["ingest", jsonl.to_str().expect("path")]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "two lines are rejected: {}",
        err(&o)
    );
    let csv = d.join("in.csv");
    std::fs::write(
        &csv,
        "type,event_id,campaign,unit,arm,propensity,context,kind,value,cost,ts\n\
         assignment,,c1,cust-csv-0003,a,0.5,\"{\"\"email\"\":\"\"carol@example.com\"\"}\",,,,2026-11-01T12:00:02Z\n\
         event,e-3,c1,cust-csv-0003,,,,click,,,2026-11-01T12:04:00Z\n",
    )
    .expect("write");
    ok(&run(d, &db, &["ingest", csv.to_str().expect("path")]));
    // The key file the database recorded serves a command given no flag.
    ok(&run(
        d,
        &db,
        &[
            "assign",
            "c1",
            "cust-assign-0004",
            "--context",
            r#"{"email":"alice@example.com","phone":"+49-170-5550101"}"#,
        ],
    ));
    let o = Command::new(bin())
        .current_dir(d)
        .env_remove("LIFTDECK_DB")
        .env("LIFTDECK_PSEUDONYMIZE", k)
        .args([
            "--db",
            db.to_str().expect("path"),
            "assign",
            "c1",
            "cust-envvar-0005",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    ok(&o);
    let obd = fixture("obd/men/random/men.csv");
    ok(&run(
        d,
        &db,
        &[
            "import",
            "obd",
            obd.to_str().expect("path"),
            "--campaign",
            "obd1",
        ],
    ));

    let texts = all_text(&db);
    for (table, text) in &texts {
        for raw in RAW_IDS.iter().chain(&RAW_VALUES) {
            assert!(!text.contains(raw), "table {table} holds `{raw}`: {text}");
        }
        for i in 0..50 {
            let obd_unit = format!("men-random-{i}\"");
            assert!(
                !text.contains(&obd_unit),
                "table {table} holds an obd unit: {text}"
            );
        }
    }
    // What is stored instead: pseudonyms, the hashed email, and the rejects (reasons kept).
    let key = privacy::read_key_file(&key_path).expect("key");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let units: Vec<String> = conn
        .prepare("SELECT unit FROM assignments")
        .expect("sql")
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<rusqlite::Result<_>>()
        .expect("units");
    assert!(units.len() > 5, "{units:?}");
    assert!(
        units.iter().all(|u| liftdeck::privacy::is_pseudonym(u)),
        "{units:?}"
    );
    assert!(units.contains(&key.unit_id("cust-alice-0001")));
    assert!(units.contains(&key.unit_id("cust-assign-0004")));
    assert!(units.contains(&key.unit_id("men-random-0")));
    let hashed = key.context_value("email", "alice@example.com");
    let contexts: Vec<String> = conn
        .prepare("SELECT context FROM assignments")
        .expect("sql")
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<rusqlite::Result<_>>()
        .expect("contexts");
    assert_eq!(
        contexts.iter().filter(|c| c.contains(&hashed)).count(),
        2,
        "alice's email hashed the same at ingest and assign: {contexts:?}"
    );
    assert!(
        contexts.iter().all(|c| !c.contains("phone")),
        "{contexts:?}"
    );
    assert!(
        contexts.iter().any(|c| c.contains("mobile")),
        "other fields are kept"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rejects"), 2);
    assert!(
        texts
            .iter()
            .any(|(t, v)| t == "rejects" && v.contains(&key.unit_id("cust-ghost-9999"))),
        "a rejected line keeps its (mapped) content for the operator"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM events WHERE value = 35.5"),
        1
    );
    ok(&run(d, &db, &["verify"]));
}

#[test]
fn the_same_raw_id_gets_the_same_arm_with_or_without_pseudonymising() {
    let key = Key::from_bytes([3; 32]);
    let open = || {
        let mut store = Store::open_in_memory().expect("store");
        let mut spec = app::demo::demo_specs(1)[0].clone();
        spec.key = "c".into();
        spec.traffic = 0.8;
        app::create_campaign(&mut store, &test_env(), &spec).expect("create");
        app::set_status(
            &mut store,
            &test_env(),
            "c",
            liftdeck::domain::Status::Running,
        )
        .expect("start");
        store
    };
    let (mut plain, mut hashed) = (open(), open());
    let ids = privacy::UnitIds::pseudonymized(key.clone());
    let arm = |a: Assignment| match a {
        Assignment::Arm { arm, .. } => Some(arm),
        Assignment::Excluded => None,
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..200 {
        let unit = format!("u-{i}");
        let env = test_env();
        let raw = app::assign(&mut plain, &env, "c", &unit, Default::default()).expect("raw");
        let got = app::assign_with(&mut hashed, &env, &ids, "c", &unit, Default::default())
            .expect("hashed");
        let again = app::assign_with(&mut hashed, &env, &ids, "c", &unit, Default::default())
            .expect("again");
        let (raw, got, again) = (arm(raw), arm(got), arm(again));
        assert_eq!(raw, got, "{unit}");
        assert_eq!(got, again, "{unit} keeps its arm");
        seen.insert(got);
    }
    assert!(seen.len() >= 3, "both arms and exclusions occur: {seen:?}");
}

/// A pseudonymising database (key `a.key`) with the campaign `c1` and one assigned unit.
fn pseudonymising(d: &Path) -> (PathBuf, PathBuf) {
    let db = d.join("p.db");
    let key = keygen(d, "a.key");
    campaign(d, &db);
    ok(&run(
        d,
        &db,
        &["--pseudonymize", "a.key", "assign", "c1", "cust-1"],
    ));
    (db, key)
}

fn raw_id_commands(lines: &str, obd: &str) -> Vec<Vec<String>> {
    [
        vec!["ingest", lines],
        vec!["assign", "c1", "cust-2"],
        vec!["import", "obd", obd, "--campaign", "obd1"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn a_pseudonymising_database_refuses_raw_ids_without_its_key_or_with_another() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (db, key) = pseudonymising(d);
    let lines = d.join("l.jsonl");
    std::fs::write(
        &lines,
        r#"{"type":"assignment","campaign":"c1","unit":"cust-3","arm":"a","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}"#,
    )
    .expect("write");
    let obd = fixture("obd/men/random/men.csv");
    let commands = raw_id_commands(lines.to_str().expect("path"), obd.to_str().expect("path"));
    keygen(d, "b.key");
    for args in &commands {
        let mut full = vec!["--pseudonymize".to_string(), "b.key".into()];
        full.extend(args.iter().cloned());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let o = run(d, &db, &refs);
        assert_eq!(o.status.code(), Some(65), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("fingerprint"), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("b.key"), "names the key file: {}", err(&o));
    }
    // Without the key: the recorded key file is gone.
    std::fs::rename(&key, d.join("moved.key")).expect("move");
    for args in &commands {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(d, &db, &refs);
        assert_eq!(o.status.code(), Some(65), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("key file"), "{args:?}: {}", err(&o));
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM assignments"),
        1,
        "nothing came in"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM campaigns"),
        1,
        "import made no campaign"
    );
    // With the key again, under its new name: accepted.
    ok(&run(
        d,
        &db,
        &["--pseudonymize", "moved.key", "assign", "c1", "cust-2"],
    ));
}

#[test]
fn first_use_on_a_database_holding_raw_ids_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let db = d.join("raw.db");
    keygen(d, "a.key");
    campaign(d, &db);
    ok(&run(d, &db, &["assign", "c1", "cust-1"]));
    let o = run(
        d,
        &db,
        &["--pseudonymize", "a.key", "assign", "c1", "cust-2"],
    );
    assert_eq!(o.status.code(), Some(65), "{}", err(&o));
    assert!(
        err(&o).contains("already holds 1 assigned units"),
        "{}",
        err(&o)
    );
    let status = ok(&run(d, &db, &["privacy", "status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(v["pseudonymizing"], false);
    // `hash` needs the key; `drop` works without one.
    let o = run(d, &db, &["privacy", "context", "email", "hash"]);
    assert_eq!(o.status.code(), Some(65), "{}", err(&o));
    assert!(err(&o).contains("--pseudonymize"), "{}", err(&o));
    ok(&run(d, &db, &["privacy", "context", "email", "drop"]));
    ok(&run(
        d,
        &db,
        &[
            "assign",
            "c1",
            "cust-3",
            "--context",
            r#"{"email":"x@example.com"}"#,
        ],
    ));
    assert!(all_text(&db)
        .iter()
        .all(|(_, v)| !v.contains("x@example.com")));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'privacy.context'"
        ),
        1
    );
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let db = d.join("none.db");
    let o = run(d, &db, &["keygen", "k.key", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).expect("json");
    let path = d.join("k.key");
    let text = std::fs::read_to_string(&path).expect("key");
    let key = Key::parse(&text).expect("a key file");
    assert_eq!(v["fingerprint"], key.fingerprint());
    let secret = text.lines().nth(1).expect("secret line");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(secret),
        "never prints the key"
    );
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let o = run(d, &db, &["keygen", "k.key"]);
    assert_eq!(o.status.code(), Some(64), "{}", err(&o));
    assert!(err(&o).contains("k.key") && err(&o).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(&path).expect("key"),
        text,
        "unchanged"
    );
    let o = run(d, &db, &["--read-only", "keygen", "other.key"]);
    assert_eq!(o.status.code(), Some(77), "{}", err(&o));
    assert!(!d.join("other.key").exists());
    assert!(!db.exists(), "keygen writes no database");
    // Two keys differ: the bytes come from the CSPRNG, not a fixed seed.
    let b = keygen(d, "b.key");
    assert_ne!(std::fs::read_to_string(b).expect("b"), text);
}
