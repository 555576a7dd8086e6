//! Frame render time of each console panel at 200x60 and 80x24 (criterion), on a snapshot of
//! the demo shop. Baseline in the same group: drawing an empty frame (terminal + buffer diff
//! cost alone), so panel figures read as "so much above the floor".
//!
//! cargo bench --bench console -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use liftdeck::app::demo::run_headless;
use liftdeck::app::snapshot::{load_snapshot, Focus};
use liftdeck::app::Env;
use liftdeck::clock::Clock;
use liftdeck::jobs::{self, JobEnd, JobKind, JobSettings, JobUpdate};
use liftdeck::store::Store;
use liftdeck::tui::{render, App, Msg, Panel};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::atomic::AtomicBool;

fn app_on_demo() -> App {
    let env = Env {
        clock: Clock::virtual_at(liftdeck::app::demo::DEMO_EPOCH),
        actor: "bench".into(),
    };
    let mut store = Store::open_in_memory().expect("store");
    run_headless(&mut store, &env, 7, 600, 50).expect("traffic");
    let now = env.clock.now();
    let snap = load_snapshot(&store, &Focus::default(), now, now, 900_000_000).expect("snapshot");
    let mut app = App::new(false);
    app.update(Msg::Loaded(Box::new(snap)));
    // The job panels as they look with a result: run each job once on the same data.
    for kind in [JobKind::Retrain, JobKind::Causal, JobKind::Forecast] {
        let never = AtomicBool::new(false);
        let settings = JobSettings::default();
        let out = jobs::run_on(
            &mut store,
            &env,
            &settings,
            kind,
            "coupon-10",
            &never,
            &|_| {},
        )
        .expect("job");
        app.update(Msg::Job(JobUpdate::Finished {
            kind,
            campaign: "coupon-10".into(),
            end: JobEnd::Done(out),
        }));
    }
    app
}

fn frames(c: &mut Criterion) {
    let mut app = app_on_demo();
    let mut group = c.benchmark_group("render");
    for (w, h) in [(200u16, 60u16), (80, 24)] {
        let size = format!("{w}x{h}");
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        group.bench_function(BenchmarkId::new("baseline_empty_frame", &size), |b| {
            b.iter(|| {
                terminal.draw(|_| {}).expect("draw");
            })
        });
        for panel in Panel::ALL {
            app.panel = panel;
            group.bench_function(BenchmarkId::new(panel.title(), &size), |b| {
                b.iter(|| {
                    terminal.draw(|f| render(&app, f)).expect("draw");
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
