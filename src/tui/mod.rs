//! The console. For now the live demo table: one block per campaign with its arms' rollups,
//! refreshed when `PRAGMA data_version` says another connection committed. State, view and the
//! event loop are kept apart so the view renders headlessly in tests (ratatui `TestBackend`).

use crate::app::demo::{demo_traffic, ensure_campaigns, DEMO_KEYS};
use crate::app::traffic::apply_records;
use crate::app::Env;
use crate::domain::{Campaign, Status};
use crate::store::{ArmSummary, Store};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the live table shows.
#[derive(Debug, Default, Clone)]
pub struct LiveState {
    pub campaigns: Vec<(Campaign, Vec<ArmSummary>)>,
    pub events_applied: u64,
    pub streaming: bool,
    pub error: Option<String>,
}

impl LiveState {
    /// Re-reads the rollups of the given campaigns: O(arms).
    pub fn reload(&mut self, store: &Store, keys: &[&str]) {
        let mut out = Vec::new();
        for key in keys {
            match (store.campaign(key), store.arm_summaries(key)) {
                (Ok((c, _)), Ok(arms)) => out.push((c, arms)),
                (Err(e), _) | (_, Err(e)) => {
                    self.error = Some(e.to_string());
                }
            }
        }
        self.campaigns = out;
    }
}

/// Draws the live table. Pure: reads only the state.
pub fn render(state: &LiveState, frame: &mut Frame) {
    let area = frame.area();
    let n = state.campaigns.len().max(1) as u32;
    let mut constraints: Vec<Constraint> = vec![Constraint::Length(1)];
    constraints.extend((0..n).map(|_| Constraint::Ratio(1, n)));
    constraints.push(Constraint::Length(1));
    let rows = Layout::vertical(constraints).split(area);
    let title = format!(
        " liftdeck demo — {} records applied — {}",
        state.events_applied,
        if state.streaming {
            "traffic streaming"
        } else {
            "traffic finished"
        }
    );
    frame.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::BOLD)),
        rows[0],
    );
    let wide = area.width >= 90;
    for (i, (campaign, arms)) in state.campaigns.iter().enumerate() {
        let header = if wide {
            vec![
                "arm", "units", "expos.", "clicks", "conv.", "CVR", "revenue", "cost", "rev/unit",
            ]
        } else {
            vec!["arm", "units", "conv.", "CVR", "revenue", "rev/unit"]
        };
        let body: Vec<Row> = arms
            .iter()
            .map(|a| {
                let r = &a.rollup;
                let units = r.units.max(1) as f64;
                let cvr = format!("{:.2}%", 100.0 * r.conversions as f64 / units);
                let rpu = format!("{:.3}", r.revenue_sum / units);
                let cells: Vec<String> = if wide {
                    vec![
                        a.key.clone(),
                        r.units.to_string(),
                        r.exposures.to_string(),
                        r.clicks.to_string(),
                        r.conversions.to_string(),
                        cvr,
                        format!("{:.2}", r.revenue_sum),
                        format!("{:.2}", r.cost_sum),
                        rpu,
                    ]
                } else {
                    vec![
                        a.key.clone(),
                        r.units.to_string(),
                        r.conversions.to_string(),
                        cvr,
                        format!("{:.0}", r.revenue_sum),
                        rpu,
                    ]
                };
                Row::new(cells.into_iter().map(Cell::from))
            })
            .collect();
        let widths: Vec<Constraint> = header
            .iter()
            .enumerate()
            .map(|(j, _)| {
                if j == 0 {
                    Constraint::Length(10)
                } else {
                    Constraint::Min(6)
                }
            })
            .collect();
        let status = match campaign.status {
            Status::Running => "RUNNING",
            Status::Paused => "PAUSED",
            Status::Stopped => "STOPPED",
            Status::Draft => "DRAFT",
        };
        let table = Table::new(body, widths)
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(Block::default().borders(Borders::ALL).title(format!(
                " {} [{}] {} — {} ",
                campaign.spec.key,
                campaign.spec.kind.as_str(),
                status,
                campaign.spec.name
            )));
        frame.render_widget(table, rows[i + 1]);
    }
    let footer = match &state.error {
        Some(e) => Line::from(format!(" error: {e}")),
        None => Line::from(" q quit · the full console arrives with step 3"),
    };
    frame.render_widget(Paragraph::new(footer), rows[rows.len() - 1]);
}

/// Opens the live demo console: traffic streams in real time on a writer thread with its own
/// connection; the UI thread polls `data_version` and redraws only when something changed.
pub fn run_demo_console(
    db: &Path,
    env: &Env,
    seed: u64,
    seconds: u64,
    rate: u64,
) -> anyhow::Result<()> {
    let mut writer = Store::open(db)?;
    ensure_campaigns(&mut writer, env, seed)?;
    let run = writer.next_run_number("demo")?;
    let mut traffic = demo_traffic(&writer, seed, run)?;
    let stop = Arc::new(AtomicBool::new(false));
    let applied = Arc::new(AtomicU64::new(0));
    let (stop_w, applied_w, env_w) = (stop.clone(), applied.clone(), env.clone());
    let feeder = std::thread::spawn(move || -> anyhow::Result<()> {
        let tick = Duration::from_millis(200);
        let end = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < end && !stop_w.load(Ordering::Relaxed) {
            let now = env_w.clock.now();
            let records = traffic.generate((rate / 5).max(1) as usize, now, 200_000);
            let outcome = apply_records(&mut writer, "demo", &env_w.actor, now, records)?;
            applied_w.fetch_add(outcome.accepted, Ordering::Relaxed);
            std::thread::sleep(tick);
        }
        Ok(())
    });
    let reader = Store::open(db)?;
    let mut state = LiveState {
        streaming: true,
        ..LiveState::default()
    };
    state.reload(&reader, &DEMO_KEYS);
    let mut terminal = ratatui::init();
    let mut last_version = -1;
    let result = (|| -> anyhow::Result<()> {
        loop {
            let version = reader.data_version()?;
            state.streaming = !feeder.is_finished();
            state.events_applied = applied.load(Ordering::Relaxed);
            if version != last_version {
                state.reload(&reader, &DEMO_KEYS);
                last_version = version;
            }
            terminal.draw(|f| render(&state, f))?;
            if event::poll(Duration::from_millis(300))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind == KeyEventKind::Press
                        && matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                    {
                        return Ok(());
                    }
                }
            }
        }
    })();
    ratatui::restore();
    stop.store(true, Ordering::Relaxed);
    match feeder.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("traffic thread panicked"),
    }
    result
}
