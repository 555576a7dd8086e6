//! `report uplift` on the simulated shop: the JSON report holds the held-out evaluation and
//! recommendation, the split is deterministic, and refusals and bad flags exit as documented.

use crate::common::bin;
use std::process::{Command, Output};

fn run(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run liftdeck")
}

#[test]
fn uplift_report_on_the_demo_shop() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("shop.db");
    let seeded = run(&db, &["demo", "--headless"]);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let out = run(
        &db,
        &["report", "uplift", "coupon-10", "--learner", "x", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (train, held) = (
        r["train_units"].as_u64().expect("n"),
        r["held_out_units"].as_u64().expect("n"),
    );
    // About 70/30, and the held-out units are what the evaluation used.
    let share = train as f64 / (train + held) as f64;
    assert!((0.65..0.75).contains(&share), "{share}");
    assert_eq!(r["evaluation"]["units"].as_u64(), Some(held));
    assert_eq!(r["learner"], "x");
    assert_eq!(
        r["evaluation"]["deciles"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(
        r["evaluation"]["targeting"]["rows"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    let pts = r["evaluation"]["qini_points"]
        .as_array()
        .map_or(0, Vec::len);
    assert!((20..=41).contains(&pts), "{pts}");
    // Ids are never features.
    let features = r["features"].as_array().expect("features");
    assert!(features.iter().all(|f| f
        .as_str()
        .is_some_and(|f| f != "unit" && !f.ends_with("_id"))));

    // The same split and model on a second run.
    let again = run(
        &db,
        &["report", "uplift", "coupon-10", "--learner", "x", "--json"],
    );
    assert_eq!(out.stdout, again.stdout);

    let text = run(
        &db,
        &[
            "report",
            "uplift",
            "coupon-10",
            "--features",
            "device,recency_days",
        ],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Qini coefficient") && text.contains("decile"),
        "{text}"
    );
    assert!(
        text.contains("device=") && !text.contains("monetary"),
        "{text}"
    );

    // Several treated arms without --arm, an unknown feature: refusals (65); a bad flag value: 64 (usage).
    let many = run(&db, &["report", "uplift", "discount-depth"]);
    assert_eq!(many.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&many.stderr).contains("--arm"));
    let missing = run(
        &db,
        &["report", "uplift", "coupon-10", "--features", "nope"],
    );
    assert_eq!(missing.status.code(), Some(65));
    let bad = run(&db, &["report", "uplift", "coupon-10", "--learner", "s"]);
    assert_eq!(bad.status.code(), Some(64));
    let picked = run(
        &db,
        &[
            "report",
            "uplift",
            "discount-depth",
            "--arm",
            "d10",
            "--json",
        ],
    );
    assert!(
        picked.status.success(),
        "{}",
        String::from_utf8_lossy(&picked.stderr)
    );
}
