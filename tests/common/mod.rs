//! Shared test helpers: temporary databases, fixture paths, the built binary.
#![allow(dead_code)]

use liftdeck::app::{self, Env, IngestSummary};
use liftdeck::clock::Clock;
use liftdeck::ingest::Format;
use liftdeck::store::Store;
use std::path::{Path, PathBuf};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_liftdeck"))
}

pub fn test_env() -> Env {
    Env {
        clock: Clock::virtual_at(1_793_491_200_000_000),
        actor: "test".into(),
    }
}

pub fn temp_db(dir: &tempfile::TempDir, name: &str) -> (PathBuf, Store) {
    let path = dir.path().join(name);
    let store = Store::open(&path).expect("open store");
    (path, store)
}

pub fn ingest_str(store: &mut Store, text: &str, format: Format, batch: usize) -> IngestSummary {
    app::ingest_reader(
        store,
        &test_env(),
        text.as_bytes(),
        "test",
        format,
        batch,
        |_| {},
    )
    .expect("ingest")
}

pub fn ingest_file(store: &mut Store, path: &Path) -> IngestSummary {
    let format = if path.extension().is_some_and(|e| e == "csv") {
        Format::Csv
    } else {
        Format::Jsonl
    };
    let f = std::fs::File::open(path).expect("fixture");
    app::ingest_reader(
        store,
        &test_env(),
        std::io::BufReader::new(f),
        &path.display().to_string(),
        format,
        1000,
        |_| {},
    )
    .expect("ingest")
}

/// Asserts that every campaign's stored rollups equal a from-scratch SQL recompute.
pub fn assert_rollups_consistent(store: &Store) {
    for c in store.campaigns().expect("campaigns") {
        let diffs = store.verify_rollups(&c.spec.key).expect("verify");
        assert!(diffs.is_empty(), "rollups drifted: {diffs:#?}");
    }
}
