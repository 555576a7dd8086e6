//! The forecast ledger wired to the store and the CLI: a campaign started from a plan freezes
//! its forecast, `forecast review KEY` scores it against the measured effect once the campaign
//! stopped, `forecast ledger` keeps the running score. The plan forecaster itself is built
//! elsewhere: these tests freeze hand-made forecasts through `app::forecast_ledger::freeze`.

use crate::common::{cli_ok, ingest_str, run_cli, temp_db, test_env};
use liftdeck::app::forecast_ledger::{self, freeze, review};
use liftdeck::app::{self, NoProgress};
use liftdeck::domain::{Offer, Status};
use liftdeck::forecast::ledger::{self as pure, Forecast, Interval, Outcome};
use liftdeck::forecast::plan::Plan;
use liftdeck::forecast::projection::{Band, CostSplit, PlanForecast, Training};
use liftdeck::lines::Format;
use liftdeck::store::{migrate, Store};

const PLAN: &str = r#"{"name":"spring15","offer":{"type":"discount","pct":15},
    "audience":{},"traffic":{"audience_size":1000}}"#;

fn plan() -> Plan {
    Plan::parse(PLAN).expect("plan")
}

fn band(point: f64, sigma: f64) -> Band {
    Band {
        value: point,
        low_80: point - pure::Z80 * sigma,
        high_80: point + pure::Z80 * sigma,
        low_95: point - pure::Z95 * sigma,
        high_95: point + pure::Z95 * sigma,
    }
}

/// A forecast of `point` +/- a normal spread `sigma` incremental orders, with draws kept.
fn forecast(point: f64, sigma: f64, hash: &str) -> PlanForecast {
    let b = band(point, sigma);
    let draws: Vec<f64> = (0..41)
        .map(|k| point + sigma * (k as f64 - 20.0) / 10.0)
        .collect();
    PlanForecast {
        plan: "spring15".into(),
        offer: Offer::Discount { pct: 15.0 },
        offer_type: "discount".into(),
        audience: "everyone".into(),
        reach: band(1000.0, 50.0),
        conversions_without: band(100.0, 10.0),
        conversions_with: band(100.0 + point, 10.0),
        incremental_conversions: b,
        incremental_revenue: band(point * 40.0, sigma * 40.0),
        cost: band(600.0, 60.0),
        incremental_profit: band(point * 40.0 - 600.0, sigma * 40.0),
        roi: None,
        split: CostSplit {
            subsidy: band(500.0, 50.0),
            cost_on_incremental: band(100.0, 10.0),
            margin_on_incremental: band(point * 34.0, sigma * 34.0),
        },
        segments: Vec::new(),
        warnings: Vec::new(),
        recalibration: None,
        holdout: None,
        ledger: None,
        training: Training {
            campaigns: vec!["past1".into(), "past2".into()],
            campaigns_with_offer_type: vec!["past1".into()],
            units: 20_000,
            data_hash: hash.into(),
            draws: draws.len(),
            ..Default::default()
        },
        incremental_conversion_draws: draws,
    }
}

/// A draft ab campaign: control without offer, `t` with the plan's 15% discount.
fn campaign_line(key: &str) -> String {
    format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"t","weight":50.0,"offer":{{"type":"discount","pct":15.0}}}}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"draft","settings":{{}}}}"#
    ) + "\n"
}

