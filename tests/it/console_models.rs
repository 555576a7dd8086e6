//! The Models panel (issue 10, "Registry and retraining"): the version list with its figures
//! and which version is active, the active version's calibration, at 80x24 and without colour.

use crate::common::*;
use crate::console_trust::{on_models, reload, retrain, screen, shop, NOW};
use liftdeck::app::models::{self, VersionView};
use liftdeck::format;
use liftdeck::jobs::JobEnd;
use liftdeck::store::{NewModel, Store};
use liftdeck::tui::{screen_text, Msg};

/// The screen row of version `n`: its cells, the `*` marker first when it has one.
fn version_row(text: &str, n: i64) -> Option<Vec<String>> {
    text.lines().find_map(|l| {
        let inner = l.trim_start_matches('│').trim_end_matches('│');
        let cells: Vec<String> = inner.split_whitespace().map(str::to_string).collect();
        let at = usize::from(cells.first().is_some_and(|c| c == "*"));
        // A version row: number, learner, status, date, time, rows, loss, AUC.
        (cells.len() == at + 8 && cells[at] == n.to_string()).then_some(cells)
    })
}

/// Three retrains of `broken`, then version 3 forced active: one archived (1), one
/// candidate (2), one active (3).
fn three_versions() -> (tempfile::TempDir, Store) {
    let (dir, mut store) = shop(2, 300);
    for _ in 0..3 {
        assert!(matches!(retrain(&mut store, false), JobEnd::Done(_)));
    }
    models::activate(&mut store, &test_env(), "broken", 3, true).expect("activate");
    (dir, store)
}

#[test]
fn every_version_is_listed_with_its_status_and_the_active_one_is_marked() {
    let (_dir, store) = three_versions();
    let versions = models::list(&store, "broken").expect("list");
    let statuses: Vec<&str> = versions.iter().map(|v| v.status.as_str()).collect();
    assert_eq!(statuses, ["archived", "candidate", "active"]);
    let text = screen(&on_models(&store));
    for v in &versions {
        let cells = version_row(&text, v.version).unwrap_or_else(|| panic!("{v:?}\n{text}"));
        let marked = cells[0] == "*";
        assert_eq!(marked, v.status == "active", "{cells:?}\n{text}");
        let at = usize::from(marked);
        assert_eq!(cells[at + 2], v.status, "{text}");
    }
    // Exactly one row carries the marker, and the newest version is listed first.
    assert_eq!(text.lines().filter(|l| l.starts_with("│*")).count(), 1);
    let first = text.find("   3  ").expect("v3");
    let last = text.find("   1  ").expect("v1");
    assert!(first < last, "{text}");
}

fn figures(v: &VersionView) -> [String; 3] {
    let auc = v.metrics["holdout_auc"].as_f64();
    [
        format::count(v.train_rows.expect("rows")),
        format::opt(v.validation_log_loss, |x| format!("{x:.4}")),
        format::opt(auc, |a| format!("{a:.3}")),
    ]
}

#[test]
fn the_figures_are_the_registrys_through_format() {
    let (_dir, store) = three_versions();
    // Tall enough for the job and then the active version's calibration under the list.
    let text = screen_text(&on_models(&store), 80, 40);
    for v in models::list(&store, "broken").expect("list") {
        let cells = version_row(&text, v.version).expect("row");
        let n = cells.len();
        let [rows, loss, auc] = figures(&v);
        assert_eq!(cells[n - 3..], [rows, loss, auc], "{text}");
        assert_eq!(cells[n - 7], v.learner);
        let created = liftdeck::clock::format_rfc3339(v.created_at);
        assert_eq!(format!("{}T{}", cells[n - 5], cells[n - 4]), created[..16]);
    }
    // Every version now stores its reliability bins: the active one's ECE and its first
    // non-empty bin are shown with the registry's numbers.
    let active = models::list(&store, "broken").expect("list");
    let active = active
        .iter()
        .find(|v| v.status == "active")
        .expect("active");
    let ece = active.metrics["ece"].as_f64().expect("ece");
    let bin = active.metrics["bins"]
        .as_array()
        .expect("bins")
        .iter()
        .find(|b| b["count"].as_u64() > Some(0))
        .expect("a non-empty bin");
    let cell = format!(
        "{} → {}",
        format::rate(bin["mean_predicted"].as_f64().expect("p")),
        format::rate(bin["observed_rate"].as_f64().expect("o"))
    );
    assert!(
        text.contains("Calibration of active version 3")
            && text.contains(&format!("ECE {ece:.4}"))
            && text.contains(&cell),
        "{text}"
    );
}

