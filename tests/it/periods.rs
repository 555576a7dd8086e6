//! Allocation periods in the store: period 1 at creation, a new period moves the current
//! weights, assignments fall in the period in force at their timestamp, and the per-(arm,
//! period) rollups add up to the per-arm ones and match a recompute.

use crate::common::{assert_rollups_consistent, ingest_str, temp_db};
use liftdeck::lines::Format;
use liftdeck::store::{NewPeriod, Stage};

const CAMPAIGN: &str = r#"{"type":"campaign","key":"b","name":"b","kind":"bandit","arms":[{"key":"a","weight":1},{"key":"z","weight":3}],"control":"a","traffic":1.0,"metric":"purchase","seed":"7","status":"running"}"#;

fn lines(from: usize, to: usize, hour: u32) -> String {
    let mut out = String::new();
    for i in from..to {
        let arm = if i % 2 == 0 { "a" } else { "z" };
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"b","unit":"u{i}","arm":"{arm}","propensity":0.5,"context":{{"pre_value":{i}}},"ts":"2026-11-01T{hour:02}:00:00Z"}}"#
        ));
        out.push('\n');
        if i % 3 == 0 {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"b","unit":"u{i}","kind":"purchase","value":{}.5,"ts":"2026-11-01T{hour:02}:30:00Z"}}"#,
                i % 7
            ));
            out.push('\n');
        }
    }
    out
}

fn micros(hour: u32) -> i64 {
    liftdeck::clock::parse_rfc3339(&format!("2026-11-01T{hour:02}:00:00Z")).expect("time")
}

#[test]
fn the_first_period_is_the_creation_weights_normalised() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "p.db");
    ingest_str(&mut store, CAMPAIGN, Format::Jsonl, 100);
    let periods = store.periods("b").expect("periods");
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0].period, 1);
    assert_eq!(periods[0].stage, Stage::Explore);
    assert_eq!(periods[0].weights, vec![0.25, 0.75]);
}

#[test]
fn assignments_fall_in_the_period_in_force_and_period_rollups_add_up() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "p.db");
    ingest_str(&mut store, CAMPAIGN, Format::Jsonl, 100);
    ingest_str(&mut store, &lines(0, 40, 1), Format::Jsonl, 7);
    let new = NewPeriod {
        started_at: micros(2),
        stage: Stage::Exploit,
        units: 40,
        weights: vec![0.9, 0.1],
        summary: serde_json::json!({"p_best": [0.9, 0.1]}),
    };
    assert_eq!(
        store.start_period("b", 1, &new, "test").expect("start"),
        Some(2)
    );
    // A second updater that read period 1 is stale: nothing is written.
    assert_eq!(
        store.start_period("b", 1, &new, "test").expect("stale"),
        None
    );
    let arms = store.arm_summaries("b").expect("arms");
    assert_eq!(arms[0].weight, 0.9);
    // Units of period 2, and late events of period-1 units, in mixed batches.
    let mut late = lines(40, 100, 3);
    late.push_str(
        r#"{"type":"event","event_id":"late1","campaign":"b","unit":"u1","kind":"purchase","value":4,"ts":"2026-11-01T03:10:00Z"}"#,
    );
    late.push('\n');
    ingest_str(&mut store, &late, Format::Jsonl, 13);
    let arms = store.arm_summaries("b").expect("arms");
    let by_period = store.period_rollups("b").expect("period rollups");
    assert_eq!(by_period.len(), 2);
    assert_eq!(by_period[1].weights, vec![0.9, 0.1]);
    let units: Vec<Vec<i64>> = by_period
        .iter()
        .map(|p| p.arms.iter().map(|a| a.units).collect())
        .collect();
    assert_eq!(units, vec![vec![20, 20], vec![30, 30]]);
    // The late event of a period-1 unit counts in period 1.
    assert!(by_period[0].arms[1].revenue_sum >= 4.0);
    for (i, arm) in arms.iter().enumerate() {
        let mut sum = liftdeck::domain::ArmRollup::default();
        for p in &by_period {
            sum += p.arms[i].clone();
        }
        assert!(
            sum.differences(&arm.rollup, 1e-9).is_empty(),
            "periods of arm {} do not add up: {:?}",
            arm.key,
            sum.differences(&arm.rollup, 1e-9)
        );
    }
    assert_rollups_consistent(&store);
}

#[test]
fn arm_period_rollups_have_exactly_the_arm_rollup_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, _store) = temp_db(&dir, "p.db");
    let conn = rusqlite::Connection::open(&path).expect("raw");
    let columns = |table: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .expect("pragma");
        stmt.query_map([table], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let mut per_arm = columns("arm_rollups");
    per_arm.insert(1, "period".into());
    assert_eq!(columns("arm_period_rollups"), per_arm);
}

#[test]
fn verify_names_a_drifted_period_rollup() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut store) = temp_db(&dir, "p.db");
    ingest_str(&mut store, CAMPAIGN, Format::Jsonl, 100);
    ingest_str(&mut store, &lines(0, 10, 1), Format::Jsonl, 100);
    assert!(store.verify_rollups("b").expect("verify").is_empty());
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute(
        "UPDATE arm_period_rollups SET conversions = conversions + 1
         WHERE arm_id = (SELECT id FROM arms WHERE key = 'z')",
        [],
    )
    .expect("drift");
    let diffs = store.verify_rollups("b").expect("verify");
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].contains("b/z period 1: conversions"), "{diffs:?}");
}

#[test]
fn a_bandit_configuration_is_stored_with_the_campaign() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "p.db");
    let line = CAMPAIGN.replace(
        r#""status":"running"}"#,
        r#""status":"running","bandit":{"policy":"ucb1","reward":"profit","floor":0.05}}"#,
    );
    let summary = ingest_str(&mut store, &line, Format::Jsonl, 100);
    assert_eq!(summary.rejected, 0);
    let (c, _) = store.campaign("b").expect("campaign");
    let bandit = c.spec.bandit.expect("config kept");
    assert_eq!(bandit.policy, liftdeck::domain::PolicyKind::Ucb1);
    assert_eq!(bandit.reward, Some(liftdeck::domain::RewardKind::Profit));
    assert_eq!(bandit.floor_or_default(), 0.05);
    // The same line again is a duplicate, not a mismatch.
    let again = ingest_str(&mut store, &line, Format::Jsonl, 100);
    assert_eq!((again.rejected, again.accepted), (0, 0));
}
