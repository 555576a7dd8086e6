//! The observational report at the console's 80 columns: every line fits, the estimates are
//! one line each, money in the operator's currency; at full width the table is kept. Both the
//! job's text (`format_text_for_width`) and a saved report's body (`body_for_width`).

use crate::common::{cli_ok as ok, run_cli as run};
use liftdeck::app::causal_observational::{format_text_for_width, ObservationalCausalReport};
use liftdeck::app::reports::{body_for_width, SavedReport};
use liftdeck::format::NumberFormat;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;

fn uniform(rng: &mut Prng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// An observational revenue report of a campaign with a long key and long covariate names.
fn report() -> ObservationalCausalReport {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("w.db");
    let key = "spring_mailing_to_chosen_high_value_customers_2026";
    ok(&run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            key,
            "--kind",
            "observational",
            "--arms",
            "control:50,treated:50",
            "--control",
            "control",
        ],
    ));
    ok(&run(&db, &["campaign", "start", key]));
    let mut rng = Prng::seed_from_u64(3);
    let mut s = String::new();
    for i in 0..400 {
        let age = 20.0 + 40.0 * uniform(&mut rng);
        let spend = 100.0 * uniform(&mut rng);
        let p = 1.0 / (1.0 + (-(0.05 * (age - 40.0))).exp());
        let treated = uniform(&mut rng) < p;
        let arm = if treated { "treated" } else { "control" };
        writeln!(
            s,
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i:04}","arm":"{arm}","context":{{"customer_age_in_years_at_mailing":{age:.3},"spend_in_the_previous_ninety_days":{spend:.3}}},"ts":"2026-11-01T12:00:00Z"}}"#
        )
        .expect("write");
        let value = 20.0 + 0.2 * age + 0.1 * spend + if treated { 3.0 } else { 0.0 };
        writeln!(
            s,
            r#"{{"type":"event","event_id":"e{i}","campaign":"{key}","unit":"u{i:04}","kind":"purchase","value":{value:.3},"cost":0,"ts":"2026-11-01T12:05:00Z"}}"#
        )
        .expect("write");
    }
    let file = dir.path().join("w.jsonl");
    std::fs::write(&file, s).expect("write");
    ok(&run(&db, &["ingest", file.to_str().expect("path")]));
    let out = ok(&run(
        &db,
        &[
            "report",
            "causal",
            key,
            "--covariates",
            "customer_age_in_years_at_mailing,spend_in_the_previous_ninety_days",
            "--metric",
            "revenue",
            "--trim",
            "0.05",
            "--json",
        ],
    ));
    serde_json::from_str(&out).expect("observational JSON")
}

#[test]
fn the_observational_report_fits_80_columns_and_shows_money() {
    let r = report();
    let nf = NumberFormat::with_currency(Some("€"));
    let narrow = format_text_for_width(&r, &nf, 80);
    for l in narrow.lines() {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    // One line per estimate, with its money effect and interval.
    for name in ["naive", "IPW", "AIPW"] {
        let line = narrow
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in\n{narrow}"));
        assert!(line.contains('€') && line.contains("95% CI ["), "{line}");
    }
    // Every covariate still appears, and the notes are wrapped, not cut.
    assert!(
        narrow.contains("spend_in_the_previous_ninety_days"),
        "{narrow}"
    );
    let wide = format_text_for_width(&r, &nf, 120);
    assert!(wide.contains("effect") && wide.contains("SE"), "{wide}");
    assert!(
        wide.lines().any(|l| l.chars().count() > 80),
        "the wide layout keeps its table: {wide}"
    );

    // A saved observational report renders width-aware too.
    let saved = SavedReport {
        id: 1,
        campaign: r.campaign.clone(),
        kind: "observational".into(),
        created_at: String::new(),
        actor: "test".into(),
        job_id: None,
        parameters: serde_json::Value::Null,
        window_from: None,
        window_to: None,
        units: r.units as i64,
        model_version: None,
        result: serde_json::to_value(&r).expect("JSON"),
    };
    let body = body_for_width(&saved, &nf, 80);
    assert_eq!(body, narrow);
}
