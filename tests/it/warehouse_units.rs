//! Unit-level reads on the ClickHouse data plane against SQLite on the same traffic: the unit
//! rows every causal estimator and contextual bandit pages through, RFM, label delays and data
//! windows; and what stands on them: `report causal`, `report uplift`, `train`, a Thompson and
//! a LinUCB bandit's next weights. Reads with no warehouse form yet refuse by name.

use crate::common::*;
use crate::warehouse::{assert_json_close, json_of, warehouse_db};
use crate::warehouse_cluster::Cluster;
use liftdeck::app::bandit;
use liftdeck::app::traffic::apply_records;
use liftdeck::domain::{
    ArmSpec, AssignmentRecord, BanditConfig, CampaignKind, CampaignSpec, EventRecord, Offer,
    PolicyKind, Record, RewardKind, Status,
};
use liftdeck::lines::Format;
use liftdeck::store::Store;

#[test]
fn unit_rows_rfm_and_windows_agree_and_so_do_the_causal_reports() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let traffic = sim_jsonl(43, 2500);
    let (sqlite_path, mut sqlite) = temp_db(&dir, "sqlite.db");
    ingest_str(&mut sqlite, &traffic, Format::Jsonl, 500);
    let (wh_path, mut wh) = warehouse_db(&dir, &cluster, "units");
    ingest_str(&mut wh, &traffic, Format::Jsonl, 500);
    // A re-send in other batch boundaries changes no unit.
    ingest_str(&mut wh, &traffic, Format::Jsonl, 271);

    assert_eq!(
        sqlite.event_count().expect("n"),
        wh.event_count().expect("n")
    );
    assert_eq!(
        sqlite.assignment_count().expect("n"),
        wh.assignment_count().expect("n")
    );
    for key in liftdeck::app::demo::DEMO_KEYS {
        let count = sqlite.unit_count(key).expect("count");
        assert!(count > 100, "{key}: {count} units");
        assert_eq!(count, wh.unit_count(key).expect("count"), "{key}");
        // Paged in an odd chunk size, so pages end mid-shard.
        let (a, b) = (pages(&sqlite, key, 97), pages(&wh, key, 97));
        assert_eq!(a.len() as i64, count);
        assert_eq!(a.len(), b.len(), "{key}");
        for (x, y) in a.iter().zip(&b) {
            let close = |p: f64, q: f64| (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0);
            assert!(
                x.unit == y.unit
                    && x.arm == y.arm
                    && x.context == y.context
                    && x.pre_value == y.pre_value
                    && (x.exposures, x.clicks, x.purchases) == (y.exposures, y.clicks, y.purchases)
                    && x.conflicts == y.conflicts
                    && x.assigned_at == y.assigned_at
                    && close(x.propensity, y.propensity)
                    && close(x.revenue, y.revenue)
                    && close(x.cost, y.cost),
                "{key}: {x:?} vs {y:?}"
            );
        }
        let (mut da, la) = sqlite.conversion_delays(key, "purchase").expect("delays");
        let (mut db, lb) = wh.conversion_delays(key, "purchase").expect("delays");
        da.sort_unstable();
        db.sort_unstable();
        assert!(!da.is_empty(), "{key} has purchases");
        assert_eq!((da, la), (db, lb), "{key}");
        assert_eq!(
            sqlite.assignment_window(key).expect("window"),
            wh.assignment_window(key).expect("window")
        );
        // The console's per-minute chart.
        let (ba, bb) = (
            sqlite.buckets(key).expect("chart"),
            wh.buckets(key).expect("chart"),
        );
        assert!(ba.len() > 10, "{key}: {} minutes", ba.len());
        assert_eq!(ba.len(), bb.len(), "{key}");
        for (x, y) in ba.iter().zip(&bb) {
            let close = |p: f64, q: f64| (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0);
            assert!(
                (
                    &x.arm,
                    x.bucket,
                    x.new_units,
                    x.exposures,
                    x.clicks,
                    x.purchases
                ) == (
                    &y.arm,
                    y.bucket,
                    y.new_units,
                    y.exposures,
                    y.clicks,
                    y.purchases
                ) && x.conversions == y.conversions
                    && close(x.revenue, y.revenue)
                    && close(x.cost, y.cost),
                "{key}: {x:?} vs {y:?}"
            );
        }
        // What the console loads for a focused campaign: report, chart series, health.
        let focus = liftdeck::app::snapshot::Focus {
            campaign: Some(key.to_string()),
            metric: liftdeck::stats::ab::Metric::Conversion,
        };
        let now = liftdeck::app::demo::DEMO_EPOCH + 86_400_000_000;
        let snap = |s: &Store| {
            liftdeck::app::snapshot::load_snapshot(s, &focus, now, now, 15 * 60_000_000)
                .unwrap_or_else(|e| panic!("{key}: console snapshot: {e}"))
        };
        let (sa, sb) = (snap(&sqlite), snap(&wh));
        assert_eq!(sa.series.len(), sb.series.len());
        assert_eq!(
            format!("{:?}", sa.series),
            format!("{:?}", sb.series),
            "{key}"
        );
        // RFM as of each unit's assignment, the cut a training row uses.
        let units = pages(&sqlite, key, 5_000);
        let pairs: Vec<(&str, i64)> = units
            .iter()
            .map(|u| (u.unit.as_str(), u.assigned_at + 3_600_000_000))
            .collect();
        let (ra, rb) = (
            sqlite.rfm_batch(&pairs).expect("rfm"),
            wh.rfm_batch(&pairs).expect("rfm"),
        );
        assert!(ra.iter().any(|r| r.frequency > 0), "{key}: some history");
        for ((p, x), y) in pairs.iter().zip(&ra).zip(&rb) {
            assert_eq!(x.frequency, y.frequency, "{p:?}");
            assert_eq!(x.recency_days, y.recency_days, "{p:?}");
            assert!((x.monetary - y.monetary).abs() <= 1e-9 * x.monetary.abs().max(1.0));
        }
    }
    drop((sqlite, wh));

    for key in liftdeck::app::demo::DEMO_KEYS {
        let mut uplift = vec!["report", "uplift", key, "--json"];
        if key == "discount-depth" {
            uplift.extend(["--arm", "d10"]);
        }
        let train = vec!["train", key, "--json"];
        let forecast = vec!["forecast", key, "--json"];
        for args in [
            vec!["report", "causal", key, "--json"],
            uplift,
            train,
            forecast,
        ] {
            let (a, b) = (json_of(&sqlite_path, &args), json_of(&wh_path, &args));
            assert_json_close(&a, &b, 1e-9, &args.join(" "));
        }
    }
}

