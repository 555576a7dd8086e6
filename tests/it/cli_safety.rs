//! The command line cannot harm data by accident: `--read-only` holds on every path, reading
//! never creates a database, the demo writes only into its own, nothing panics on hostile
//! arguments, and database files are opened with care for their permissions.

use crate::common::*;
use liftdeck::app;
use liftdeck::lines::Format;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs the binary with `--db DB` and `args`, stdin closed, in `cwd`.
fn run_in(cwd: &Path, db: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd)
        .env_remove("LIFTDECK_DB")
        .env_remove("LIFTDECK_PSEUDONYMIZE");
    if let Some(db) = db {
        cmd.arg("--db").arg(db);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run liftdeck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The main file and the -wal file; a missing -wal reads as empty (a read-only reader may
/// leave an empty one behind: SQLite needs it to exist, and it holds nothing).
fn db_bytes(db: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(db).expect("db"),
        std::fs::read(PathBuf::from(wal)).unwrap_or_default(),
    )
}

/// A database with the demo campaigns and traffic (running), a draft `d1`, and an input
/// file. The returned store stays open so that the -wal file holds committed changes.
fn populated(dir: &tempfile::TempDir) -> (PathBuf, liftdeck::store::Store, PathBuf) {
    let (db, mut store) = temp_db(dir, "shop.db");
    let text = sim_jsonl(3, 300);
    ingest_str(&mut store, &text, Format::Jsonl, 1000);
    let mut spec = liftdeck::app::demo::demo_specs(1)[0].clone();
    spec.key = "d1".into();
    app::create_campaign(&mut store, &test_env(), &spec).expect("draft");
    let lines = dir.path().join("more.jsonl");
    std::fs::write(&lines, sim_jsonl(4, 20)).expect("write");
    // A plan, for `forecast plan` and `campaign start --plan` (commands run in `dir`).
    std::fs::write(
        dir.path().join("plan.json"),
        r#"{"name": "p", "offer": {"type": "coupon", "pct": 10}, "traffic": {"audience_size": 1000}}"#,
    )
    .expect("write plan");
    (db, store, lines)
}

/// Every command that changes something, as typed after `--db DB`.
fn mutating_commands(lines: &Path) -> Vec<Vec<String>> {
    let l = lines.display().to_string();
    [
        vec!["campaign", "create", "--key", "n", "--arms", "a:1,b:1"],
        vec!["campaign", "start", "d1"],
        vec!["campaign", "start", "d1", "--plan", "plan.json"],
        vec!["forecast", "review", "coupon-10"],
        vec!["campaign", "pause", "coupon-10"],
        vec!["campaign", "stop", "coupon-10"],
        vec!["campaign", "edit", "d1", "--name", "x"],
        vec!["campaign", "delete", "d1"],
        vec!["ingest", l.as_str()],
        vec!["assign", "coupon-10", "new-unit"],
        vec!["forget", "new-unit"],
        vec!["forget", "new-unit", "--campaign", "coupon-10", "--dry-run"],
        vec!["train", "coupon-10"],
        vec!["prune", "--older-than", "1h"],
        vec!["demo", "--headless", "--duration", "2s"],
        vec!["demo", "--duration", "2s"],
        vec!["bench", "aa", "--experiments", "2"],
        vec!["keygen", "new.key"],
        vec!["privacy", "context", "email", "drop"],
        vec!["campaign", "privacy-budget", "coupon-10", "--epsilon", "1"],
        vec!["report", "ab", "coupon-10", "--dp-epsilon", "0.5"],
        vec!["report", "causal", "coupon-10", "--dp-epsilon", "0.5"],
        vec![
            "bench",
            "load",
            "--chunks",
            "1",
            "--shoppers",
            "10",
            "--readers",
            "0",
        ],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

fn reading_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["campaign", "list"],
        vec!["campaign", "list", "--json"],
        vec!["campaign", "show", "coupon-10"],
        vec!["export", "coupon-10"],
        vec!["export", "coupon-10", "--format", "csv"],
        vec!["verify"],
        vec!["rejects"],
        vec!["health"],
        vec!["report", "ab", "coupon-10"],
        vec!["report", "causal", "coupon-10"],
        vec!["forecast", "coupon-10"],
        vec!["forecast", "plan", "plan.json"],
        vec!["forecast", "ledger"],
        vec!["privacy", "status"],
        vec!["privacy", "status", "--json"],
        vec![],
    ]
}

#[test]
fn read_only_refuses_every_mutating_command_and_changes_no_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, _store, lines) = populated(&dir);
    let before = db_bytes(&db);
    assert!(
        !before.1.is_empty(),
        "the test needs committed data in the -wal"
    );
    for args in mutating_commands(&lines) {
        let mut full = vec!["--read-only".to_string()];
        full.extend(args.iter().cloned());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = run_in(dir.path(), Some(&db), &refs);
        assert_eq!(out.status.code(), Some(77), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--read-only"), "{args:?}");
        assert_eq!(db_bytes(&db), before, "{args:?} changed the database");
    }
    for args in reading_commands() {
        let mut full = vec!["--read-only"];
        full.extend(&args);
        let out = run_in(dir.path(), Some(&db), &full);
        assert!(
            !matches!(out.status.code(), Some(77 | 101 | 134) | None),
            "{args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert_eq!(db_bytes(&db), before, "{args:?} changed the database");
    }
}

#[test]
fn reading_commands_never_create_a_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("typo.db");
    let lines = dir.path().join("none.jsonl");
    std::fs::write(
        dir.path().join("plan.json"),
        r#"{"name": "p", "offer": {"type": "coupon", "pct": 10}, "traffic": {"audience_size": 1000}}"#,
    )
    .expect("write plan");
    let writes_existing = mutating_commands(&lines)
        .into_iter()
        // keygen writes a key file, never a database: nothing to find missing.
        .filter(|a| {
            !(a[0] == "ingest"
                || a[0] == "demo"
                || a[0] == "bench"
                || a[0] == "keygen"
                || a[1] == "create")
        })
        .collect::<Vec<_>>();
    let reads = reading_commands()
        .into_iter()
        .filter(|a| !a.is_empty())
        .map(|a| a.into_iter().map(String::from).collect::<Vec<_>>());
    for args in writes_existing.into_iter().chain(reads) {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        for read_only in [false, true] {
            let mut full = if read_only {
                vec!["--read-only"]
            } else {
                vec![]
            };
            full.extend(&refs);
            let out = run_in(dir.path(), Some(&missing), &full);
            if read_only && out.status.code() == Some(77) {
                continue; // refused before even looking: also fine
            }
            assert_eq!(out.status.code(), Some(66), "{full:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("no database at"), "{full:?}: {err}");
            assert!(err.contains("--db"), "the hint names --db: {err}");
            assert!(!missing.exists(), "{full:?} created {}", missing.display());
        }
    }
    // An empty file is no database either, and stays empty.
    std::fs::write(&missing, b"").expect("touch");
    let out = run_in(dir.path(), Some(&missing), &["campaign", "list"]);
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&missing).expect("meta").len(), 0);
}

