//! The operator console: `state` (App, update(msg) -> effects), `view` (pure render),
//! `keys` (the binding table), `panel` (the tabs), `effects` (the executor the console and
//! replays share). The snapshot itself is read in `app::snapshot`. The event loop below keeps
//! the render thread free: a data thread owns the database connections, polls
//! `PRAGMA data_version` and sends snapshots back over a channel; a one-second tick re-judges
//! clock-bound badges (STALE, "updated N s ago") without reading the database.

pub mod effects;
pub mod form;
pub mod job_state;
pub mod jobview;
pub mod keys;
pub mod learner_pick;
pub mod list;
pub mod panel;
pub mod plan_form;
pub mod saved_reports;
pub mod state;
pub mod text;
pub mod theme;
pub mod view;
mod view_ab;
mod view_bandit;
mod view_bandit_chart;
mod view_campaigns;
pub mod view_causal;
pub mod view_forecast;
pub mod view_models;
pub mod view_models_chart;

pub use crate::app::snapshot::Snapshot;
pub use panel::Panel;
pub use state::{App, Effect, Msg};
pub use view::render;

/// The screen `render` draws for `app` on a headless `w`x`h` terminal, as text: one line per
/// row, trailing blanks trimmed. Replays, tests and benchmarks read screens through this.
pub fn screen_text(app: &App, w: u16, h: u16) -> String {
    let Ok(mut terminal) = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h));
    if terminal.draw(|f| render(app, f)).is_err() {
        return String::new();
    }
    let buf = terminal.backend().buffer();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

use crate::app::demo::{demo_traffic, ensure_live_campaigns, play_history};
use crate::app::snapshot::Focus;
use crate::app::traffic::{apply_records, LiveTraffic};
use crate::app::Env;
use crate::domain::Micros;
use crate::jobs::JobKind;
use crate::store::Store;
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Requests from the UI to the data thread: an effect and what the console was looking at.
type Request = (Effect, Focus);

/// How long quitting waits for running jobs to stop at their next progress point.
const JOB_GRACE: Duration = Duration::from_secs(2);

/// Jobs on their own threads and connections, reporting over the console's channel.
struct ThreadJobs {
    db: PathBuf,
    out: UnboundedSender<Msg>,
    cancels: HashMap<JobKind, Arc<AtomicBool>>,
    running: Vec<std::thread::JoinHandle<()>>,
}

