//! Ingest under hostile input: values that would overflow the rollups, bad bytes, lines with no
//! end, covariates of the wrong type, timestamps from the future. None of them may stop a run;
//! each is a reject with its line number, and every rollup stays finite and equal to a
//! recompute.

use crate::common::*;
use liftdeck::app::{self, IngestOptions};
use liftdeck::lines::{Format, RejectReason};
use liftdeck::store::Store;
use proptest::prelude::*;
use std::io::Read;

const CAMPAIGN: &str = r#"{"type":"campaign","key":"x","name":"extreme","kind":"ab","arms":[{"key":"a","weight":1.0},{"key":"b","weight":1.0}],"control":"a","traffic":1.0,"metric":"purchase","seed":3,"status":"running"}"#;

fn assignment(unit: &str, arm: &str, pre: &str) -> String {
    format!(
        r#"{{"type":"assignment","campaign":"x","unit":"{unit}","arm":"{arm}","propensity":0.5,"context":{{"pre_value":{pre}}},"ts":"2026-11-01T12:00:00Z"}}"#
    )
}

fn event(id: usize, unit: &str, kind: &str, value: &str, cost: &str) -> String {
    format!(
        r#"{{"type":"event","event_id":"e{id}","campaign":"x","unit":"{unit}","kind":"{kind}","value":{value},"cost":{cost},"ts":"2026-11-01T12:01:00Z"}}"#
    )
}

fn try_ingest(
    store: &mut Store,
    input: impl std::io::BufRead,
    options: &IngestOptions,
) -> app::Result<app::IngestSummary> {
    app::ingest_with(store, &test_env(), input, "test", options, |_| {})
}

fn assert_finite_and_consistent(store: &Store) {
    for arm in store.arm_summaries("x").expect("arms") {
        let json = serde_json::to_value(&arm.rollup).expect("json");
        for (name, v) in json.as_object().expect("object") {
            if let Some(x) = v.as_f64() {
                assert!(x.is_finite(), "{}/{name} = {x}", arm.key);
            }
        }
    }
    assert_rollups_consistent(store);
}

#[test]
fn a_huge_value_followed_by_another_event_of_the_unit_no_longer_jams_ingest() {
    // Today's failure: 1e308 was accepted, the unit's second event made revenue_sumsq
    // overflow to NaN, the batch failed on NOT NULL, and every retry failed the same way.
    let text = [
        CAMPAIGN.to_string(),
        assignment("u1", "a", "1"),
        event(1, "u1", "purchase", "1e308", "0"),
        event(2, "u1", "purchase", "1e308", "0"),
        event(3, "u1", "purchase", "10", "1e308"),
        event(4, "u1", "purchase", "25", "1"),
    ]
    .join("\n");
    let mut store = Store::open_in_memory().expect("mem");
    for round in 0..2 {
        let s = try_ingest(
            &mut store,
            text.as_bytes(),
            &IngestOptions::new(Format::Jsonl),
        )
        .expect("the run completes");
        assert_eq!(s.rejected, 3, "round {round}: {:?}", s.samples);
        assert_eq!(s.by_reason.get("value_out_of_range"), Some(&3));
        assert_finite_and_consistent(&store);
    }
    let arms = store.arm_summaries("x").expect("arms");
    assert_eq!(arms[0].rollup.revenue_sum, 25.0);
}