#[test]
fn creating_commands_create_the_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = dir.path().join("a.db");
    let out = run_in(
        dir.path(),
        Some(&a),
        &["campaign", "create", "--key", "k", "--arms", "a:1,b:1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let b = dir.path().join("b.db");
    let lines = dir.path().join("in.jsonl");
    std::fs::write(&lines, sim_jsonl(2, 5)).expect("write");
    let out = run_in(
        dir.path(),
        Some(&b),
        &["ingest", &lines.display().to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(a.exists() && b.exists());
    // A definition that cannot be created leaves no new database behind.
    let c = dir.path().join("c.db");
    let out = run_in(
        dir.path(),
        Some(&c),
        &[
            "campaign",
            "create",
            "--key",
            "k",
            "--arms",
            "a:1,b:1",
            "--traffic",
            "NaN",
        ],
    );
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(!c.exists(), "a refused create made {}", c.display());
    let out = run_in(dir.path(), Some(&c), &["ingest", "no-such-file.jsonl"]);
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    assert!(!c.exists(), "ingest of a missing file made {}", c.display());
}

#[test]
fn health_on_a_missing_database_or_a_bad_argument_is_not_a_verdict() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("none.db");
    for args in [
        vec!["health"],
        vec!["health", "--stale", "99999999999999999999h"],
        vec!["health", "--stale", "5124095576030432h"],
        vec!["health", "--stale", "soon"],
        vec!["health", "--bogus"],
    ] {
        let out = run_in(dir.path(), Some(&missing), &args);
        let code = out.status.code();
        assert!(
            !matches!(code, Some(0..=2) | None),
            "{args:?} exited {code:?}: {}",
            stderr(&out)
        );
    }
    let out = run_in(dir.path(), Some(&missing), &["health"]);
    assert_eq!(out.status.code(), Some(66));
    let out = run_in(
        dir.path(),
        Some(&missing),
        &["health", "--stale", "5124095576030432h"],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn demo_refuses_a_database_it_did_not_create() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, store, _) = populated(&dir);
    drop(store);
    let before = db_bytes(&db);
    let out = run_in(
        dir.path(),
        Some(&db),
        &["demo", "--headless", "--duration", "2s"],
    );
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a demo database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        db_bytes(&db),
        before,
        "the demo changed an operator's database"
    );
}

#[test]
fn demo_ignores_liftdeck_db_unless_db_is_given() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, store, _) = populated(&dir);
    drop(store);
    let before = db_bytes(&db);
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env("LIFTDECK_DB", &db)
        .args(["demo", "--headless", "--duration", "2s", "--rate", "10"])
        .output()
        .expect("demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db_bytes(&db), before, "$LIFTDECK_DB was written to");
    assert!(dir.path().join("liftdeck-demo.db").exists());
}