fn pages(store: &Store, key: &str, chunk: usize) -> Vec<liftdeck::store::UnitRow> {
    let (mut out, mut after) = (Vec::new(), String::new());
    loop {
        let page = store.unit_rows(key, &after, chunk).expect("page");
        let Some(last) = page.last() else {
            return out;
        };
        assert!(page.len() <= chunk);
        after = last.unit.clone();
        out.extend(page);
    }
}

fn bandit_spec(key: &str, policy: PolicyKind, context: &[&str]) -> CampaignSpec {
    CampaignSpec {
        key: key.into(),
        name: key.into(),
        kind: CampaignKind::Bandit,
        arms: (0..3)
            .map(|i| ArmSpec {
                key: format!("a{i}"),
                weight: 1.0,
                offer: Offer::None,
            })
            .collect(),
        control: Some("a0".into()),
        traffic: 1.0,
        metric: "purchase".into(),
        guardrails: vec![],
        custom_kinds: vec![],
        seed: 7,
        settings: Default::default(),
        bandit: Some(BanditConfig {
            policy,
            reward: Some(RewardKind::Conversion),
            explore_min_units: Some(10),
            explore_min_secs: Some(0),
            update_every_units: Some(100_000),
            update_every_secs: Some(0),
            context_fields: context.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
    }
}

/// Units spread over the arms and two devices, converting at rates that differ by both.
fn bandit_traffic(key: &str, now: i64) -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..900u64 {
        let arm = (i * 7 % 3) as usize;
        let device = if i % 5 < 2 { "mobile" } else { "desktop" };
        let unit = format!("{key}-u{i}");
        let mut context = serde_json::Map::new();
        context.insert("device".into(), device.into());
        out.push(Record::Assignment(AssignmentRecord {
            campaign: key.into(),
            unit: unit.clone(),
            arm: format!("a{arm}"),
            propensity: 1.0 / 3.0,
            context,
            ts: now - 1_000_000 * (900 - i as i64),
        }));
        let rate = [3, 5, 4][arm]
            + if device == "mobile" {
                3 * arm as u64
            } else {
                0
            };
        if i.wrapping_mul(2654435761) % 20 < rate {
            out.push(Record::Event(EventRecord {
                event_id: format!("{unit}-buy"),
                campaign: key.into(),
                unit,
                kind: "purchase".into(),
                value: 30.0,
                cost: 0.0,
                ts: now,
            }));
        }
    }
    out
}

#[test]
fn a_thompson_and_a_linucb_bandit_compute_the_same_weights_from_either_plane() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let env = test_env();
    let now = env.clock.now();
    let (_, mut sqlite) = temp_db(&dir, "sqlite.db");
    let (_, mut wh) = warehouse_db(&dir, &cluster, "bandits");
    let mut weights = Vec::new();
    for store in [&mut sqlite, &mut wh] {
        let mut got = Vec::new();
        for (key, policy, context) in [
            ("ts-bandit", PolicyKind::Thompson, &[][..]),
            ("lin-bandit", PolicyKind::LinUcb, &["device"][..]),
        ] {
            let spec = bandit_spec(key, policy, context);
            liftdeck::app::create_campaign(store, &env, &spec).expect("create");
            liftdeck::app::set_status(store, &env, key, Status::Running).expect("start");
            let outcome =
                apply_records(store, "test", "test", now, bandit_traffic(key, now)).expect("apply");
            assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
            bandit::update(store, &env, key, true).expect("update");
            got.push(
                bandit::current_weights(store, key)
                    .expect("weights")
                    .weights,
            );
        }
        weights.push(got);
    }
    for (a, b) in weights[0].iter().zip(&weights[1]) {
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9),
            "{a:?} vs {b:?}"
        );
        // The update moved off uniform, so the comparison says something.
        assert!(a.iter().any(|w| (w - 1.0 / 3.0).abs() > 0.01), "{a:?}");
    }
}

