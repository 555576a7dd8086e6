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
use crate::stats::ab::Metric;
use crate::store::Store;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests from the UI to the data thread.
enum Request {
    Reload { selected: usize, metric: Metric },
    SetStatus { campaign: String, to: Status },
    Create(Box<crate::domain::CampaignSpec>),
}

/// Stale-data threshold for health badges in the console.
const STALE_AFTER: i64 = 15 * 60 * 1_000_000;

/// Owns the connections: answers requests and pushes a snapshot whenever another connection
/// committed (data_version changed), checking every 300 ms.
fn data_thread(
    db: PathBuf,
    env: Env,
    read_only: bool,
    requests: mpsc::Receiver<Request>,
    out: mpsc::Sender<Msg>,
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

/// On SIGTERM or SIGHUP (a dropped SSH connection) restores the terminal and exits with
/// 128 + the signal number. Panics are covered by the hook `ratatui::init` installs.
fn watch_hangup(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            let code = tokio::select! {
                _ = term.recv() => 128 + 15,
                _ = hup.recv() => 128 + 1,
            };
            flag.store(true, Ordering::SeqCst);
            // Exit from here rather than waiting for the event loop: after a hangup the tty
            // reads EOF forever and crossterm's read can spin without returning, which would
            // leave a process burning a core. Restoring first leaves a live terminal usable;
            // on a dead one it fails harmlessly. SQLite in WAL mode keeps every committed
            // transaction and rolls back an open one on the next open.
            ratatui::restore();
            std::process::exit(code);
        });
    });
}

/// Runs the console on `db` until `q`. With `traffic`, a writer thread streams simulated demo
/// traffic for that many seconds at that many shoppers per second.
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
    let (req_tx, req_rx) = mpsc::channel();
    let (msg_tx, msg_rx) = mpsc::channel();
    let data = {
        let (db, env) = (db.to_path_buf(), env.clone());
        std::thread::spawn(move || data_thread(db, env, read_only, req_rx, msg_tx))
    };
    let mut app = App::new(read_only);
    app.theme = theme;
    let hangup = Arc::new(AtomicBool::new(false));
    watch_hangup(hangup.clone());
    let mut terminal = ratatui::init();
    let result = (|| -> anyhow::Result<()> {
        loop {
            while let Ok(msg) = msg_rx.try_recv() {
                app.update(msg);
            }
            terminal.draw(|f| render(&app, f))?;
            if app.quit || hangup.load(Ordering::SeqCst) {
                return Ok(());
            }
            if !event::poll(Duration::from_millis(100))? {
                continue;
            }
            let msg = match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Event::Resize(..) => Msg::Resize,
                _ => continue,
            };
            for effect in app.update(msg) {
                let request = match effect {
                    Effect::Reload => Request::Reload {
                        selected: app.selected,
                        metric: app.metric,
                    },
                    Effect::SetStatus { campaign, to } => Request::SetStatus { campaign, to },
                    Effect::Create(spec) => Request::Create(spec),
                };
                if req_tx.send(request).is_err() {
                    anyhow::bail!("the data thread stopped");
                }
            }
        }
    })();
    ratatui::restore();
    stop.store(true, Ordering::Relaxed);
    drop(req_tx);
    let _ = data.join();
    if let Some(f) = feeder {
        match f.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("traffic thread panicked"),
        }
    }
    result
}