#[test]
fn headless_demo_twice_on_one_file_prints_the_same_table_unless_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("demo.db");
    let args = ["demo", "--headless", "--duration", "3s", "--rate", "40"];
    let first = run_in(dir.path(), Some(&db), &args);
    let second = run_in(dir.path(), Some(&db), &args);
    assert!(first.status.success() && second.status.success());
    assert_eq!(
        first.stdout, second.stdout,
        "a fresh demo database each run"
    );
    let mut keep = args.to_vec();
    keep.push("--keep");
    let third = run_in(dir.path(), Some(&db), &keep);
    assert!(third.status.success(), "{}", stderr(&third));
    assert_ne!(first.stdout, third.stdout, "--keep adds to the earlier run");
}

#[test]
fn the_console_and_live_demo_without_a_terminal_exit_64() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, store, _) = populated(&dir);
    drop(store);
    for args in [vec![], vec!["console"], vec!["demo", "--duration", "2s"]] {
        let out = run_in(dir.path(), Some(&db), &args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("needs a terminal; use --headless or a subcommand"),
            "{}",
            stderr(&out)
        );
    }
}

/// Argument vectors that a careless script or a hostile user might pass.
fn hostile_commands(db_file: &str, lines: &str) -> Vec<Vec<String>> {
    let huge = "18446744073709551615";
    let ctl = "a\u{1b}[2J\u{7}b";
    let mut all: Vec<Vec<&str>> = vec![
        vec!["ingest", "--batch", huge, lines],
        vec!["ingest", "--batch", "100000000000", lines],
        vec!["ingest", "--batch", "0", lines],
        vec!["ingest", "--batch", "-1", lines],
        vec!["ingest", "/no/such/file.jsonl"],
        vec!["ingest", db_file],
        vec!["ingest", "--format", "csv", lines],
        vec!["assign", "coupon-10", ""],
        vec!["assign", "coupon-10", ctl],
        vec!["assign", "", "u"],
        vec!["assign", "coupon-10", "u", "--context", "[1]"],
        vec![
            "assign",
            "coupon-10",
            "u",
            "--context",
            "{\"pre_value\": 1e999}",
        ],
        vec!["campaign", "create", "--key", ctl, "--arms", "a:1,b:1"],
        vec!["campaign", "create", "--key", "", "--arms", ""],
        vec![
            "campaign",
            "create",
            "--key",
            "k1",
            "--arms",
            "a:1e308,b:1e308",
        ],
        vec!["campaign", "create", "--key", "k2", "--arms", "a:nan,b:inf"],
        vec![
            "campaign",
            "create",
            "--key",
            "k3",
            "--arms",
            "a:1,b:1",
            "--traffic",
            "NaN",
        ],
        vec![
            "campaign", "create", "--key", "k4", "--arms", "a:1,b:1", "--seed", huge,
        ],
        vec![
            "campaign", "create", "--key", "k5", "--arms", "a:1,b:1", "--seed", "-1",
        ],
        vec![
            "campaign", "create", "--key", "k6", "--arms", "a:1,b:1", "--n-star", "inf",
        ],
        vec![
            "campaign", "create", "--key", "k7", "--arms", "a:1,b:1", "--alpha", "-0",
        ],
        vec![
            "campaign",
            "create",
            "--key",
            "k8",
            "--arms",
            "a:1,b:1",
            "--offer",
            "a:items=1e30",
        ],
        vec!["campaign", "edit", "d1", "--arms", "x:1e308,y:1e308"],
        vec!["campaign", "edit", "d1", "--traffic", "inf"],
        vec!["campaign", "edit", "nosuch", "--name", ctl],
        vec!["campaign", "delete", ""],
        vec!["campaign", "show", ctl],
        vec!["campaign", "start", ctl],
        vec!["export", "coupon-10", "--format", "xml"],
        vec!["export", ctl],
        vec!["verify", ctl],
        vec!["rejects", "--limit", huge],
        vec!["rejects", "--limit", "-5"],
        vec!["health", "--stale", huge],
        vec!["health", "--stale", "99999999999999h"],
        vec!["health", "--stale", ""],
        vec!["report", "ab", "coupon-10", "--alpha", "NaN"],
        vec!["report", "ab", "coupon-10", "--n-star", "1e308"],
        vec!["report", "ab", "coupon-10", "--cap", "-inf"],
        vec!["report", "ab", "coupon-10", "--cap", "nan"],
        vec!["report", "ab", "coupon-10", "--winsorize", "2"],
        vec!["report", "ab", "coupon-10", "--winsorize", "nan"],
        vec!["report", "ab", "coupon-10", "--mde", "inf"],
        vec!["report", "ab", "coupon-10", "--mde", "-1e308"],
        vec!["report", "ab", "coupon-10", "--by", ctl],
        vec!["report", "ab", "coupon-10", "--metric", ""],
        vec!["report", "ab", "coupon-10", "--cuped", "--prior", "proper"],
        vec!["report", "causal", "coupon-10", "--alpha", "inf"],
        vec!["report", "causal", ctl],
        vec!["train", "coupon-10", "--epochs", huge],
        vec!["train", "coupon-10", "--learning-rate", "nan"],
        vec!["train", "coupon-10", "--l2", "-inf"],
        vec!["forecast", "coupon-10", "--days", "1e308"],
        vec!["forecast", "coupon-10", "--days", "nan"],
        vec!["forecast", "coupon-10", "--days", "-1"],
        vec!["power", "--baseline", "nan", "--mde", "0.1"],
        vec!["power", "--baseline", "0.05", "--mde", "1e-300"],
        vec!["power", "--baseline", "0.05", "--mde", "inf"],
        vec!["power", "--sd", "inf", "--mean", "1", "--mde", "0.1"],
        vec![
            "power",
            "--baseline",
            "0.05",
            "--mde",
            "0.1",
            "--power",
            "1",
        ],
        vec!["demo", "--headless", "--duration", huge],
        vec!["demo", "--headless", "--rate", huge],
        vec!["demo", "--headless", "--rate", "0"],
        vec!["replay", "/no/such/replay.jsonl"],
        vec!["replay", db_file],
        vec!["replay", lines, "--size", "0x0"],
        vec!["replay", lines, "--size", "99999999x1"],
        vec!["--theme", ctl, "campaign", "list"],
        vec!["nosuch"],
        vec![""],
    ];
    all.push(vec!["campaign", "show", "coupon-10", "--json"]);
    all.into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn no_hostile_argument_makes_any_command_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, store, lines) = populated(&dir);
    drop(store);
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database, just some bytes\n".repeat(200),
    )
    .expect("write");
    let lines = lines.display().to_string();
    let commands = hostile_commands(&garbage.display().to_string(), &lines);
    for target in [&db, &garbage] {
        for args in &commands {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_in(dir.path(), Some(target), &refs);
            let err = stderr(&out);
            assert!(
                !matches!(out.status.code(), Some(101 | 134) | None),
                "{refs:?} on {}: {:?}\n{err}",
                target.display(),
                out.status
            );
            assert!(!err.contains("panicked"), "{refs:?}: {err}");
        }
    }
}

