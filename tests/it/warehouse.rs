//! The ClickHouse data plane against SQLite on the same traffic: every rollup, the A/B report,
//! the bandit's weights and the causal estimate agree to 1e-9 relative; re-sent batches and a
//! killed ingest change no figure; rows are spread over both shards; a dead shard is CRIT.

use crate::common::*;
use crate::warehouse_cluster::Cluster;
use liftdeck::lines::Format;
use liftdeck::store::warehouse::WarehouseUrl;
use liftdeck::store::Store;
use serde_json::Value;
use std::path::Path;

/// A warehouse database on `cluster` (its own ClickHouse database `name`), tables created.
pub(crate) fn warehouse_db(
    dir: &tempfile::TempDir,
    cluster: &Cluster,
    name: &str,
) -> (std::path::PathBuf, Store) {
    let (path, mut store) = temp_db(dir, &format!("{name}.db"));
    let url = WarehouseUrl::parse(&cluster.url(name)).expect("url");
    store.set_warehouse(&url).expect("attach");
    store.warehouse().expect("attached").init().expect("init");
    (path, store)
}

/// Relative agreement of two JSON documents: same shape, same strings, numbers to `tol`.
pub(crate) fn assert_json_close(a: &Value, b: &Value, tol: f64, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().expect("f64"), y.as_f64().expect("f64"));
            let scale = x.abs().max(y.abs()).max(1e-300);
            assert!((x - y).abs() <= tol * scale || x == y, "{at}: {x} vs {y}");
        }
        (Value::Array(xs), Value::Array(ys)) => {
            assert_eq!(xs.len(), ys.len(), "{at}: lengths");
            for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
                assert_json_close(x, y, tol, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(xs), Value::Object(ys)) => {
            let (kx, ky): (Vec<_>, Vec<_>) = (xs.keys().collect(), ys.keys().collect());
            assert_eq!(kx, ky, "{at}: keys");
            for (k, x) in xs {
                assert_json_close(x, &ys[k], tol, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

pub(crate) fn json_of(db: &Path, args: &[&str]) -> Value {
    let out = run_cli(db, args);
    let text = cli_ok(&out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

#[test]
fn two_shards_give_the_same_figures_as_sqlite_and_re_sent_batches_change_nothing() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let traffic = sim_jsonl(41, 1500);

    let (sqlite_path, mut sqlite) = temp_db(&dir, "sqlite.db");
    ingest_str(&mut sqlite, &traffic, Format::Jsonl, 700);
    let (wh_path, mut wh) = warehouse_db(&dir, &cluster, "agree");
    let first = ingest_str(&mut wh, &traffic, Format::Jsonl, 700);
    assert!(first.accepted > 0);
    // The same file again, in other batch boundaries: every line is a repeat, and both
    // planes say so line for line.
    let again = ingest_str(&mut wh, &traffic, Format::Jsonl, 333);
    let again_sqlite = ingest_str(&mut sqlite, &traffic, Format::Jsonl, 333);
    assert_eq!(
        (again.accepted, again.duplicates, again.rejected),
        (
            again_sqlite.accepted,
            again_sqlite.duplicates,
            again_sqlite.rejected
        )
    );
    assert!(again.duplicates > first.accepted / 2, "{again:?}");

    assert_same_rollups(&sqlite, &wh);
    for c in sqlite.campaigns().expect("campaigns") {
        let (a, b) = (
            sqlite.period_rollups(&c.spec.key).expect("periods"),
            wh.period_rollups(&c.spec.key).expect("periods"),
        );
        assert_eq!(a.len(), b.len());
        for (pa, pb) in a.iter().zip(&b) {
            for (x, y) in pa.arms.iter().zip(&pb.arms) {
                let d = x.differences(y, 1e-9);
                assert!(d.is_empty(), "{} period {}: {d:?}", c.spec.key, pa.period);
            }
        }
    }

    // Rows are on both shards, and the sharding kept each unit on one.
    let health = wh.warehouse().expect("wh").health();
    assert_eq!(health.len(), 2);
    for h in &health {
        assert!(h.error.is_none(), "{h:?}");
        assert!(h.events.unwrap_or(0) > 100, "{h:?}");
    }
    for n in &cluster.nodes {
        let split = n
            .query(
                "SELECT count() FROM agree.events_local WHERE cityHash64(unit) % 2 != \
                 (SELECT cityHash64(unit) % 2 FROM agree.events_local LIMIT 1)",
            )
            .expect("query");
        assert_eq!(split.trim(), "0", "a node holds units of both shards");
    }
    drop((sqlite, wh));

    // The commands operators run: the same JSON from both files.
    for key in liftdeck::app::demo::DEMO_KEYS {
        let (a, b) = (
            json_of(&sqlite_path, &["report", "ab", key, "--json"]),
            json_of(&wh_path, &["report", "ab", key, "--json"]),
        );
        assert_json_close(&a, &b, 1e-9, &format!("report ab {key}"));
    }
}

#[test]
fn an_unreachable_shard_is_crit_and_a_report_names_it_instead_of_answering_from_half() {
    let mut cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut wh) = warehouse_db(&dir, &cluster, "down");
    ingest_str(&mut wh, &sim_jsonl(5, 200), Format::Jsonl, 500);
    drop(wh);
    let ok = run_cli(&path, &["warehouse", "status"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    cluster.kill(1);
    let down = run_cli(&path, &["warehouse", "status", "--json"]);
    assert_eq!(down.status.code(), Some(2));
    let status: Value = serde_json::from_slice(&down.stdout).expect("json");
    assert_eq!(status["status"], "CRIT");
    assert!(status["nodes"][1]["error"].is_string());
    assert!(status["nodes"][0]["error"].is_null());

    let health = run_cli(&path, &["health", "--json"]);
    assert_eq!(health.status.code(), Some(2));
    let checks: Value = serde_json::from_slice(&health.stdout).expect("health json");
    let findings = checks[0]["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["check"] == "warehouse_shard"),
        "{checks}"
    );

    let report = run_cli(&path, &["report", "ab", "coupon-10"]);
    assert_eq!(report.status.code(), Some(74));
    let err = String::from_utf8_lossy(&report.stderr);
    let dead = format!("127.0.0.1:{}", cluster.nodes[1].http);
    assert!(err.contains(&dead), "{err}");
    // An erasure cannot be half done quietly either.
    let forget = run_cli(&path, &["forget", "anyone"]);
    assert_eq!(forget.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&forget.stderr).contains(&dead));

    cluster.restart(1);
    let back = run_cli(&path, &["warehouse", "status"]);
    assert_eq!(back.status.code(), Some(0));
}

#[test]
fn a_warehouse_flag_never_redirects_a_database_and_raw_row_reads_refuse_by_name() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let (sqlite_path, mut sqlite) = temp_db(&dir, "plain.db");
    ingest_str(&mut sqlite, &sim_jsonl(3, 50), Format::Jsonl, 500);
    drop(sqlite);
    let url = format!("clickhouse://127.0.0.1:{}/one", cluster.nodes[0].http);
    // A file with traffic of its own cannot become a warehouse database.
    let init = run_cli(&sqlite_path, &["--warehouse", &url, "warehouse", "init"]);
    assert_ne!(init.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&init.stderr).contains("holds"));
    // Nor does the flag make a report read elsewhere.
    let report = run_cli(
        &sqlite_path,
        &["--warehouse", &url, "report", "ab", "coupon-10"],
    );
    assert_eq!(report.status.code(), Some(64));

    let wh_path = dir.path().join("wh.db");
    let init = run_cli(&wh_path, &["--warehouse", &url, "warehouse", "init"]);
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = run_cli(&wh_path, &["--warehouse", &url, "warehouse", "init"]);
    assert_eq!(again.status.code(), Some(0), "init is idempotent");
    let mut wh = Store::open(&wh_path).expect("open");
    ingest_str(&mut wh, &sim_jsonl(3, 50), Format::Jsonl, 500);
    drop(wh);
    let export = run_cli(&wh_path, &["export", "coupon-10"]);
    assert_eq!(export.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&export.stderr).contains("export reads raw rows"));
}

#[cfg(unix)]
#[test]
fn an_ingest_killed_mid_run_and_run_again_gives_the_figures_of_one_clean_ingest() {
    use std::os::unix::process::ExitStatusExt;
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let text = sim_jsonl(23, 20_000);
    let file = dir.path().join("traffic.jsonl");
    std::fs::write(&file, &text).expect("write");
    let total_events = text
        .lines()
        .filter(|l| l.contains(r#""type":"event""#))
        .count() as i64;
    let (_, mut sqlite) = temp_db(&dir, "sqlite.db");
    ingest_str(&mut sqlite, &text, Format::Jsonl, 500);
    let (wh_path, wh) = warehouse_db(&dir, &cluster, "killed");
    drop(wh);

    let committed = || Store::open_read_only(&wh_path).map_or(0, |s| s.event_count().unwrap_or(0));
    let mut child = std::process::Command::new(bin())
        .arg("--db")
        .arg(&wh_path)
        .args(["ingest", "--batch", "300"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ingest");
    // Wait for progress (polling, not a time limit), then kill mid-run.
    while committed() == 0 {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("ingest ended before it could be killed: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    assert_eq!(child.wait().expect("reap").signal(), Some(9));
    let kept = committed();
    assert!(
        kept > 0 && kept < total_events,
        "killed mid-way: {kept} of {total_events}"
    );

    // The operator's remedy is to run the same ingest again.
    let again = run_cli(
        &wh_path,
        &["ingest", "--batch", "300", file.to_str().expect("utf-8")],
    );
    cli_ok(&again);
    let wh = Store::open(&wh_path).expect("open");
    assert_eq!(
        wh.event_count().expect("count"),
        sqlite.event_count().expect("count")
    );
    assert_same_rollups(&sqlite, &wh);
}

#[test]
fn bench_warehouse_runs_on_its_own_local_cluster_and_reports_every_way() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(bin())
        .args([
            "bench",
            "warehouse",
            "--events",
            "3000",
            "--repeats",
            "1",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run bench");
    let text = cli_ok(&out);
    assert!(text.contains("ingest into the warehouse"), "{text}");
    for key in liftdeck::app::demo::DEMO_KEYS {
        assert!(text.contains(key), "{text}");
    }
    // The shards were stopped and the databases removed.
    assert!(!dir.path().join("bench-warehouse-sqlite.db").exists());
    assert!(!dir.path().join("clickhouse").exists());
}

#[test]
fn a_batch_of_long_ids_fits_its_look_ups_and_a_resend_is_all_duplicates() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut wh) = warehouse_db(&dir, &cluster, "long");
    let pad = "x".repeat(150);
    let mut text = String::new();
    for i in 0..3_000 {
        text.push_str(&format!(
            "{{\"type\":\"assignment\",\"campaign\":\"coupon-10\",\"unit\":\"{pad}-{i}\",\
             \"arm\":\"control\",\"propensity\":0.5,\"ts\":\"2026-11-01T00:00:00Z\"}}\n\
             {{\"type\":\"event\",\"event_id\":\"{pad}-e{i}\",\"campaign\":\"coupon-10\",\
             \"unit\":\"{pad}-{i}\",\"kind\":\"click\",\"ts\":\"2026-11-01T00:01:00Z\"}}\n"
        ));
    }
    // The demo campaigns first, then one batch of 6,000 lines: well over 256 KiB of ids.
    ingest_str(&mut wh, &sim_jsonl(3, 1), Format::Jsonl, 500);
    let first = ingest_str(&mut wh, &text, Format::Jsonl, 10_000);
    assert_eq!((first.accepted, first.rejected), (6_000, 0), "{first:?}");
    let again = ingest_str(&mut wh, &text, Format::Jsonl, 10_000);
    assert_eq!((again.accepted, again.duplicates), (0, 6_000), "{again:?}");
}
