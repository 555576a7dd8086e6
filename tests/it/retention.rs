//! Retention (`prune`) and the audit trail (issue 13): what a prune deletes and keeps, that
//! every report still shows, that verify says what it can no longer recompute, that a replay
//! of an old file is not counted twice, and that every mutation leaves an audit row with its
//! actor and SSH client.

use crate::common::*;
use liftdeck::app::{retention, Env};
use liftdeck::clock::Clock;
use liftdeck::lines::Format;
use liftdeck::store::{AuditFilter, RejectFilter, Store};

const HOUR: i64 = 3_600_000_000;

/// A year after the simulated data: a 1h window prunes all of it.
fn env_later() -> Env {
    Env {
        clock: Clock::virtual_at(test_env().clock.now() + 365 * 24 * HOUR),
        actor: "pruner".into(),
    }
}

fn events_of(store: &Store) -> i64 {
    store.event_count().expect("events")
}

#[test]
fn a_prune_keeps_every_report_and_verify_says_what_it_can_no_longer_recompute() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "shop.db");
    ingest_str(&mut store, &sim_jsonl(3, 300), Format::Jsonl, 1000);
    assert!(events_of(&store) > 0);
    let report_before = cli_ok(&run_cli(&db, &["report", "ab", "coupon-10"]));
    let json_before = cli_ok(&run_cli(&db, &["report", "ab", "coupon-10", "--json"]));
    let rollups_before = all_rollups(&store);

    let dry = retention::prune(&mut store, &env_later(), HOUR, true).expect("dry run");
    assert!(dry.dry_run && !dry.campaigns.is_empty());
    assert!(events_of(&store) > 0, "a dry run deleted events");
    assert_eq!(store.prune_mark("coupon-10").expect("mark"), None);

    let done = retention::prune(&mut store, &env_later(), HOUR, false).expect("prune");
    assert_eq!(
        done.campaigns, dry.campaigns,
        "the dry run counted differently"
    );
    assert_eq!(events_of(&store), 0);
    let mark = store
        .prune_mark("coupon-10")
        .expect("mark")
        .expect("marked");
    assert_eq!(mark.actor, "pruner");
    assert!(mark.events_deleted > 0 && mark.contexts_cleared > 0);

    // Every report still shows, the same to the byte.
    assert_eq!(
        cli_ok(&run_cli(&db, &["report", "ab", "coupon-10"])),
        report_before
    );
    assert_eq!(
        cli_ok(&run_cli(&db, &["report", "ab", "coupon-10", "--json"])),
        json_before
    );
    // The raw recompute can no longer agree (the check can fail) ...
    assert!(!store.verify_rollups("coupon-10").expect("raw").is_empty());
    // ... so verify checks against unit_totals, which still agree, and says so.
    let out = run_cli(&db, &["verify"]);
    let text = cli_ok(&out);
    assert!(
        text.contains(
            "were pruned: rollups cannot be recomputed from events for campaign coupon-10"
        ),
        "{text}"
    );
    assert!(
        text.contains("coupon-10: rollups match the per-unit totals"),
        "{text}"
    );
    let json = cli_ok(&run_cli(&db, &["verify", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["ok"], true);
    assert!(v["campaigns"][0]["pruned"].is_string());

    // Readers of raw rows say the data was pruned.
    let export = run_cli(&db, &["export", "coupon-10"]);
    assert!(String::from_utf8_lossy(&export.stderr).contains("were pruned"));

    // Audited, per campaign.
    let rows = store
        .audit_where(
            &AuditFilter {
                campaign: Some("coupon-10".into()),
                action: Some("retention.prune".into()),
            },
            10,
        )
        .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "pruner");

    // A replay of the old file is refused, not counted a second time.
    let again = ingest_str(&mut store, &sim_jsonl(3, 300), Format::Jsonl, 1000);
    assert!(again.rejected > 0);
    assert_eq!(all_rollups(&store).len(), rollups_before.len());
    for ((k, a), (_, b)) in all_rollups(&store).iter().zip(&rollups_before) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                x.rollup.differences(&y.rollup, 1e-9).is_empty(),
                "{k} changed"
            );
        }
    }
    let pruned = store
        .rejects_where(&RejectFilter {
            run: None,
            reason: Some("pruned".into()),
            limit: 5,
        })
        .expect("rejects");
    assert!(!pruned.is_empty());
}