#[test]
fn an_empty_file_is_made_private_when_it_becomes_a_database() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("touched.db");
    std::fs::write(&db, b"").expect("touch");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = run_in(
        dir.path(),
        Some(&db),
        &["campaign", "create", "--key", "k", "--arms", "a:1,b:1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&db).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

#[test]
fn a_group_or_world_writable_database_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let (db, store, _) = populated(&dir);
    drop(store);
    let out = run_in(dir.path(), Some(&db), &["campaign", "list"]);
    assert!(!stderr(&out).contains("writable"), "{}", stderr(&out));
    for (mode, who) in [(0o660, "its group"), (0o606, "everyone")] {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let out = run_in(dir.path(), Some(&db), &["campaign", "list"]);
        assert!(out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("warning:") && err.contains(who),
            "{mode:o}: {err}"
        );
    }
}

/// Whether this process can write into a 0555 directory (root can): then a read-only
/// directory can only be tested by dropping privileges.
fn writes_ignore_modes(dir: &Path) -> bool {
    std::fs::write(dir.join("probe"), b"").is_ok()
}

#[test]
fn a_database_in_a_read_only_directory_can_be_read() {
    use std::os::unix::fs::PermissionsExt;
    let outer = tempfile::tempdir().expect("tmp");
    let dir = outer.path().join("ro");
    std::fs::create_dir(&dir).expect("mkdir");
    let db = dir.join("shop.db");
    {
        let mut store = liftdeck::store::Store::open(&db).expect("open");
        ingest_str(&mut store, &sim_jsonl(3, 50), Format::Jsonl, 1000);
    }
    // The last writer checkpointed and removed the -wal and -shm files.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for d in [outer.path(), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut cmd = if writes_ignore_modes(&dir) {
        // Root: run the reader as `nobody`, for whom the directory really is read-only.
        let Ok(setpriv) = which("setpriv") else {
            eprintln!("skipped: running as root and no setpriv to drop privileges");
            return;
        };
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin());
        c
    } else {
        Command::new(bin())
    };
    let out = cmd
        .arg("--db")
        .arg(&db)
        .args(["campaign", "list"])
        .current_dir("/")
        .output()
        .expect("run");
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    let err = stderr(&out);
    if err.contains("Permission denied") && err.contains("liftdeck") && out.stdout.is_empty() {
        eprintln!("skipped: the test binary is not reachable by nobody: {err}");
        return;
    }
    assert!(out.status.success(), "{:?}: {err}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("coupon-10"), "{text}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
