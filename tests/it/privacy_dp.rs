//! Differentially private reports through the binary: a budget is set and audited, each
//! release is recorded and spends it, a release beyond it is refused with what is left, the
//! output states caps, mechanism, noise scales and budget, and `--read-only` refuses a release.

use crate::common::*;
use liftdeck::lines::Format;
use liftdeck::store::Store;
use serde_json::Value;
use std::path::PathBuf;

fn shop(dir: &tempfile::TempDir) -> PathBuf {
    let (db, mut store) = temp_db(dir, "dp.db");
    ingest_str(&mut store, &sim_jsonl(5, 600), Format::Jsonl, 1000);
    db
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_str(&cli_ok(o)).expect("json")
}

fn releases(db: &std::path::Path) -> i64 {
    let store = Store::open_read_only(db).expect("open");
    store
        .privacy_budget("coupon-10")
        .expect("budget")
        .map_or(0, |b| b.releases)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_release_spends_the_budget_and_states_what_it_added() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    let set = json(&run_cli(
        &db,
        &[
            "campaign",
            "privacy-budget",
            "coupon-10",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
            "--json",
        ],
    ));
    assert_eq!(set["epsilon"], 1.0);
    assert_eq!(set["left_epsilon"], 1.0);

    let r = json(&run_cli(
        &db,
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.4",
            "--metric",
            "conversion",
            "--json",
        ],
    ));
    assert_eq!(r["mechanism"], "laplace");
    assert_eq!(r["caps"]["events"], 10);
    let stats = r["statistics"].as_array().expect("statistics");
    assert_eq!(stats.len(), 3, "units, converted units, orders");
    for s in stats {
        // Laplace b = Δ / (ε / 3): the budget split evenly over three statistics.
        let want = s["sensitivity"].as_f64().expect("sens") * 3.0 / 0.4;
        let got = s["noise"]["scale"].as_f64().expect("scale");
        assert!((got - want).abs() < 1e-9, "{s}");
    }
    assert!((r["budget"]["spent_epsilon"].as_f64().expect("spent") - 0.4).abs() < 1e-12);
    assert!((r["budget_left_epsilon"].as_f64().expect("left") - 0.6).abs() < 1e-12);
    let arms = r["arms"].as_array().expect("arms");
    assert!(arms.len() >= 2);
    assert!(arms.iter().any(|a| a["is_control"] == true));
    assert!(arms.iter().any(|a| a["effect"]["low"].is_number()));
    assert_eq!(releases(&db), 1);

    // The Gaussian release of a money metric: caps and scales in the text.
    let text = cli_ok(&run_cli(
        &db,
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.3",
            "--dp-delta",
            "1e-6",
            "--metric",
            "revenue",
            "--dp-revenue-cap",
            "200",
            "--dp-events-cap",
            "4",
        ],
    ));
    for want in [
        "analytic Gaussian",
        "at most 4 orders counted per unit",
        "revenue per unit clipped to [0, $200.00]",
        "value_sum_of_squares",
        "left epsilon 0.3, delta 0.000009",
        "not released under DP",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert_eq!(releases(&db), 2);

    let store = Store::open_read_only(&db).expect("open");
    let audit = store.audit_log(10).expect("audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "privacy.dp_release")
            .count(),
        2
    );
    assert!(actions.contains(&"privacy.budget"));
}

