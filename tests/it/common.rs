//! Shared test helpers: temporary databases, fixture paths, the built binary.

use liftdeck::app::{self, Env, IngestSummary};
use liftdeck::clock::Clock;
use liftdeck::lines::Format;
use liftdeck::store::Store;
use std::path::{Path, PathBuf};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_liftdeck"))
}

pub fn test_env() -> Env {
    Env {
        clock: Clock::virtual_at(1_793_491_200_000_000),
        actor: "test".into(),
    }
}

pub fn temp_db(dir: &tempfile::TempDir, name: &str) -> (PathBuf, Store) {
    let path = dir.path().join(name);
    let store = Store::open(&path).expect("open store");
    (path, store)
}

pub fn ingest_str(store: &mut Store, text: &str, format: Format, batch: usize) -> IngestSummary {
    app::ingest_reader(
        store,
        &test_env(),
        text.as_bytes(),
        "test",
        format,
        batch,
        |_| {},
    )
    .expect("ingest")
}

pub fn ingest_file(store: &mut Store, path: &Path) -> IngestSummary {
    let format = if path.extension().is_some_and(|e| e == "csv") {
        Format::Csv
    } else {
        Format::Jsonl
    };
    let f = std::fs::File::open(path).expect("fixture");
    app::ingest_reader(
        store,
        &test_env(),
        std::io::BufReader::new(f),
        &path.display().to_string(),
        format,
        1000,
        |_| {},
    )
    .expect("ingest")
}

/// Asserts that every campaign's stored rollups equal a from-scratch SQL recompute.
pub fn assert_rollups_consistent(store: &Store) {
    for c in store.campaigns().expect("campaigns") {
        let diffs = store.verify_rollups(&c.spec.key).expect("verify");
        assert!(diffs.is_empty(), "rollups drifted: {diffs:#?}");
    }
}

/// Simulated traffic for the three demo campaigns as JSON lines, campaign lines first.
/// Deterministic for a seed.
pub fn sim_jsonl(seed: u64, shoppers: usize) -> String {
    use liftdeck::app::demo::{demo_traffic, ensure_campaigns, DEMO_KEYS};
    use liftdeck::domain::{CampaignDefinition, Record};
    use liftdeck::lines::to_json_line;
    let mut scratch = Store::open_in_memory().expect("scratch");
    let env = test_env();
    ensure_campaigns(&mut scratch, &env, seed).expect("campaigns");
    let mut out = String::new();
    for key in DEMO_KEYS {
        let (c, _) = scratch.campaign(key).expect("campaign");
        let def = Record::Campaign(Box::new(CampaignDefinition {
            spec: c.spec,
            status: c.status,
        }));
        out.push_str(&to_json_line(&def));
        out.push('\n');
    }
    let mut traffic = demo_traffic(&scratch, seed, 1).expect("traffic");
    for record in traffic.generate(shoppers, env.clock.now(), shoppers as i64 * 20_000) {
        out.push_str(&to_json_line(&record));
        out.push('\n');
    }
    out
}

/// Every arm's rollups of every campaign, for comparing two databases.
pub fn all_rollups(store: &Store) -> Vec<(String, Vec<liftdeck::store::ArmSummary>)> {
    store
        .campaigns()
        .expect("campaigns")
        .into_iter()
        .map(|c| {
            let arms = store.arm_summaries(&c.spec.key).expect("arms");
            (c.spec.key, arms)
        })
        .collect()
}

pub fn assert_same_rollups(a: &Store, b: &Store) {
    let (ra, rb) = (all_rollups(a), all_rollups(b));
    assert_eq!(ra.len(), rb.len());
    for ((ka, arms_a), (kb, arms_b)) in ra.iter().zip(&rb) {
        assert_eq!(ka, kb);
        assert_eq!(arms_a.len(), arms_b.len());
        for (x, y) in arms_a.iter().zip(arms_b) {
            assert_eq!(x.key, y.key);
            let d = x.rollup.differences(&y.rollup, 1e-9);
            assert!(d.is_empty(), "{ka}/{}: {d:?}", x.key);
        }
    }
}

/// A campaign whose treatment earns 1.00 less revenue per unit than control (~12 per unit):
/// significantly worse at a zero margin, well within a 20% tolerated harm. `settings` is the
/// campaign line's report settings object.
pub fn guardrail_lines(key: &str, status: &str, settings: &str) -> String {
    let mut s = format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"t","weight":50.0}}],"control":"control","traffic":1.0,"metric":"purchase","guardrails":["revenue"],"seed":5,"status":"{status}","settings":{settings}}}"#
    );
    s.push('\n');
    for i in 0..1000 {
        let (arm, base) = if i % 2 == 0 {
            ("control", 10.0)
        } else {
            ("t", 9.0)
        };
        let value = base + ((i / 2) % 5) as f64;
        s.push_str(&format!(
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        s.push('\n');
        s.push_str(&format!(
            r#"{{"type":"event","event_id":"{key}-e{i}","campaign":"{key}","unit":"u{i}","kind":"purchase","value":{value},"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        s.push('\n');
    }
    s
}

/// Writes `text` to a file beside `db` and ingests it with the real binary; panics with
/// ingest's stderr unless it succeeds.
pub fn ingest_with_cli(db: &Path, text: &str) {
    let file = db.with_extension("input.jsonl");
    std::fs::write(&file, text).expect("write lines");
    let out = std::process::Command::new(bin())
        .arg("--db")
        .arg(db)
        .arg("ingest")
        .arg(&file)
        .output()
        .expect("run ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the built binary on `db` with `args`: no `$LIFTDECK_DB`, no stdin.
pub fn run_cli(db: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .env_remove("LIFTDECK_DB")
        .env_remove("LIFTDECK_PSEUDONYMIZE")
        .env_remove("LIFTDECK_WAREHOUSE")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run liftdeck")
}

/// A run's stdout; panics with its stderr unless it succeeded.
pub fn cli_ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
