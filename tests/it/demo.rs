//! The demo: headless runs are deterministic, go through the real ingest path (rollups verify),
//! and the live table renders readably at 80x24 and wider without a terminal.

use crate::common::*;
use liftdeck::app::demo::{ensure_campaigns, run_headless, DEMO_KEYS};
use liftdeck::app::snapshot::{load_snapshot, Focus};
use liftdeck::store::Store;
use liftdeck::tui::{App, Msg};
use std::process::Command;

#[test]
fn headless_demo_prints_every_arm_and_is_deterministic() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut outputs = Vec::new();
    for name in ["one.db", "two.db"] {
        let db = dir.path().join(name);
        let out = Command::new(bin())
            .args([
                "demo",
                "--headless",
                "--duration",
                "20s",
                "--rate",
                "300",
                "--seed",
                "7",
            ])
            .arg("--db")
            .arg(&db)
            .output()
            .expect("run demo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf8");
        // The one number format: grouped counts and money with its currency.
        let money = regex_like_money(&text);
        assert!(money, "no `$1,234.56`-style amount in:\n{text}");
        for key in DEMO_KEYS {
            assert!(text.contains(key), "{text}");
        }
        for arm in ["coupon", "d5", "d10", "d20", "recs"] {
            assert!(
                text.contains(&format!("  {arm} ")),
                "arm {arm} missing:\n{text}"
            );
        }
        // 20 s x 300 shoppers/s = 6000 shoppers, split over three campaigns.
        let store = Store::open(&db).expect("open");
        let units: i64 = DEMO_KEYS
            .iter()
            .flat_map(|k| store.arm_summaries(k).expect("arms"))
            .map(|a| a.rollup.units)
            .sum();
        assert_eq!(units, 6000);
        assert_rollups_consistent(&store);
        outputs.push(text.replace(name, "DB"));
    }
    assert_eq!(outputs[0], outputs[1], "same seed, same table");
}

#[test]
fn a_second_demo_run_on_the_same_file_adds_new_shoppers() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "again.db");
    let env = test_env();
    run_headless(&mut store, &env, 7, 5, 60).expect("first");
    run_headless(&mut store, &env, 7, 5, 60).expect("second");
    let units: i64 = DEMO_KEYS
        .iter()
        .flat_map(|k| store.arm_summaries(k).expect("arms"))
        .map(|a| a.rollup.units)
        .sum();
    assert_eq!(
        units, 600,
        "the second run's shoppers are new units, not duplicates"
    );
    assert_eq!(
        store.campaigns().expect("list").len(),
        3,
        "campaigns are reused"
    );
}

fn screen(app: &App, w: u16, h: u16) -> String {
    liftdeck::tui::screen_text(app, w, h)
}

#[test]
fn console_renders_demo_campaigns_at_80x24_and_wide() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "tui.db");
    let env = test_env();
    ensure_campaigns(&mut store, &env, 7).expect("campaigns");
    run_headless(&mut store, &env, 7, 10, 100).expect("traffic");
    let mut app = App::new(false);
    let now = env.clock.now();
    let snap =
        load_snapshot(&store, &Focus::default(), now, now, 15 * 60_000_000).expect("snapshot");
    app.update(Msg::Loaded(Box::new(snap)));
    let small = screen(&app, 80, 24);
    for needle in DEMO_KEYS
        .iter()
        .copied()
        .chain(["RUNNING", "health", "q quit"])
    {
        assert!(small.contains(needle), "80x24 lacks {needle}:\n{small}");
    }
    let wide = screen(&app, 140, 40);
    assert!(
        wide.contains("How deep a discount pays"),
        "wide layout shows names:\n{wide}"
    );
    assert!(
        !small.contains("How deep a discount pays"),
        "80 columns drop the name column"
    );
}

/// Whether `text` holds an amount like `$1,234.56` (currency, grouped thousands, two decimals).
fn regex_like_money(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let Some(rest) = w.strip_prefix('$') else {
            return false;
        };
        let Some((whole, cents)) = rest.split_once('.') else {
            return false;
        };
        cents.len() == 2
            && whole.contains(',')
            && whole.split(',').skip(1).all(|g| g.len() == 3)
            && whole.chars().all(|c| c.is_ascii_digit() || c == ',')
    })
}
