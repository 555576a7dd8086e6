//! RFM as of a time: only the unit's own purchases strictly before the time count, across
//! every campaign; the batch form agrees with the single form, in order, past a chunk.

use crate::common::{ingest_str, temp_db};
use liftdeck::clock::parse_rfc3339;
use liftdeck::lines::Format;
use liftdeck::store::Rfm;

fn campaign(key: &str) -> String {
    format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"ab","arms":[{{"key":"a","weight":1.0}},{{"key":"b","weight":1.0}}],"control":"a","traffic":1.0,"metric":"purchase","seed":1,"status":"running"}}"#
    )
}

fn assign(key: &str, unit: &str) -> String {
    format!(
        r#"{{"type":"assignment","campaign":"{key}","unit":"{unit}","arm":"a","propensity":0.5,"ts":"2026-10-01T00:00:00Z"}}"#
    )
}

fn event(id: &str, key: &str, unit: &str, kind: &str, value: f64, ts: &str) -> String {
    format!(
        r#"{{"type":"event","event_id":"{id}","campaign":"{key}","unit":"{unit}","kind":"{kind}","value":{value},"cost":0,"ts":"{ts}"}}"#
    )
}

fn t(s: &str) -> i64 {
    parse_rfc3339(s).expect("time")
}

fn shop() -> (tempfile::TempDir, liftdeck::store::Store) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "rfm.db");
    let lines = [
        campaign("c1"),
        campaign("c2"),
        assign("c1", "u1"),
        assign("c2", "u1"),
        assign("c1", "u2"),
        event("e1", "c1", "u1", "purchase", 10.0, "2026-10-02T00:00:00Z"),
        // Another campaign, the same unit id: it counts.
        event("e2", "c2", "u1", "purchase", 5.0, "2026-10-05T00:00:00Z"),
        // Not a purchase: it never counts.
        event("e3", "c1", "u1", "click", 99.0, "2026-10-06T00:00:00Z"),
        // Exactly at the cut-off and after it.
        event("e4", "c1", "u1", "purchase", 7.0, "2026-10-10T00:00:00Z"),
        event("e5", "c2", "u1", "purchase", 3.0, "2026-10-20T00:00:00Z"),
        // Another unit's purchase never leaks into u1's.
        event("e6", "c1", "u2", "purchase", 100.0, "2026-10-03T00:00:00Z"),
    ]
    .join("\n");
    let s = ingest_str(&mut store, &lines, Format::Jsonl, 100);
    assert_eq!(s.rejected, 0, "{s:?}");
    (dir, store)
}

#[test]
fn events_at_or_after_the_time_never_count() {
    let (_dir, store) = shop();
    let cut = t("2026-10-10T00:00:00Z");
    let r = store.rfm_as_of("u1", cut).expect("rfm");
    assert_eq!(r.frequency, 2, "e1 and e2 only: {r:?}");
    assert_eq!(r.monetary, 15.0);
    assert_eq!(r.recency_days, Some(5.0));
    // One microsecond later the purchase at the cut-off is in the past.
    let r = store.rfm_as_of("u1", cut + 1).expect("rfm");
    assert_eq!((r.frequency, r.monetary), (3, 22.0));
    // Before any purchase: nothing, and no recency.
    let none = store
        .rfm_as_of("u1", t("2026-10-02T00:00:00Z"))
        .expect("rfm");
    assert_eq!(
        none,
        Rfm {
            recency_days: None,
            frequency: 0,
            monetary: 0.0
        }
    );
    let stranger = store.rfm_as_of("nobody", cut).expect("rfm");
    assert_eq!(stranger.frequency, 0);
}

#[test]
fn the_batch_form_matches_one_query_per_pair_in_order() {
    let (_dir, store) = shop();
    let start = t("2026-10-01T00:00:00Z");
    let hour = 3_600_000_000;
    let units = ["u1", "u2", "nobody"];
    // More pairs than one chunk, times on both sides of every event.
    let pairs: Vec<(&str, i64)> = (0..700)
        .map(|i| (units[i % 3], start + (i as i64 % 500) * hour))
        .collect();
    let batch = store.rfm_batch(&pairs).expect("batch");
    assert_eq!(batch.len(), pairs.len());
    for ((unit, at), got) in pairs.iter().zip(&batch) {
        assert_eq!(
            *got,
            store.rfm_as_of(unit, *at).expect("single"),
            "{unit} {at}"
        );
    }
    assert!(batch.iter().any(|r| r.frequency == 4));
    assert!(store.rfm_batch(&[]).expect("empty").is_empty());
}