fn save(store: &mut Store, metrics: &str, rows: i64) -> i64 {
    store
        .save_model(
            "broken",
            &NewModel {
                job_id: None,
                ts: NOW - 60_000_000,
                model: "{}",
                metrics,
                learner: "ftrl",
                feature_spec: None,
                train_from: None,
                train_to: None,
                train_rows: rows,
                validation_rows: rows / 4,
                created_by: "test",
            },
        )
        .expect("save")
}

#[test]
fn reliability_bins_in_the_metrics_show_as_the_active_versions_calibration() {
    let (_dir, mut store) = shop(2, 300);
    let metrics = r#"{"holdout_log_loss":0.2,"auc":{"auc":0.71,"lo":0.6,"hi":0.8},
        "evaluation":{"ece":0.0123,"bins":[
          {"lower":0.0,"upper":0.1,"count":900,"mean_predicted":0.05,"observed_rate":0.04},
          {"lower":0.1,"upper":0.2,"count":0,"mean_predicted":0.0,"observed_rate":0.0},
          {"lower":0.2,"upper":0.3,"count":1234,"mean_predicted":0.25,"observed_rate":0.3}]}}"#;
    let v = save(&mut store, metrics, 12_345);
    models::activate(&mut store, &test_env(), "broken", v, false).expect("activate");
    let text = screen(&on_models(&store));
    let cells = version_row(&text, v).expect("row");
    assert_eq!(cells[cells.len() - 3..], ["12,345", "0.2000", "0.710"]);
    assert!(text.contains("ECE 0.0123"), "{text}");
    let bin = |p: f64, o: f64, n: i64| {
        format!(
            "{} → {} ({})",
            format::rate(p),
            format::rate(o),
            format::count(n)
        )
    };
    assert!(text.contains(&bin(0.05, 0.04, 900)), "{text}");
    assert!(text.contains(&bin(0.25, 0.3, 1234)), "{text}");
    // An empty bin says nothing.
    assert!(!text.contains("(0)"), "{text}");
}

#[test]
fn many_versions_render_at_80x24_without_colour_and_scroll_to_the_job() {
    let (_dir, mut store) = shop(2, 300);
    for i in 0..30 {
        save(
            &mut store,
            &format!(r#"{{"holdout_log_loss":{}}}"#, 0.5 - i as f64 * 0.01),
            100,
        );
    }
    let mut app = on_models(&store);
    let text = screen(&app);
    assert_eq!(text.lines().count(), 24, "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(text.contains("↓") && text.contains("more"), "{text}");
    assert!(version_row(&text, 30).is_some(), "{text}");
    // The retrain job's text is below the list: G scrolls to it.
    app.update(crate::console_trust::ch('G'));
    let text = screen(&app);
    assert!(text.contains("r retrains the conversion model"), "{text}");
    // Narrow and short terminals do not panic either.
    for (w, h) in [(40, 10), (20, 6), (80, 24)] {
        app.update(Msg::Resize(w, h));
        reload(&store, &mut app, NOW);
        let _ = screen_text(&app, w, h);
    }
}

#[test]
fn a_campaign_without_versions_says_how_to_make_one() {
    let (_dir, store) = shop(2, 300);
    let text = screen(&on_models(&store));
    assert!(
        text.contains("No model versions yet: r trains one"),
        "{text}"
    );
    assert!(text.contains("r retrains the conversion model"), "{text}");
}

#[test]
fn versions_read_for_another_campaign_are_not_shown_as_the_selected_ones() {
    let (_dir, store) = three_versions();
    let mut app = on_models(&store);
    assert!(version_row(&screen(&app), 3).is_some());
    // The selection moved and the data thread has not read the new campaign yet.
    app.selected_key = Some("c-00".into());
    let text = screen(&app);
    assert!(version_row(&text, 3).is_none(), "{text}");
    reload(&store, &mut app, NOW);
    let text = screen(&app);
    assert!(text.contains("No model versions yet"), "{text}");
}
