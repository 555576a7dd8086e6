//! Kernel benchmarks (criterion): hash bucketing and line parsing, each in a group with a
//! baseline measured in the same run, so results are quoted as ratios. Whole-process figures
//! (ingest into a database, assign with storage) are `liftdeck bench`, see BENCHMARKS.md.
//!
//! cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liftdeck::allocation::bucket;
use liftdeck::ingest::parse_json_line;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;

/// A purchase line as `liftdeck bench ingest` generates it (the simulator's shape).
const EVENT_LINE: &str = r#"{"campaign":"discount-depth","cost":3.58,"event_id":"b-e11","kind":"purchase","ts":"2026-11-01T00:09:19.828754Z","type":"event","unit":"b-u-8","value":68.04}"#;

/// An assignment line with the simulator's seven-field context.
const ASSIGNMENT_LINE: &str = r#"{"arm":"recs","campaign":"recs-home","context":{"device":"mobile","frequency":9,"monetary":37.87,"pre_value":28.28,"recency_days":21.0,"region":"eu","segment":"returning"},"propensity":0.5,"ts":"2026-11-01T00:00:00.020000Z","type":"assignment","unit":"b-u-3"}"#;

const UNIT: &str = "u-1234567";

fn bucketing(c: &mut Criterion) {
    let mut group = c.benchmark_group("bucket");
    group.throughput(Throughput::Elements(1));
    // Baseline: std's SipHash of the same key, the cheapest "hash a unit" one could write.
    group.bench_function("baseline_std_siphash", |b| {
        b.iter(|| {
            let mut h = DefaultHasher::new();
            black_box(UNIT).hash(&mut h);
            h.finish()
        })
    });
    for arms in [2usize, 20] {
        let weights = vec![1.0; arms];
        group.bench_with_input(
            BenchmarkId::new("allocation_bucket", arms),
            &weights,
            |b, w| b.iter(|| bucket(black_box(42), black_box(UNIT), 1.0, black_box(w))),
        );
    }
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, line) in [("event", EVENT_LINE), ("assignment", ASSIGNMENT_LINE)] {
        assert!(parse_json_line(line).is_ok(), "{name} line must be valid");
        group.throughput(Throughput::Bytes(line.len() as u64));
        // Baseline: serde_json into an untyped Value (syntax only, no validation).
        group.bench_with_input(
            BenchmarkId::new("baseline_serde_json_value", name),
            line,
            |b, l| b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(l))),
        );
        group.bench_with_input(BenchmarkId::new("parse_json_line", name), line, |b, l| {
            b.iter(|| parse_json_line(black_box(l)))
        });
    }
    group.finish();
}

criterion_group!(benches, bucketing, parsing);
criterion_main!(benches);