/// `units` per arm; control units buy 1 in 10, treated units `treated_per_20` in 20, so the
/// treated arm's extra orders are (treated_per_20/20 - 0.1) * units.
fn traffic_lines(key: &str, units: usize, treated_per_20: usize) -> String {
    let mut s = String::new();
    for i in 0..2 * units {
        let (arm, j) = if i % 2 == 0 {
            ("control", i / 2)
        } else {
            ("t", i / 2)
        };
        s.push_str(&format!(
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        s.push('\n');
        let buys = if arm == "control" {
            j % 10 == 0
        } else {
            j % 20 < treated_per_20
        };
        if buys {
            s.push_str(&format!(
                r#"{{"type":"event","event_id":"{key}-e{i}","campaign":"{key}","unit":"u{i}","kind":"purchase","value":40,"ts":"2026-11-01T13:00:00Z"}}"#
            ));
            s.push('\n');
        }
    }
    s
}

/// A campaign started from the plan with `f` frozen, run with its traffic, then stopped.
fn run_planned(store: &mut Store, key: &str, f: &PlanForecast, units: usize, per_20: usize) {
    let env = test_env();
    ingest_str(store, &campaign_line(key), Format::Jsonl, 100);
    freeze(store, &env, key, &plan(), f).expect("freeze");
    ingest_str(
        store,
        &traffic_lines(key, units, per_20),
        Format::Jsonl,
        1000,
    );
    app::set_status(store, &env, key, Status::Stopped).expect("stop");
}

fn ledger_pair(f: &PlanForecast, r: &forecast_ledger::Review) -> (Forecast, Outcome) {
    let b = &f.incremental_conversions;
    (
        Forecast {
            offer_type: f.offer_type.clone(),
            point: b.value,
            interval_80: Interval {
                lo: b.low_80,
                hi: b.high_80,
            },
            interval_95: Interval {
                lo: b.low_95,
                hi: b.high_95,
            },
            draws: Some(f.incremental_conversion_draws.clone()),
        },
        Outcome {
            effect: r.measured,
            se: r.measured_se,
        },
    )
}

#[test]
fn a_version_12_database_upgrades_with_an_empty_ledger_and_its_campaigns_intact() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v12.db");
    {
        let mut raw = rusqlite::Connection::open(&path).expect("raw");
        migrate::migrate_to(&mut raw, 12).expect("v12");
        raw.execute_batch(
            "INSERT INTO campaigns (id, key, name, kind, seed, traffic, created_at)
                 VALUES (1, 'a', 'A', 'ab', 1, 1.0, 0);",
        )
        .expect("old rows");
        let has: i64 = raw
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'forecasts'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(has, 0, "version 12 has no ledger yet");
    }
    let store = Store::open(&path).expect("upgrade");
    assert_eq!(store.schema_version().expect("v"), migrate::CURRENT_VERSION);
    assert_eq!(store.campaign("a").expect("kept").0.spec.name, "A");
    assert!(store.frozen_forecast("a").expect("read").is_none());
    assert!(store.reviewed_forecasts(None).expect("read").is_empty());
}

#[test]
fn freezing_starts_the_campaign_and_stores_the_forecast_and_a_resume_keeps_the_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "f.db");
    let env = test_env();
    ingest_str(&mut store, &campaign_line("c"), Format::Jsonl, 100);
    let first = forecast(50.0, 10.0, "hash-one");
    let got = freeze(&mut store, &env, "c", &plan(), &first).expect("freeze");
    assert!(got.newly_frozen);
    assert_eq!(got.from, Status::Draft);
    assert_eq!(store.campaign("c").expect("c").0.status, Status::Running);
    let row = store.frozen_forecast("c").expect("read").expect("frozen");
    assert_eq!(row.data_hash, "hash-one");
    assert_eq!(row.actor, env.actor);
    assert_eq!(row.frozen_at, env.clock.now());
    assert_eq!(row.offer_type, "discount");
    assert!(
        row.model.contains("2 randomised campaigns"),
        "{}",
        row.model
    );
    let back: PlanForecast = serde_json::from_str(&row.forecast).expect("json");
    assert_eq!(back, first);
    let plan_back: Plan = serde_json::from_str(&row.plan).expect("plan json");
    assert_eq!(plan_back, plan());

    app::set_status(&mut store, &env, "c", Status::Paused).expect("pause");
    let again = freeze(
        &mut store,
        &env,
        "c",
        &plan(),
        &forecast(80.0, 5.0, "hash-two"),
    )
    .expect("resume");
    assert!(!again.newly_frozen);
    assert_eq!(again.data_hash, "hash-one");
    let row2 = store.frozen_forecast("c").expect("read").expect("frozen");
    assert_eq!(row2, row, "the first frozen forecast is kept");
    assert_eq!(store.campaign("c").expect("c").0.status, Status::Running);
}

#[test]
fn a_start_that_cannot_happen_freezes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "f.db");
    let env = test_env();
    ingest_str(&mut store, &campaign_line("c"), Format::Jsonl, 100);
    app::set_status(&mut store, &env, "c", Status::Running).expect("start");
    app::set_status(&mut store, &env, "c", Status::Stopped).expect("stop");
    let err = freeze(&mut store, &env, "c", &plan(), &forecast(50.0, 10.0, "h"));
    assert!(err.is_err(), "a stopped campaign cannot start");
    assert!(store.frozen_forecast("c").expect("read").is_none());
}

#[test]
fn start_with_a_plan_is_refused_under_read_only_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "ro.db");
    ingest_str(&mut store, &campaign_line("c"), Format::Jsonl, 100);
    drop(store);
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, PLAN).expect("plan");
    let p = plan_file.to_str().expect("utf8");
    let out = run_cli(&db, &["--read-only", "campaign", "start", "c", "--plan", p]);
    assert_eq!(out.status.code(), Some(77), "{out:?}");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.campaign("c").expect("c").0.status, Status::Draft);
    assert!(store.frozen_forecast("c").expect("read").is_none());
}