#[test]
fn reads_with_no_warehouse_form_refuse_by_name() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let (path, mut wh) = warehouse_db(&dir, &cluster, "refuse");
    ingest_str(&mut wh, &sim_jsonl(9, 60), Format::Jsonl, 500);
    drop(wh);
    for (args, says) in [
        (vec!["prune", "--older-than", "30d"], "prune"),
        (
            vec![
                "report",
                "did",
                "coupon-10",
                "--post-start",
                "2026-01-01T00:00:00Z",
                "--period",
                "day",
            ],
            "panel",
        ),
    ] {
        let out = run_cli(&path, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn forget_deletes_a_unit_on_every_shard_and_the_figures_match_sqlite_s_erasure() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().expect("dir");
    let traffic = sim_jsonl(47, 600);
    let (sqlite_path, mut sqlite) = temp_db(&dir, "sqlite.db");
    ingest_str(&mut sqlite, &traffic, Format::Jsonl, 500);
    let (wh_path, mut wh) = warehouse_db(&dir, &cluster, "forget");
    ingest_str(&mut wh, &traffic, Format::Jsonl, 500);
    // A buyer with rows in every campaign, so the erasure moves every report.
    let buyer = pages(&sqlite, "coupon-10", 5_000)
        .into_iter()
        .find(|u| u.purchases > 0)
        .expect("a buyer")
        .unit;
    drop((sqlite, wh));

    let dry: Vec<serde_json::Value> = [&sqlite_path, &wh_path]
        .iter()
        .map(|db| json_of(db, &["forget", &buyer, "--dry-run", "--json"]))
        .collect();
    for field in ["assignments", "events", "campaigns"] {
        assert_eq!(dry[0][field], dry[1][field], "{field}: {dry:?}");
    }
    assert!(dry[0]["events"].as_u64().unwrap_or(0) > 0, "{dry:?}");
    for db in [&sqlite_path, &wh_path] {
        json_of(db, &["forget", &buyer, "--json"]);
    }
    let (mut sqlite, mut wh) = (
        Store::open(&sqlite_path).expect("open"),
        Store::open(&wh_path).expect("open"),
    );
    let held = wh
        .warehouse()
        .expect("wh")
        .unit_rows_held(&buyer, 0)
        .expect("held");
    assert_eq!(held, Default::default(), "nothing of the unit is left");
    assert_same_rollups(&sqlite, &wh);
    // The same traffic again: the forgotten unit's lines are refused on both planes.
    ingest_str(&mut sqlite, &traffic, Format::Jsonl, 500);
    ingest_str(&mut wh, &traffic, Format::Jsonl, 500);
    assert_same_rollups(&sqlite, &wh);
    let held = wh
        .warehouse()
        .expect("wh")
        .unit_rows_held(&buyer, 0)
        .expect("held");
    assert_eq!(held, Default::default(), "the tombstone kept the unit out");
}
