//! The A/B report of a campaign whose weights moved is stratified by allocation period: with a
//! base rate that doubles while traffic moves to arm `a`, pooling shows a lift that does not
//! exist and an SRM against today's weights; the stratified report shows neither.

use crate::common::{ingest_str, temp_db};
use liftdeck::app::report::{report_ab, Capping};
use liftdeck::lines::Format;
use liftdeck::stats::ab::{Metric, Options};
use liftdeck::store::{NewPeriod, Stage, Store};

const CAMPAIGN: &str = r#"{"type":"campaign","key":"b","name":"b","kind":"bandit","arms":[{"key":"a","weight":1},{"key":"z","weight":1}],"control":"z","traffic":1.0,"metric":"purchase","seed":"7","status":"running"}"#;

/// `units` assignments to `arm` at `hour`, the first `buyers` of them with a purchase.
fn block(arm: &str, from: usize, units: usize, buyers: usize, hour: u32) -> String {
    block_logged(arm, from, units, buyers, hour, 0.5)
}

/// The same, with the propensity the lines log.
fn block_logged(
    arm: &str,
    from: usize,
    units: usize,
    buyers: usize,
    hour: u32,
    propensity: f64,
) -> String {
    let mut out = String::new();
    for i in from..from + units {
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"b","unit":"u{i}","arm":"{arm}","propensity":{propensity},"ts":"2026-11-01T{hour:02}:00:00Z"}}"#
        ));
        out.push('\n');
        if i < from + buyers {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"b","unit":"u{i}","kind":"purchase","value":10,"ts":"2026-11-01T{hour:02}:10:00Z"}}"#
            ));
            out.push('\n');
        }
    }
    out
}

fn drifting_bandit(store: &mut Store) {
    drifting_bandit_logged(store, 1, (0.5, 0.5));
}

/// `k` times the units, with period 2's lines logging `logged` as their propensities.
fn drifting_bandit_logged(store: &mut Store, k: usize, logged: (f64, f64)) {
    ingest_str(store, CAMPAIGN, Format::Jsonl, 100);
    // Period 1: 50/50 at a 5% base rate.
    let mut p1 = block("a", 0, 200 * k, 10 * k, 1);
    p1.push_str(&block("z", 200 * k, 200 * k, 10 * k, 1));
    ingest_str(store, &p1, Format::Jsonl, 500);
    let at = liftdeck::clock::parse_rfc3339("2026-11-01T02:00:00Z").expect("time");
    let next = NewPeriod {
        started_at: at,
        stage: Stage::Exploit,
        units: 400 * k as i64,
        weights: vec![0.9, 0.1],
        summary: serde_json::json!({}),
    };
    store.start_period("b", 1, &next, "test").expect("period 2");
    // Period 2: 90/10 at a 10% base rate. No arm is better in either period.
    let mut p2 = block_logged("a", 400 * k, 360 * k, 36 * k, 3, logged.0);
    p2.push_str(&block_logged("z", 760 * k, 40 * k, 4 * k, 3, logged.1));
    ingest_str(store, &p2, Format::Jsonl, 500);
}

#[test]
fn a_bandit_report_is_stratified_and_shows_no_false_lift_or_srm() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "b.db");
    drifting_bandit(&mut store);
    let out = report_ab(
        &store,
        "b",
        Metric::Conversion,
        &Options::default(),
        Capping::None,
        None,
    )
    .expect("report");
    let r = &out[0].report;
    let a = r.arms.iter().find(|row| row.key == "a").expect("arm a");
    // Pooled: a 46/560 = 8.2% vs z 14/240 = 5.8%, a +41% "lift". Stratified: 7.5% each.
    let lift = a.rel_lift.expect("lift");
    assert!(lift.abs() < 1e-9, "stratified lift {lift}");
    assert!((a.rate.expect("rate") - 0.075).abs() < 1e-12);
    assert!(!r.srm.alarm, "560/240 is what 50/50 then 90/10 should give");
    let s = r.stratified.as_ref().expect("stratification reported");
    assert_eq!(s.strata, 2);
    assert!(
        r.notes.iter().any(|n| n.contains("stratified")),
        "{:?}",
        r.notes
    );
}

#[test]
fn a_segmented_bandit_report_says_it_pools_across_periods() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "b.db");
    drifting_bandit(&mut store);
    let out = report_ab(
        &store,
        "b",
        Metric::Conversion,
        &Options::default(),
        Capping::Absolute(5.0),
        None,
    )
    .expect("report");
    assert!(
        out[0]
            .report
            .notes
            .iter()
            .any(|n| n.contains("pooled across 2")),
        "{:?}",
        out[0].report.notes
    );
}

#[test]
fn health_checks_a_bandit_s_srm_against_the_weights_each_period_had() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "b.db");
    drifting_bandit(&mut store);
    let now = liftdeck::clock::parse_rfc3339("2026-11-01T03:30:00Z").expect("time");
    let health = liftdeck::app::health::check(&store, now, 86_400_000_000).expect("health");
    let b = health
        .iter()
        .find(|h| h.campaign == "b")
        .expect("campaign b");
    assert!(
        b.findings.iter().all(|f| f.check != "srm"),
        "{:?}",
        b.findings
    );
}

fn causal(store: &Store) -> liftdeck::app::causal::CausalReport {
    liftdeck::app::causal::causal_report(store, "b", None, &liftdeck::app::NoProgress)
        .expect("causal report")
}

#[test]
fn the_causal_report_shows_the_stratified_effect_beside_the_weighted_one() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "b.db");
    // Propensities logged as drawn: 0.9/0.1 in period 2.
    drifting_bandit_logged(&mut store, 1, (0.9, 0.1));
    let r = causal(&store);
    let a = &r.outcomes[0].arms[0];
    let s = a.stratified.expect("stratified effect");
    let w = a.effect.expect("weighted effect");
    assert!(
        s.diff.abs() < 1e-12,
        "no effect in either period: {}",
        s.diff
    );
    // Hajek weighting by the true propensities removes the bias as well.
    assert!(w.ipw_diff.abs() < 1e-9, "weighted {}", w.ipw_diff);
    assert!(!a.disagrees);
    assert!(r.notes.iter().any(|n| n.contains("stratified effect")));
    let text = liftdeck::app::causal::format_text(&r);
    assert!(text.contains("stratified"), "{text}");
}

#[test]
fn the_causal_report_says_when_logged_propensities_and_periods_disagree() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "b.db");
    // A storefront that logged 0.5 while drawing 90/10: weighting cannot correct the drift.
    drifting_bandit_logged(&mut store, 20, (0.5, 0.5));
    let r = causal(&store);
    let a = &r.outcomes[0].arms[0];
    assert!(a.disagrees, "{a:?}");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("disagree for a on conversion")),
        "{:?}",
        r.notes
    );
    assert!(liftdeck::app::causal::format_text(&r).contains("DISAGREES"));
}