#[test]
fn start_with_a_plan_that_cannot_be_forecast_is_refused_and_changes_nothing() {
    // No randomised history in this store: the forecaster has nothing to learn from.
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "nf.db");
    ingest_str(&mut store, &campaign_line("c"), Format::Jsonl, 100);
    drop(store);
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, PLAN).expect("plan");
    let p = plan_file.to_str().expect("utf8");
    let out = run_cli(&db, &["campaign", "start", "c", "--plan", p]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not started"), "{err}");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.campaign("c").expect("c").0.status, Status::Draft);
    assert!(store.frozen_forecast("c").expect("read").is_none());
}

#[test]
fn review_is_refused_without_a_frozen_forecast_while_running_and_without_an_effect() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "r.db");
    let env = test_env();
    ingest_str(&mut store, &campaign_line("plain"), Format::Jsonl, 100);
    app::set_status(&mut store, &env, "plain", Status::Running).expect("start");
    app::set_status(&mut store, &env, "plain", Status::Stopped).expect("stop");
    let e = review(&mut store, &env, "plain").expect_err("no frozen forecast");
    assert!(e.to_string().contains("no frozen forecast"), "{e}");

    ingest_str(&mut store, &campaign_line("live"), Format::Jsonl, 100);
    freeze(
        &mut store,
        &env,
        "live",
        &plan(),
        &forecast(50.0, 10.0, "h"),
    )
    .expect("freeze");
    let e = review(&mut store, &env, "live").expect_err("running");
    assert!(e.to_string().contains("is running"), "{e}");

    // Stopped with units but no orders at all: nothing to measure.
    ingest_str(&mut store, &campaign_line("dry"), Format::Jsonl, 100);
    freeze(&mut store, &env, "dry", &plan(), &forecast(50.0, 10.0, "h")).expect("freeze");
    let assignments_only: String = traffic_lines("dry", 50, 0)
        .lines()
        .filter(|l| !l.contains(r#""type":"event""#))
        .map(|l| format!("{l}\n"))
        .collect();
    ingest_str(&mut store, &assignments_only, Format::Jsonl, 100);
    app::set_status(&mut store, &env, "dry", Status::Stopped).expect("stop");
    let reviewed = review(&mut store, &env, "dry");
    assert!(
        reviewed.is_err(),
        "treated arm without orders has no measurable effect"
    );
    let e = reviewed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("no measurable effect"), "{e}");
    assert!(store.reviewed_forecasts(None).expect("read").is_empty());
}