#[test]
fn a_partial_prune_deletes_only_what_is_older_than_the_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "shop.db");
    // 600 shoppers over 12 s of simulated time from test_env's start.
    ingest_str(&mut store, &sim_jsonl(5, 600), Format::Jsonl, 1000);
    let total = events_of(&store);
    let start = test_env().clock.now();
    let cutoff = start + 6_000_000;
    let old: i64 = store
        .prune_counts(cutoff)
        .expect("counts")
        .iter()
        .map(|c| c.events)
        .sum();
    assert!(old > 0 && old < total, "old {old} of {total}");
    let env = Env {
        clock: Clock::virtual_at(cutoff + 10 * HOUR),
        actor: "pruner".into(),
    };
    retention::prune(&mut store, &env, 10 * HOUR, false).expect("prune");
    assert_eq!(events_of(&store), total - old);
    for c in store.campaigns().expect("campaigns") {
        let key = &c.spec.key;
        let diffs = store
            .verify_rollups_against_unit_totals(key)
            .expect("verify");
        assert!(diffs.is_empty(), "{key}: {diffs:?}");
    }
    // A second, longer window moves nothing back.
    retention::prune(&mut store, &env, 100 * HOUR, false).expect("prune again");
    let mark = store
        .prune_mark("coupon-10")
        .expect("mark")
        .expect("marked");
    assert_eq!(mark.pruned_before, cutoff);
}

#[test]
fn prune_refuses_a_window_without_a_unit_or_of_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, _store) = temp_db(&dir, "x.db");
    for bad in ["180", "0d", "5y", "-3d"] {
        let out = run_cli(&db, &["prune", "--older-than", bad]);
        assert_eq!(out.status.code(), Some(64), "{bad}");
    }
    let out = run_cli(
        &db,
        &["prune", "--older-than", "180d", "--dry-run", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&cli_ok(&out)).expect("json");
    assert_eq!(v["dry_run"], true);
    assert!(v["before"].is_string());
}

/// Runs the binary as an operator over SSH.
fn over_ssh(dir: &std::path::Path, db: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .current_dir(dir)
        .env_remove("LIFTDECK_DB")
        .env("LIFTDECK_ACTOR", "olga")
        .env("SSH_CONNECTION", "203.0.113.9 50022 10.0.0.1 22")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_mutating_command_leaves_an_audit_row_with_actor_and_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("a.db");
    let lines = dir.path().join("lines.jsonl");
    std::fs::write(&lines, sim_jsonl(3, 200)).expect("write");
    let steps: &[(&[&str], &str)] = &[
        (&["ingest", "lines.jsonl"], "ingest.run"),
        (
            &["campaign", "create", "--key", "n", "--arms", "a:1,b:1"],
            "campaign.create",
        ),
        (&["campaign", "start", "n"], "campaign.start"),
        (&["assign", "n", "someone"], "assign"),
        (&["train", "coupon-10"], "model.train"),
        (&["train", "coupon-10"], "job.finish"),
        (&["campaign", "pause", "n"], "campaign.pause"),
        (&["prune", "--older-than", "1h"], "retention.prune"),
    ];
    for (args, action) in steps {
        over_ssh(dir.path(), &db, args);
        let store = Store::open_read_only(&db).expect("open");
        let rows = store
            .audit_where(
                &AuditFilter {
                    campaign: None,
                    action: Some((*action).into()),
                },
                1,
            )
            .expect("audit");
        let row = rows
            .first()
            .unwrap_or_else(|| panic!("{args:?} left no `{action}` audit row"));
        assert!(row.actor.starts_with("olga"), "{args:?}: {}", row.actor);
        assert_eq!(row.client.as_deref(), Some("203.0.113.9"), "{args:?}");
    }
    // A local session records no client.
    let out = run_cli(&db, &["campaign", "stop", "n"]);
    cli_ok(&out);
    let store = Store::open_read_only(&db).expect("open");
    let newest = store.audit_log(1).expect("audit");
    assert_eq!(newest[0].client, None);
}

#[test]
fn the_health_panel_filters_the_audit_log_by_campaign_and_action() {
    use crate::console_trust::{app_on, ch};
    use liftdeck::tui::{screen_text, Panel};
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "a.db");
    let env = test_env();
    for key in ["alpha", "beta"] {
        let mut spec = liftdeck::app::demo::demo_specs(1)[0].clone();
        spec.key = key.into();
        liftdeck::app::create_campaign(&mut store, &env, &spec).expect("create");
        liftdeck::app::set_status(&mut store, &env, key, liftdeck::domain::Status::Running)
            .expect("start");
    }
    let mut app = app_on(&store, false);
    app.panel = Panel::Health;
    let audit_rows = |app: &liftdeck::tui::App| -> Vec<String> {
        screen_text(app, 120, 60)
            .lines()
            .filter(|l| l.contains("Z test campaign."))
            .map(str::to_string)
            .collect()
    };
    let all = audit_rows(&app);
    assert_eq!(all.len(), 4, "{all:#?}");
    app.update(ch('c'));
    let screen = screen_text(&app, 120, 60);
    assert!(
        screen.contains("Audit log: campaign alpha, action all"),
        "{screen}"
    );
    let alpha = audit_rows(&app);
    assert_eq!(alpha.len(), 2);
    assert!(alpha.iter().all(|l| l.contains(" alpha ")), "{alpha:#?}");
    app.update(ch('a'));
    let rows = audit_rows(&app);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].contains("campaign.create alpha"), "{rows:#?}");
    // Cycling past the last campaign shows every campaign again.
    app.update(ch('c'));
    app.update(ch('c'));
    let rows = audit_rows(&app);
    assert_eq!(rows.len(), 2, "both creates: {rows:#?}");
}