impl effects::JobRunner for ThreadJobs {
    fn start(
        &mut self,
        _store: &mut Store,
        env: &Env,
        kind: JobKind,
        campaign: &str,
        settings: &crate::jobs::JobSettings,
    ) -> Vec<Msg> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels.insert(kind, cancel.clone());
        let (db, env, out, campaign, settings) = (
            self.db.clone(),
            env.clone(),
            self.out.clone(),
            campaign.to_string(),
            settings.clone(),
        );
        self.running.retain(|j| !j.is_finished());
        self.running.push(std::thread::spawn(move || {
            let sink = move |u| {
                let _ = out.send(Msg::Job(u));
            };
            crate::jobs::run(&db, &env, &settings, kind, &campaign, &cancel, &sink);
        }));
        vec![]
    }

    fn cancel(&mut self, kind: JobKind) {
        if let Some(flag) = self.cancels.get(&kind) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

impl ThreadJobs {
    /// Cancels every job and gives them a moment to record themselves as cancelled, so the
    /// jobs table does not keep a "running" row for a dead process.
    fn stop_all(&mut self) {
        for flag in self.cancels.values() {
            flag.store(true, Ordering::Relaxed);
        }
        let until = Instant::now() + JOB_GRACE;
        while self.running.iter().any(|j| !j.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Owns the connections: carries out effects and pushes a snapshot whenever another
/// connection committed (data_version changed), checking every 300 ms.
fn data_thread(
    db: PathBuf,
    env: Env,
    read_only: bool,
    requests: mpsc::Receiver<Request>,
    out: UnboundedSender<Msg>,
) {
    let opened = if read_only {
        Store::open_read_only(&db)
    } else {
        Store::open_existing(&db)
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Msg::Done(Err(e.to_string())));
            return;
        }
    };
    let mut exec = effects::Executor::new(store, env, read_only);
    let mut jobs = ThreadJobs {
        db,
        out: out.clone(),
        cancels: HashMap::new(),
        running: Vec::new(),
    };
    if out.send(exec.reload(false)).is_err() {
        return;
    }
    loop {
        let msgs = match requests.recv_timeout(Duration::from_millis(300)) {
            Ok((effect, focus)) => exec.apply(effect, focus, &mut jobs),
            Err(mpsc::RecvTimeoutError::Timeout) => exec.poll().into_iter().collect(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if msgs.into_iter().any(|m| out.send(m).is_err()) {
            break;
        }
    }
    jobs.stop_all();
}

/// The live demo's feed: simulated shoppers on the wall clock, five batches a second, until
/// `until` or until the console quits.
/// How much past traffic the live demo starts with: the simulated funnel puts a purchase
/// about six minutes after the visit on average, so an empty start would show no conversion
/// for minutes. At `DEMO_HISTORY_RATE` shoppers per second (or the demo's rate if lower) it is
/// 24,000 shoppers, applied by the feed thread while the console draws its first frames.
const DEMO_HISTORY: Micros = 10 * 60 * 1_000_000;
const DEMO_HISTORY_RATE: u64 = 40;
/// The history is played in slices this long with the allocation loop between them, so the
/// demo's bandit has been learning through it (its periods are on the chart from the start).
const DEMO_HISTORY_STEP: Micros = 5 * 1_000_000;

fn demo_feed(
    mut writer: Store,
    env: Env,
    mut live: LiveTraffic,
    rate: u64,
    until: Micros,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    // The demo's bandit learns while the console runs: the allocation loop after each batch.
    let bandits = crate::app::bandit::running_bandits(&writer)?;
    loop {
        let now = env.clock.now();
        if now >= until || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let records = live.due((rate / 5).max(1) as usize, now);
        apply_records(&mut writer, "demo", &env.actor, now, records)?;
        if crate::app::bandit::update_due(&mut writer, &env, &bandits)? > 0 {
            live.reload(&writer)?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Restores the terminal however the loop ends (error, early return); `ratatui::init`
/// already chains a panic hook that does the same.
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the console on `db` until `q` or Ctrl-c. With `traffic` (seed, seconds, shoppers per
/// second), a writer thread streams simulated demo traffic on the wall clock until then, and
/// the console says when it ends.
///
/// The loop is one `select!` over SIGTERM/SIGHUP, crossterm's event stream, a one-second tick
/// and the message channel that the data thread and background jobs send on. It redraws only
/// after a message or a tick. Database work never runs here: the data thread owns the
/// connections, and jobs run on threads with their own.
pub fn run_console(
    db: &Path,
    env: &Env,
    read_only: bool,
    theme: theme::Theme,
    traffic: Option<(u64, u64, u64)>,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut demo_until = None;
    let feeder = match traffic {
        Some((seed, seconds, rate)) => {
            let mut writer = Store::open_existing(db)?;
            let start = env.clock.now();
            let history_start = start.saturating_sub(DEMO_HISTORY);
            // The campaigns start where their history does, so `days` and the chart agree.
            let then = Env {
                clock: crate::clock::Clock::virtual_at(history_start),
                actor: env.actor.clone(),
            };
            ensure_live_campaigns(&mut writer, &then, seed)?;
            let run = writer.next_run_number("demo")?;
            let until = start.saturating_add(i64::try_from(seconds)?.saturating_mul(1_000_000));
            demo_until = Some(until);
            let source = demo_traffic(&writer, seed, run)?;
            let (stop, env) = (stop.clone(), env.clone());
            Some(std::thread::spawn(move || {
                let live = play_history(
                    &mut writer,
                    &env.actor,
                    source,
                    start,
                    DEMO_HISTORY,
                    DEMO_HISTORY_RATE.min(rate),
                    DEMO_HISTORY_STEP,
                )?;
                demo_feed(writer, env, live, rate, until, stop)
            }))
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(console_loop(db, env, read_only, theme, demo_until));
    runtime.shutdown_background();
    stop.store(true, Ordering::Relaxed);
    match outcome {
        // A signal: the terminal is restored; exit now with 128 + signal number. SQLite in WAL
        // mode keeps every committed transaction and rolls back an open one on the next open.
        Ok(Some(code)) => std::process::exit(code),
        Ok(None) => {}
        Err(e) => return Err(e),
    }
    if let Some(f) = feeder {
        match f.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("traffic thread panicked"),
        }
    }
    Ok(())
}

/// The event loop; `Ok(Some(code))` when a signal ended it.
async fn console_loop(
    db: &Path,
    env: &Env,
    read_only: bool,
    theme: theme::Theme,
    demo_until: Option<Micros>,
) -> anyhow::Result<Option<i32>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (req_tx, req_rx) = mpsc::channel::<Request>();
    let (msg_tx, mut msg_rx) = unbounded_channel();
    let data = {
        let (db, env, out) = (db.to_path_buf(), env.clone(), msg_tx.clone());
        std::thread::spawn(move || data_thread(db, env, read_only, req_rx, out))
    };
    let mut app = App::new(read_only);
    app.theme = theme;
    // The same currency symbol the CLI prints (`LIFTDECK_CURRENCY`), so a figure reads alike.
    app.numbers = crate::format::NumberFormat::with_currency(
        std::env::var("LIFTDECK_CURRENCY").ok().as_deref(),
    );
    app.demo_until = demo_until;
    app.now = env.clock.now();
    let mut terminal = ratatui::init();
    let _restore = RestoreGuard;
    if let Ok(size) = terminal.size() {
        app.update(Msg::Resize(size.width, size.height));
    }
    let mut events = EventStream::new();
    // Once a second: badges and "updated N s ago" follow the clock; nothing is read.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let ended = loop {
        if dirty {
            terminal.draw(|f| render(&app, f))?;
            dirty = false;
        }
        if app.quit {
            break None;
        }
        let msg = tokio::select! {
            _ = terminate.recv() => break Some(128 + 15),
            _ = hangup.recv() => break Some(128 + 1),
            _ = tick.tick() => Msg::Tick(env.clock.now()),
            event = events.next() => match event {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                // The terminal went away without a signal: nothing more can arrive.
                None => break Some(128 + 1),
            },
            Some(msg) = msg_rx.recv() => msg,
        };
        dirty = true;
        for effect in app.update(msg) {
            if req_tx.send((effect, app.focus())).is_err() {
                anyhow::bail!("the data thread stopped");
            }
        }
    };
    // The data thread cancels running jobs and waits briefly for them to record the end;
    // the terminal is restored first so the operator never looks at a frozen screen.
    drop(req_tx);
    ratatui::restore();
    if ended.is_none() {
        let _ = data.join();
    }
    Ok(ended)
}