/// A value from the edges of f64 and of the documented bound.
fn extreme() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("5e-324".to_string()),
        Just("1e-300".to_string()),
        Just("0.01".to_string()),
        Just("1e12".to_string()),
        Just("999999999999.99".to_string()),
        Just("1.0000000000001e12".to_string()),
        Just("1e15".to_string()),
        Just("1e154".to_string()),
        Just("1e308".to_string()),
        Just("1.7976931348623157e308".to_string()),
        (0u32..100_000).prop_map(|c| format!("{}", f64::from(c) / 100.0)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever extreme values arrive, in whatever batches, the run never fails as a whole,
    /// every line is accepted or rejected with a named reason, and every rollup stays finite
    /// and equal to a from-scratch recompute.
    #[test]
    fn extreme_values_never_fail_a_run_and_rollups_stay_finite(
        units in proptest::collection::vec((0u8..2, extreme()), 1..8),
        events in proptest::collection::vec((0u8..8, 0u8..4, extreme(), extreme()), 1..60),
        batch in 1usize..40,
    ) {
        let mut text = vec![CAMPAIGN.to_string()];
        for (i, (arm, pre)) in units.iter().enumerate() {
            text.push(assignment(&format!("u{i}"), ["a", "b"][*arm as usize], pre));
        }
        for (i, (unit, kind, value, cost)) in events.iter().enumerate() {
            let unit = format!("u{}", *unit as usize % units.len());
            let kind = ["exposure", "click", "add_to_cart", "purchase"][*kind as usize];
            text.push(event(i, &unit, kind, value, cost));
        }
        let text = text.join("\n");
        let options = IngestOptions { batch_lines: batch, ..IngestOptions::new(Format::Jsonl) };
        let mut store = Store::open_in_memory().expect("mem");
        let s = try_ingest(&mut store, text.as_bytes(), &options);
        prop_assert!(s.is_ok(), "{:?}", s.err());
        let s = s.expect("checked");
        prop_assert_eq!(s.accepted + s.rejected + s.duplicates, s.lines);
        // An out-of-range covariate rejects the assignment, so that unit's events are
        // unassigned; nothing else may be rejected.
        for code in s.by_reason.keys() {
            prop_assert!(
                ["value_out_of_range", "bad_covariate", "unassigned_unit"].contains(code),
                "unexpected reason {}", code
            );
        }
        for arm in store.arm_summaries("x").expect("arms") {
            let json = serde_json::to_value(&arm.rollup).expect("json");
            for (name, v) in json.as_object().expect("object") {
                if let Some(x) = v.as_f64() {
                    prop_assert!(x.is_finite(), "{}/{} = {}", arm.key, name, x);
                }
            }
        }
        let diffs = store.verify_rollups("x").expect("verify");
        prop_assert!(diffs.is_empty(), "{:?}", diffs);
    }
}

