//! `liftdeck bench forecast coverage|speed` run end to end at a tiny size: the coverage run
//! counts every plan in each breakdown, and the speed run (no Python) reports its split and
//! the point sums.

use super::common::{cli_ok, run_cli};

#[test]
fn bench_forecast_coverage_json_counts_every_plan_in_each_breakdown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = run_cli(
        &db,
        &[
            "bench",
            "forecast",
            "coverage",
            "--plans",
            "6",
            "--campaigns",
            "3",
            "--units-per-arm",
            "300",
            "--draws",
            "20",
            "--max-sample",
            "150",
            "--seed",
            "4",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&cli_ok(&out)).unwrap();
    let plans = v["plans"].as_u64().unwrap();
    assert!(plans >= 5, "{v}");
    assert_eq!(v["overall"]["plans"].as_u64(), Some(plans));
    for key in ["by_audience", "by_offer_type"] {
        let total: u64 = v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["plans"].as_u64().unwrap())
            .sum();
        assert_eq!(total, plans, "{key}: {v}");
    }
    for c in v["overall"]["inside"].as_array().unwrap() {
        let (lo, share, hi) = (
            c["lo"].as_f64().unwrap(),
            c["share"].as_f64().unwrap(),
            c["hi"].as_f64().unwrap(),
        );
        assert!(lo <= share && share <= hi, "{c}");
    }
}

#[test]
fn bench_forecast_speed_without_python_prints_the_split_and_says_how_to_compare() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = run_cli(
        &db,
        &[
            "bench",
            "forecast",
            "speed",
            "--users",
            "800",
            "--draws",
            "25",
            "--repeats",
            "1",
            "--python",
            "none",
        ],
    );
    let text = cli_ok(&out);
    for label in [
        "every user every draw",
        "per draw over all users",
        "default max_sample 20000",
        "point (posterior mean) sums, liftdeck",
        "python side skipped",
    ] {
        assert!(text.contains(label), "missing {label} in\n{text}");
    }
}
