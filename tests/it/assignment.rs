//! Deterministic assignment: the split matches the weights, the same unit gets the same arm in
//! every process, traffic exclusion and non-running campaigns are refused with their exit codes.

use crate::common::*;
use liftdeck::allocation::{bucket, Bucket};
use liftdeck::app::{self, Assignment};
use liftdeck::domain::{ArmSpec, CampaignKind, CampaignSpec, Offer, Status};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::process::Command;

fn chi_square_p(counts: &[u64], weights: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let total: f64 = weights.iter().sum();
    let stat: f64 = counts
        .iter()
        .zip(weights)
        .map(|(&c, &w)| {
            let e = n as f64 * w / total;
            (c as f64 - e).powi(2) / e
        })
        .sum();
    let dist = ChiSquared::new((counts.len() - 1) as f64).expect("df");
    1.0 - dist.cdf(stat)
}

#[test]
fn split_over_100k_units_matches_weights() {
    for (seed, weights) in [
        (1u64, vec![50.0, 50.0]),
        (2, vec![50.0, 30.0, 20.0]),
        (3, vec![10.0, 10.0, 10.0, 70.0]),
    ] {
        let mut counts = vec![0u64; weights.len()];
        for i in 0..100_000 {
            match bucket(seed, &format!("user-{i}"), 1.0, &weights) {
                Bucket::Arm { index, propensity } => {
                    counts[index] += 1;
                    let expected = weights[index] / weights.iter().sum::<f64>();
                    assert!((propensity - expected).abs() < 1e-12);
                }
                Bucket::Excluded => panic!("full traffic"),
            }
        }
        let p = chi_square_p(&counts, &weights);
        assert!(
            p > 1e-3,
            "seed {seed} weights {weights:?}: counts {counts:?}, p = {p}"
        );
    }
}

#[test]
fn split_is_uniform_across_many_seeds() {
    // Under a correct hash the chi-square p-values over independent seeds are uniform:
    // about 5% fall below 0.05. A biased hash pushes them towards 0.
    let seeds = 200;
    let low = (0..seeds)
        .filter(|&s| {
            let mut counts = [0u64; 2];
            for i in 0..2000 {
                if let Bucket::Arm { index, .. } = bucket(s, &format!("u-{i}"), 1.0, &[1.0, 1.0]) {
                    counts[index] += 1;
                }
            }
            chi_square_p(&counts, &[1.0, 1.0]) < 0.05
        })
        .count();
    // Binomial(200, 0.05): mean 10, sd 3.1; 25 is ~5 sd out.
    assert!(low <= 25, "{low} of {seeds} seeds rejected at 5%");
}

#[test]
fn hash_decisions_are_pinned() {
    // Computed once by this implementation; a change here would reshuffle every running
    // campaign's units. Never edit these to make the test pass.
    let pinned = [
        ("u-1", 1usize),
        ("u-2", 0),
        ("u-3", 1),
        ("u-42", 1),
        ("alice@example.com", 0),
    ];
    let got: Vec<(&str, usize)> = pinned
        .iter()
        .map(|(u, _)| match bucket(7, u, 1.0, &[50.0, 50.0]) {
            Bucket::Arm { index, .. } => (*u, index),
            Bucket::Excluded => (*u, usize::MAX),
        })
        .collect();
    assert_eq!(got, pinned);
}

fn cli(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env("LIFTDECK_ACTOR", "tester")
        .output()
        .expect("run liftdeck")
}