#[test]
fn review_scores_the_frozen_forecast_against_the_causal_reports_extra_orders_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "rev.db");
    let env = test_env();
    let f = forecast(40.0, 15.0, "h");
    // 1000 units per arm, control 10%, treated 15%: 50 extra orders measured.
    run_planned(&mut store, "c", &f, 1000, 3);
    let report = app::causal::causal_report(&store, "c", None, &NoProgress).expect("causal");
    let totals = report.incremental[0].totals.expect("totals");
    let r = review(&mut store, &env, "c").expect("review");
    assert_eq!(r.arm, "t");
    assert!((r.measured - 50.0).abs() < 1e-9, "{}", r.measured);
    assert!((r.measured - totals.extra_orders.value).abs() < 1e-12);
    let z = pure::Z95;
    assert!((r.measured_se * z - totals.extra_orders.half_width()).abs() < 1e-9);
    let (lf, o) = ledger_pair(&f, &r);
    let expected = pure::score(0, &lf, &o).expect("score");
    assert_eq!(r.score, expected);
    assert!(r.score.inside_80 && r.score.inside_95);
    assert!((r.score.error + 10.0).abs() < 1e-9);
    assert!(r.score.crps_draws.is_some());
    assert!(!r.replaced_earlier_review);
    drop(store);

    // Through the CLI: the same numbers, and a second review replaces the first row.
    let out = cli_ok(&run_cli(&db, &["forecast", "review", "c", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["replaced_earlier_review"], true);
    assert_eq!(v["measured"].as_f64(), Some(r.measured));
    assert_eq!(v["score"]["inside_80"], true);
    let text = cli_ok(&run_cli(&db, &["forecast", "review", "c"]));
    assert!(text.contains("inside the 80% interval"), "{text}");
    assert!(text.contains("replaced the earlier review"), "{text}");
    let store = Store::open(&db).expect("open");
    let rows = store.reviewed_forecasts(None).expect("rows");
    assert_eq!(rows.len(), 1, "reviewing again updates the same row");
    assert_eq!(rows[0].measured, r.measured);
    assert_eq!(rows[0].measured_se, r.measured_se);

    // Under --read-only, review (a write) is refused.
    let ro = run_cli(&db, &["--read-only", "forecast", "review", "c"]);
    assert_eq!(ro.status.code(), Some(77));
}

#[test]
fn the_ledger_equals_summarise_on_the_same_reviews_and_recalibrates_from_twenty() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "led.db");
    let env = test_env();
    let mut pairs = Vec::new();
    // An overconfident forecaster: points scattered about the truth, sigma far too small.
    for k in 0..20 {
        let key = format!("c{k}");
        let per_20 = 3 + k % 3; // 15%, 20%, 25% on 200 units: 10, 20, 30 extra orders
        let f = forecast(8.0 + k as f64, 2.0, &format!("h{k}"));
        run_planned(&mut store, &key, &f, 200, per_20);
        if k == 18 {
            let l = forecast_ledger::ledger(&store, Some("discount")).expect("ledger");
            assert!(l.offer_types[0].recalibration.is_none());
            assert!(l.offer_types[0].recalibration_note.contains("at least 20"));
            assert!(forecast_ledger::recalibration_for(&store, "discount")
                .expect("recal")
                .is_none());
        }
        let r = review(&mut store, &env, &key).expect("review");
        pairs.push(ledger_pair(&f, &r));
    }
    let l = forecast_ledger::ledger(&store, None).expect("ledger");
    assert_eq!(l.offer_types.len(), 1);
    let t = &l.offer_types[0];
    assert_eq!(t.campaigns.len(), 20);
    let expected = pure::summarise(&pairs).expect("summary");
    assert_eq!(t.summary, expected);
    assert!(
        t.summary.coverage_95.share < 0.95,
        "overconfident: {:?}",
        t.summary
    );
    let recal = pure::recalibration(&pairs, "discount").expect("recal");
    assert_eq!(t.recalibration.as_ref(), Some(&recal));
    assert!(recal.factor > 1.0, "an overconfident forecaster is widened");
    assert_eq!(
        forecast_ledger::recalibration_for(&store, "discount").expect("recal"),
        Some(recal.clone())
    );
    assert!(forecast_ledger::ledger(&store, Some("coupon"))
        .expect("ledger")
        .offer_types
        .is_empty());
    drop(store);

    let out = cli_ok(&run_cli(
        &db,
        &["forecast", "ledger", "--offer-type", "discount", "--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = &v["offer_types"][0]["summary"];
    assert_eq!(s["n"], 20);
    assert_eq!(s["coverage_80"]["hits"], expected.coverage_80.hits);
    assert_eq!(s["coverage_95"]["hits"], expected.coverage_95.hits);
    assert_eq!(s["mean_error"].as_f64(), Some(expected.mean_error));
    assert_eq!(
        v["offer_types"][0]["recalibration"]["factor"].as_f64(),
        Some(recal.factor)
    );
    let text = cli_ok(&run_cli(&db, &["--read-only", "forecast", "ledger"]));
    assert!(text.contains("20 reviewed forecasts"), "{text}");
    assert!(text.contains("widened"), "{text}");

    // The next discount plan is forecast from these 20 campaigns and comes out recalibrated
    // by the ledger's factor, said in its output, with the ledger's standing beside it.
    let store = Store::open(&db).expect("open");
    let p = plan();
    let f = liftdeck::app::plan_forecast::forecast_plan(&store, &p, &liftdeck::app::NoProgress)
        .expect("forecast");
    let (factor, why) = f.recalibration.clone().expect("recalibrated");
    assert_eq!(factor, recal.factor);
    assert_eq!(why, pure::describe(&recal));
    let standing = f.ledger.expect("standing");
    assert_eq!(standing.reviewed, 20);
    assert_eq!(standing.coverage_95, expected.coverage_95.share);
    drop(store);
    std::fs::write(
        dir.path().join("plan.json"),
        serde_json::to_string(&p).expect("plan"),
    )
    .expect("write");
    let plan_path = dir.path().join("plan.json");
    let text = cli_ok(&run_cli(
        &db,
        &["forecast", "plan", plan_path.to_str().expect("utf-8")],
    ));
    assert!(text.contains("recalibrated: intervals widened"), "{text}");
    assert!(
        text.contains("ledger: 20 reviewed discount forecasts"),
        "{text}"
    );
}