#[test]
fn a_release_beyond_the_budget_is_refused_with_what_is_left() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    let none = run_cli(&db, &["report", "ab", "coupon-10", "--dp-epsilon", "0.1"]);
    assert_eq!(none.status.code(), Some(65), "{}", stderr(&none));
    assert!(stderr(&none).contains("no privacy budget"));
    cli_ok(&run_cli(
        &db,
        &[
            "campaign",
            "privacy-budget",
            "coupon-10",
            "--epsilon",
            "0.5",
        ],
    ));
    cli_ok(&run_cli(
        &db,
        &["report", "ab", "coupon-10", "--dp-epsilon", "0.35"],
    ));
    let over = run_cli(&db, &["report", "ab", "coupon-10", "--dp-epsilon", "0.2"]);
    assert_eq!(over.status.code(), Some(65), "{}", stderr(&over));
    assert!(
        stderr(&over).contains("left: epsilon 0.15"),
        "{}",
        stderr(&over)
    );
    assert!(over.stdout.is_empty(), "a refused release shows nothing");
    // A Gaussian release needs delta in the budget (this one has delta 0).
    let delta = run_cli(
        &db,
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--dp-delta",
            "1e-6",
        ],
    );
    assert_eq!(delta.status.code(), Some(65), "{}", stderr(&delta));
    assert_eq!(releases(&db), 1);
    // What is left can still be spent, exactly.
    cli_ok(&run_cli(
        &db,
        &["report", "causal", "coupon-10", "--dp-epsilon", "0.15"],
    ));
    assert_eq!(releases(&db), 2);
}

#[test]
fn flags_a_release_cannot_honour_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    cli_ok(&run_cli(
        &db,
        &["campaign", "privacy-budget", "coupon-10", "--epsilon", "5"],
    ));
    for args in [
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--metric",
            "revenue",
        ][..],
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--metric",
            "ctr",
        ],
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--by",
            "device",
        ],
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--winsorize",
            "0.99",
        ],
        &["report", "ab", "coupon-10", "--dp-epsilon", "-1"],
        &[
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--dp-delta",
            "1",
        ],
        &[
            "report",
            "causal",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
            "--covariates",
            "pre_value",
        ],
        &["campaign", "privacy-budget", "coupon-10", "--epsilon", "0"],
    ] {
        let o = run_cli(&db, args);
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(releases(&db), 0);
}

#[test]
fn causal_release_says_what_it_does_not_release() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    cli_ok(&run_cli(
        &db,
        &["campaign", "privacy-budget", "coupon-10", "--epsilon", "2"],
    ));
    let text = cli_ok(&run_cli(
        &db,
        &["report", "causal", "coupon-10", "--dp-epsilon", "1"],
    ));
    assert!(
        text.contains("report causal coupon-10 --dp-epsilon"),
        "{text}"
    );
    assert!(text.contains("balance check"), "{text}");
    // Fresh OS noise each time: two releases of the same data differ.
    let a = json(&run_cli(
        &db,
        &["report", "ab", "coupon-10", "--dp-epsilon", "0.5", "--json"],
    ));
    let b = json(&run_cli(
        &db,
        &["report", "ab", "coupon-10", "--dp-epsilon", "0.5", "--json"],
    ));
    assert_ne!(a["arms"][0]["units"], b["arms"][0]["units"]);
}

#[test]
fn read_only_refuses_a_release_because_it_records_its_spend() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    cli_ok(&run_cli(
        &db,
        &["campaign", "privacy-budget", "coupon-10", "--epsilon", "1"],
    ));
    let o = run_cli(
        &db,
        &[
            "--read-only",
            "report",
            "ab",
            "coupon-10",
            "--dp-epsilon",
            "0.1",
        ],
    );
    assert_eq!(o.status.code(), Some(77), "{}", stderr(&o));
    assert!(stderr(&o).contains("--read-only"));
    assert_eq!(releases(&db), 0);
    // The ordinary report still reads under --read-only.
    cli_ok(&run_cli(&db, &["--read-only", "report", "ab", "coupon-10"]));
}

#[test]
fn a_draft_with_a_budget_can_still_be_deleted() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    cli_ok(&run_cli(
        &db,
        &["campaign", "create", "--key", "d", "--arms", "a:1,b:1"],
    ));
    cli_ok(&run_cli(
        &db,
        &["campaign", "privacy-budget", "d", "--epsilon", "1"],
    ));
    cli_ok(&run_cli(&db, &["campaign", "delete", "d"]));
}