/// `len` bytes of `x` with no newline, generated on the fly, then `tail`.
struct Endless {
    len: u64,
    pos: u64,
    tail: Vec<u8>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(buf.len() as u64) as usize;
            buf[..n].fill(b'x');
            self.pos += n as u64;
            return Ok(n);
        }
        let off = (self.pos - self.len) as usize;
        let n = (self.tail.len() - off.min(self.tail.len())).min(buf.len());
        buf[..n].copy_from_slice(&self.tail[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

#[test]
fn a_newline_free_stream_is_one_rejected_line_and_the_rest_still_ingests() {
    let tail = format!(
        "\n{}\n{}\n",
        assignment("u1", "b", "2"),
        event(1, "u1", "purchase", "9.5", "0")
    );
    let mut store = Store::open_in_memory().expect("mem");
    try_ingest(
        &mut store,
        CAMPAIGN.as_bytes(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("campaign");
    let input = std::io::BufReader::with_capacity(
        64 * 1024,
        Endless {
            len: 6 << 20,
            pos: 0,
            tail: tail.into_bytes(),
        },
    );
    let options = IngestOptions {
        max_line_bytes: 1 << 20,
        ..IngestOptions::new(Format::Jsonl)
    };
    let s = try_ingest(&mut store, input, &options).expect("the run completes");
    assert_eq!(
        (s.lines, s.accepted, s.rejected),
        (3, 2, 1),
        "{:?}",
        s.samples
    );
    let (line, e) = &s.samples[0];
    assert_eq!((*line, e.reason), (1, RejectReason::LineTooLong));
    assert!(
        e.detail.contains(&format!("{} bytes", 6 << 20)),
        "{}",
        e.detail
    );
    // The reject keeps a short preview of the line, not the line.
    let rejects = store.rejects(10).expect("rejects");
    assert!(rejects[0].raw.len() <= 256, "{}", rejects[0].raw.len());
    assert_eq!(
        store.arm_summaries("x").expect("arms")[1]
            .rollup
            .revenue_sum,
        9.5
    );
}

#[test]
fn invalid_utf8_is_a_reject_with_its_line_and_the_batch_around_it_survives() {
    let mut input = Vec::new();
    for l in [CAMPAIGN.to_string(), assignment("u1", "a", "1")] {
        input.extend_from_slice(l.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"type\":\"event\",\"unit\":\"\xc0\xaf\"}\n");
    input.extend_from_slice(event(1, "u1", "purchase", "3", "0").as_bytes());
    input.push(b'\n');
    let mut store = Store::open_in_memory().expect("mem");
    // One batch holds all four lines: the good ones beside the bad one are applied.
    let s = try_ingest(
        &mut store,
        input.as_slice(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("the run completes");
    assert_eq!((s.accepted, s.rejected), (3, 1), "{:?}", s.samples);
    assert_eq!(s.samples[0].0, 3);
    assert_eq!(s.samples[0].1.reason, RejectReason::InvalidUtf8);
    let r = &store.rejects(1).expect("rejects")[0];
    assert_eq!((r.line, r.reason.as_str()), (3, "invalid_utf8"));
    assert!(r.raw.contains('\u{fffd}'), "lossy raw: {}", r.raw);
    assert_eq!(
        store.arm_summaries("x").expect("arms")[0]
            .rollup
            .revenue_sum,
        3.0
    );
}

#[test]
fn a_byte_order_mark_at_the_start_of_jsonl_is_ignored() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(CAMPAIGN.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(assignment("u1", "a", "1").as_bytes());
    let mut store = Store::open_in_memory().expect("mem");
    let s = try_ingest(
        &mut store,
        input.as_slice(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("ingest");
    assert_eq!((s.accepted, s.rejected), (2, 0), "{:?}", s.samples);
}

#[test]
fn the_future_is_measured_on_the_injected_clock_with_a_configurable_tolerance() {
    // test_env's clock is 2026-11-01T00:00:00Z; the lines are stamped 12:00 and 12:01.
    let text = [
        CAMPAIGN.to_string(),
        assignment("u1", "a", "1"),
        event(1, "u1", "purchase", "3", "0"),
    ]
    .join("\n");
    let mut store = Store::open_in_memory().expect("mem");
    let tight = IngestOptions {
        max_future: 3_600_000_000,
        ..IngestOptions::new(Format::Jsonl)
    };
    let s = try_ingest(&mut store, text.as_bytes(), &tight).expect("ingest");
    assert_eq!(
        s.by_reason.get("future_timestamp"),
        Some(&2),
        "{:?}",
        s.samples
    );
    let s = try_ingest(
        &mut store,
        text.as_bytes(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("ingest");
    assert_eq!((s.accepted, s.rejected), (2, 0), "{:?}", s.samples);
}

#[test]
fn assign_refuses_a_context_whose_pre_value_is_not_a_number() {
    let mut store = Store::open_in_memory().expect("mem");
    try_ingest(
        &mut store,
        CAMPAIGN.as_bytes(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("campaign");
    let env = test_env();
    for bad in [r#""12""#, "true", "[1]"] {
        let context: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&format!(r#"{{"pre_value":{bad}}}"#)).expect("json");
        let err = app::assign(&mut store, &env, "x", "u-9", context).expect_err(bad);
        match err {
            app::AppError::Line { error, .. } => {
                assert_eq!(error.reason, RejectReason::BadCovariate, "{bad}")
            }
            other => panic!("{bad}: {other}"),
        }
    }
    assert_eq!(store.arm_summaries("x").expect("arms")[0].rollup.units, 0);
    let ok: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"pre_value":12}"#).expect("json");
    app::assign(&mut store, &env, "x", "u-9", ok).expect("a number is fine");
    assert_rollups_consistent(&store);
}

#[test]
fn importing_an_export_stamps_campaigns_with_the_injected_clock() {
    let mut store = Store::open_in_memory().expect("mem");
    try_ingest(
        &mut store,
        CAMPAIGN.as_bytes(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("campaign");
    let (c, _) = store.campaign("x").expect("campaign");
    let now = test_env().clock.now();
    assert_eq!(
        c.created_at, now,
        "created from the injected clock, not the wall clock"
    );
    assert_eq!(c.started_at, Some(now));
}

#[test]
fn a_csv_record_past_the_limit_stops_the_run_with_bounded_memory_after_the_lines_before_it() {
    let mut store = Store::open_in_memory().expect("mem");
    try_ingest(
        &mut store,
        CAMPAIGN.as_bytes(),
        &IngestOptions::new(Format::Jsonl),
    )
    .expect("campaign");
    let head = "type,campaign,unit,arm,propensity,ts\n\
                assignment,x,u1,a,0.5,2026-11-01T12:00:00Z\n\
                assignment,x,u2,b,0.5,2026-11-01T12:00:00Z\n\
                assignment,x,\"";
    let endless = Endless {
        len: 4 << 20,
        pos: 0,
        tail: b"\"\n".to_vec(),
    };
    let input = std::io::BufReader::new(head.as_bytes().chain(endless));
    let options = IngestOptions {
        max_line_bytes: 1 << 20,
        ..IngestOptions::new(Format::Csv)
    };
    let err = try_ingest(&mut store, input, &options).expect_err("too long");
    let msg = err.to_string();
    assert!(
        msg.contains("line 4") && msg.contains("longer than 1048576 bytes"),
        "{msg}"
    );
    assert_eq!(store.arm_summaries("x").expect("arms")[0].rollup.units, 1);
    assert_eq!(store.arm_summaries("x").expect("arms")[1].rollup.units, 1);
}