#[test]
fn same_unit_same_arm_in_every_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut arms_by_db = Vec::new();
    for name in ["a.db", "b.db"] {
        let db = dir.path().join(name);
        let out = cli(
            &db,
            &[
                "campaign",
                "create",
                "--key",
                "c1",
                "--arms",
                "control:50,coupon:30,deep:20",
                "--seed",
                "12345",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(cli(&db, &["campaign", "start", "c1"]).status.success());
        let mut arms = Vec::new();
        for i in 0..40 {
            let out = cli(&db, &["assign", "c1", &format!("u-{i}")]);
            assert_eq!(out.status.code(), Some(0));
            arms.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        arms_by_db.push(arms);
    }
    assert_eq!(arms_by_db[0], arms_by_db[1]);
    // And the CLI agrees with the library's bucketing.
    let keys = ["control", "coupon", "deep"];
    for (i, arm) in arms_by_db[0].iter().enumerate() {
        let Bucket::Arm { index, .. } = bucket(12345, &format!("u-{i}"), 1.0, &[50.0, 30.0, 20.0])
        else {
            panic!("excluded")
        };
        assert_eq!(arm, keys[index]);
    }
    let distinct: std::collections::HashSet<&String> = arms_by_db[0].iter().collect();
    assert_eq!(distinct.len(), 3, "40 units should reach all arms");
}

fn spec(key: &str, traffic: f64) -> CampaignSpec {
    CampaignSpec {
        key: key.into(),
        name: key.into(),
        kind: CampaignKind::Ab,
        arms: vec![
            ArmSpec {
                key: "control".into(),
                weight: 1.0,
                offer: Offer::None,
            },
            ArmSpec {
                key: "coupon".into(),
                weight: 1.0,
                offer: Offer::Coupon { pct: 10.0 },
            },
        ],
        control: Some("control".into()),
        traffic,
        metric: "purchase".into(),
        guardrails: vec![],
        custom_kinds: vec![],
        settings: Default::default(),
        bandit: None,
        seed: 99,
    }
}

#[test]
fn assignment_is_stored_once_with_its_propensity() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "assign.db");
    let env = test_env();
    app::create_campaign(&mut store, &env, &spec("c", 1.0)).expect("create");
    let err = app::assign(&mut store, &env, "c", "u-1", Default::default()).expect_err("draft");
    assert!(
        err.to_string().contains("only made while it is running"),
        "{err}"
    );
    app::set_status(&mut store, &env, "c", Status::Running).expect("start");
    let first = app::assign(&mut store, &env, "c", "u-1", Default::default()).expect("assign");
    let again = app::assign(&mut store, &env, "c", "u-1", Default::default()).expect("again");
    match (&first, &again) {
        (
            Assignment::Arm {
                arm: a,
                propensity,
                new: true,
            },
            Assignment::Arm {
                arm: b, new: false, ..
            },
        ) => {
            assert_eq!(a, b);
            assert_eq!(*propensity, 0.5);
        }
        other => panic!("{other:?}"),
    }
    let units: i64 = store
        .arm_summaries("c")
        .expect("arms")
        .iter()
        .map(|a| a.rollup.units)
        .sum();
    assert_eq!(units, 1);
    assert_rollups_consistent(&store);
}

#[test]
fn units_outside_traffic_get_no_arm_and_exit_4() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("traffic.db");
    assert!(cli(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "t",
            "--arms",
            "a:1,b:1",
            "--traffic",
            "0.2",
            "--seed",
            "5"
        ]
    )
    .status
    .success());
    assert!(cli(&db, &["campaign", "start", "t"]).status.success());
    let mut excluded = 0;
    for i in 0..30 {
        let out = cli(&db, &["assign", "t", &format!("u-{i}")]);
        match out.status.code() {
            Some(0) => {}
            Some(4) => {
                excluded += 1;
                assert!(out.stdout.is_empty());
                assert!(String::from_utf8_lossy(&out.stderr).contains("outside the traffic"));
            }
            other => panic!("exit {other:?}"),
        }
    }
    assert!(
        excluded > 10,
        "about 80% of 30 should be excluded, got {excluded}"
    );
}

#[test]
fn illegal_status_moves_are_refused_naming_legal_ones_and_audited() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("sm.db");
    assert!(cli(
        &db,
        &["campaign", "create", "--key", "s", "--arms", "a:1,b:1"]
    )
    .status
    .success());
    let out = cli(&db, &["campaign", "pause", "s"]);
    assert_eq!(
        out.status.code(),
        Some(65),
        "an illegal move is refused as bad input"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is draft; it cannot move to paused. Legal moves from draft: running"),
        "{err}"
    );
    for step in ["start", "pause", "start", "stop"] {
        let out = cli(&db, &["campaign", step, "s"]);
        assert!(
            out.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cli(&db, &["campaign", "start", "s"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped is final"));
    let store = liftdeck::store::Store::open(&db).expect("open");
    let log = store.audit_log(10).expect("audit");
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "campaign.create",
            "campaign.start",
            "campaign.pause",
            "campaign.start",
            "campaign.stop"
        ]
    );
    assert!(log.iter().all(|e| e.actor == "tester"));
}
