//! Opening databases: owner-only file mode, pragmas, upgrades of old files, refusal of newer ones.

use crate::common::*;
use liftdeck::store::{migrate, Store, StoreError};

#[cfg(unix)]
#[test]
fn new_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let (path, store) = temp_db(&dir, "private.db");
    drop(store);
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "database mode {mode:o}");
    for side in ["private.db-wal", "private.db-shm"] {
        if let Ok(m) = std::fs::metadata(dir.path().join(side)) {
            assert_eq!(
                m.permissions().mode() & 0o077,
                0,
                "{side} readable by others"
            );
        }
    }
}

#[test]
fn opening_sets_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, store) = temp_db(&dir, "pragmas.db");
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        store.schema_version().expect("version"),
        migrate::CURRENT_VERSION
    );
}

#[test]
fn version_1_database_is_upgraded_in_place_with_data_intact() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("old.db");
    std::fs::copy(fixture("db/v1.db"), &path).expect("copy fixture");
    {
        let raw = rusqlite::Connection::open(&path).expect("raw");
        let v: i64 = raw
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("v");
        assert_eq!(v, 1, "fixture must stay at version 1");
    }
    // Read-only sessions never upgrade; they say what to do.
    match Store::open_read_only(&path) {
        Err(StoreError::NeedsUpgrade { found: 1, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("read-only open of an old database must refuse"),
    }
    let store = Store::open(&path).expect("upgrade");
    assert_eq!(store.schema_version().expect("v"), migrate::CURRENT_VERSION);
    let keys: Vec<String> = store
        .campaigns()
        .expect("campaigns")
        .into_iter()
        .map(|c| c.spec.key)
        .collect();
    assert_eq!(keys, ["shop-ab", "draft-one"]);
    let arms = store.arm_summaries("shop-ab").expect("arms");
    assert_eq!(arms[1].rollup.revenue_sum, 12.5);
    assert_eq!(store.rejects(10).expect("rejects").len(), 3);
    assert_rollups_consistent(&store);
    drop(store);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let has_index: i64 = raw
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
            ["events_campaign_ts"],
            |r| r.get(0),
        )
        .expect("index");
    assert_eq!(has_index, 1, "migration 2 applied");
}

#[test]
fn database_from_a_newer_liftdeck_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, store) = temp_db(&dir, "newer.db");
    drop(store);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch("PRAGMA user_version = 99").expect("bump");
    drop(raw);
    for result in [Store::open(&path), Store::open_read_only(&path)] {
        match result {
            Err(StoreError::NewerSchema { found: 99, .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a newer database must be refused"),
        }
    }
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("v");
    assert_eq!(v, 99);
}

#[test]
fn read_only_store_cannot_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, mut store) = temp_db(&dir, "ro.db");
    ingest_file(&mut store, &fixture("bad/setup.jsonl"));
    drop(store);
    let mut ro = Store::open_read_only(&path).expect("ro");
    assert_eq!(ro.campaigns().expect("list").len(), 2);
    let env = test_env();
    let err = liftdeck::app::set_status(&mut ro, &env, "shop-ab", liftdeck::domain::Status::Paused)
        .expect_err("read-only must refuse");
    assert!(err.to_string().contains("readonly"), "{err}");
}
