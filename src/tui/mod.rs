//! The operator console: `state` (App, update(msg) -> effects), `view` (pure render),
//! `keys` (the binding table), `data` (snapshots read from the store). The event loop below
//! keeps the render thread free: a data thread owns the database connections, polls
//! `PRAGMA data_version` and sends snapshots back over a channel.

pub mod data;
pub mod form;
pub mod keys;
pub mod state;
pub mod theme;
pub mod view;
mod view_jobs;

pub use state::{App, Effect, Msg, Panel, Snapshot};
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

use crate::app::demo::{demo_traffic, ensure_campaigns};
use crate::app::traffic::apply_records;
use crate::app::{set_status, Env};
use crate::domain::Status;
use crate::jobs::JobKind;
use crate::stats::ab::Metric;
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

/// Requests from the UI to the data thread.
enum Request {
    Reload { selected: usize, metric: Metric },
    SetStatus { campaign: String, to: Status },
    Create(Box<crate::domain::CampaignSpec>),
}

/// How long quitting waits for running jobs to stop at their next progress point.
const JOB_GRACE: Duration = Duration::from_secs(2);

/// Stale-data threshold for health badges in the console.
const STALE_AFTER: i64 = 15 * 60 * 1_000_000;

/// Owns the connections: answers requests and pushes a snapshot whenever another connection
/// committed (data_version changed), checking every 300 ms.
fn data_thread(
    db: PathBuf,
    env: Env,
    read_only: bool,
    requests: mpsc::Receiver<Request>,
    out: UnboundedSender<Msg>,
) {
    let open = || {
        if read_only {
            Store::open_read_only(&db)
        } else {
            Store::open(&db)
        }
    };
    let mut store = match open() {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Msg::Done(Err(e.to_string())));
            return;
        }
    };
    let (mut selected, mut metric) = (0, Metric::Conversion);
    let mut last_version = -1;
    loop {
        let mut force = false;
        match requests.recv_timeout(Duration::from_millis(300)) {
            Ok(Request::Reload {
                selected: s,
                metric: m,
            }) => {
                selected = s;
                metric = m;
                force = true;
            }
            Ok(Request::Create(spec)) => {
                let result = crate::app::create_campaign(&mut store, &env, &spec)
                    .map(|_| format!("created {} (draft): press s to start it", spec.key))
                    .map_err(|e| e.to_string());
                if out.send(Msg::Done(result)).is_err() {
                    return;
                }
                force = true;
            }
            Ok(Request::SetStatus { campaign, to }) => {
                let result = set_status(&mut store, &env, &campaign, to)
                    .map(|from| format!("{campaign}: {from} -> {to}"))
                    .map_err(|e| e.to_string());
                if out.send(Msg::Done(result)).is_err() {
                    return;
                }
                force = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let version = store.data_version().unwrap_or(-2);
        if force || version != last_version {
            last_version = version;
            let msg =
                match data::load_snapshot(&store, selected, metric, env.clock.now(), STALE_AFTER) {
                    Ok(s) => Msg::Loaded(Box::new(s)),
                    Err(e) => Msg::Done(Err(e)),
                };
            if out.send(msg).is_err() {
                return;
            }
        }
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

/// Runs the console on `db` until `q`. With `traffic`, a writer thread streams simulated demo
/// traffic for that many seconds at that many shoppers per second.
///
/// The loop is one `select!` over SIGTERM/SIGHUP, crossterm's event stream and the message
/// channel that the data thread and background jobs send on. It redraws only after a message,
/// so an idle console costs nothing. Database work never runs here: the data thread owns the
/// connections, and jobs run on tokio's blocking pool with their own.
pub fn run_console(
    db: &Path,
    env: &Env,
    read_only: bool,
    theme: theme::Theme,
    traffic: Option<(u64, u64, u64)>,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = match traffic {
        Some((seed, seconds, rate)) => {
            let mut writer = Store::open(db)?;
            ensure_campaigns(&mut writer, env, seed)?;
            let run = writer.next_run_number("demo")?;
            let mut source = demo_traffic(&writer, seed, run)?;
            let (stop_w, env_w) = (stop.clone(), env.clone());
            Some(std::thread::spawn(move || -> anyhow::Result<()> {
                let end = Instant::now() + Duration::from_secs(seconds);
                while Instant::now() < end && !stop_w.load(Ordering::Relaxed) {
                    let now = env_w.clock.now();
                    let records = source.generate((rate / 5).max(1) as usize, now, 200_000);
                    apply_records(&mut writer, "demo", &env_w.actor, now, records)?;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Ok(())
            }))
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(console_loop(db, env, read_only, theme));
    // Running jobs stop at their next progress point; nobody waits for them.
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
) -> anyhow::Result<Option<i32>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (req_tx, req_rx) = mpsc::channel();
    let (msg_tx, mut msg_rx) = unbounded_channel();
    let data = {
        let (db, env, out) = (db.to_path_buf(), env.clone(), msg_tx.clone());
        std::thread::spawn(move || data_thread(db, env, read_only, req_rx, out))
    };
    let mut app = App::new(read_only);
    app.theme = theme;
    let mut cancels: HashMap<JobKind, Arc<AtomicBool>> = HashMap::new();
    let mut running = Vec::new();
    let mut terminal = ratatui::init();
    let _restore = RestoreGuard;
    let mut events = EventStream::new();
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
            event = events.next() => match event {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                // The terminal went away without a signal: nothing more can arrive.
                None => break Some(128 + 1),
            },
            Some(msg) = msg_rx.recv() => msg,
        };
        dirty = true;
        for effect in app.update(msg) {
            let request = match effect {
                Effect::Reload => Request::Reload {
                    selected: app.selected,
                    metric: app.metric,
                },
                Effect::SetStatus { campaign, to } => Request::SetStatus { campaign, to },
                Effect::Create(spec) => Request::Create(spec),
                Effect::StartJob { kind, campaign } => {
                    let cancel = Arc::new(AtomicBool::new(false));
                    cancels.insert(kind, cancel.clone());
                    let (db, env, out) = (db.to_path_buf(), env.clone(), msg_tx.clone());
                    running.retain(|j: &tokio::task::JoinHandle<()>| !j.is_finished());
                    running.push(tokio::task::spawn_blocking(move || {
                        let sink = move |u| {
                            let _ = out.send(Msg::Job(u));
                        };
                        crate::jobs::run(
                            &db,
                            &env,
                            &crate::jobs::JobSettings {
                                read_only,
                                ..Default::default()
                            },
                            kind,
                            &campaign,
                            &cancel,
                            &sink,
                        );
                    }));
                    continue;
                }
                Effect::CancelJob(kind) => {
                    if let Some(flag) = cancels.get(&kind) {
                        flag.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            if req_tx.send(request).is_err() {
                anyhow::bail!("the data thread stopped");
            }
        }
    };
    // Give running jobs a moment to notice the cancel flag and record themselves as
    // cancelled, so the jobs table does not keep a "running" row for a dead process. The
    // terminal is restored first: the operator never looks at a frozen screen.
    for flag in cancels.values() {
        flag.store(true, Ordering::Relaxed);
    }
    running.retain(|j| !j.is_finished());
    if !running.is_empty() {
        ratatui::restore();
        let all = futures_util::future::join_all(running);
        let _ = tokio::time::timeout(JOB_GRACE, all).await;
    }
    drop(req_tx);
    if ended.is_none() {
        let _ = data.join();
    }
    Ok(ended)
}
