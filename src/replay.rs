//! Scripted fixture replays: one operation per JSON line, run against a fresh database, a
//! virtual clock and a headless terminal. Data operations go through the same use cases as
//! the CLI; keys go through the console's `update`; expectations check the screen or a metric.
//! Same file, same screens.
//!
//! Operations (`op`): `create` (campaign spec fields + `arms` as "a:50,b:50"), `start`,
//! `pause`, `stop` (`campaign`), `sim` (`seed`, `shoppers`, `seconds`), `advance` (`seconds`:
//! the clock moves and the console ticks, nothing is re-read),
//! `key` (`keys`: characters, or names in angle brackets: <Enter> <Esc> <Tab> <BackTab> <Up>
//! <Down> <Backspace> <PgUp> <PgDn> <C-c> <lt>), `resize` (`size` "80x24"), `expect_screen` (`contains` / `not_contains`),
//! `expect_metric` (`campaign`, `arm`, `metric` = a rollup field or a report metric, `value`,
//! `tolerance`), `expect_health` (`exit`), `assign_many` (`campaign`, `arm`, `units`,
//! `prefix`), `read_only` (the console refuses mutations from then on), `snapshot` (`name`),
//! `traffic` (`campaigns` "a,b", `seconds`, `rate` shoppers per second, `step` seconds, `seed`:
//! the simulated shop on the named campaigns, played in slices with the allocation loop
//! between them, so a bandit learns), `expect_weight` (`campaign`, `arm`, `at_least` and/or
//! `at_most`: the arm's weight in the period in force). A line without `op` but with `type`
//! is an ingest line (assignment, event or campaign).

use crate::app::demo::{demo_traffic, ensure_campaigns};
use crate::app::health;
use crate::app::traffic::{apply_records, LiveTraffic, TrafficSource};
use crate::app::{self, Env};
use crate::clock::Clock;
use crate::domain::{CampaignKind, CampaignSpec, Status};
use crate::lines::Format;
use crate::store::Store;
use crate::tui::effects::{Executor, InlineJobs, STALE_AFTER};
use crate::tui::{screen_text, App, Msg};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

/// Where replays start their virtual clock: 2026-11-01T12:00:00Z.
pub const REPLAY_EPOCH: i64 = 1_793_534_400_000_000;

/// The outcome of one expectation.
#[derive(Debug, Clone)]
pub struct Check {
    pub line: usize,
    pub passed: bool,
    pub message: String,
}

/// A replay in progress.
pub struct Replay {
    /// The console's own effect executor, on an in-memory store and the virtual clock.
    exec: Executor,
    app: App,
    size: (u16, u16),
    pub checks: Vec<Check>,
    screens: Vec<(usize, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReplayError {
    pub line: usize,
    pub message: String,
}

impl Replay {
    pub fn new(size: (u16, u16), read_only: bool) -> Result<Replay, ReplayError> {
        let err = |e: &dyn std::fmt::Display| ReplayError {
            line: 0,
            message: e.to_string(),
        };
        let env = Env {
            clock: Clock::virtual_at(REPLAY_EPOCH),
            actor: "replay".into(),
        };
        let store = Store::open_in_memory().map_err(|e| err(&e))?;
        let mut app = App::new(read_only);
        app.update(Msg::Resize(size.0, size.1));
        let mut replay = Replay {
            exec: Executor::new(store, env, read_only),
            app,
            size,
            checks: Vec::new(),
            screens: Vec::new(),
        };
        replay.reload();
        Ok(replay)
    }

    /// The current screen as text, one line per row.
    pub fn screen(&self) -> String {
        screen_text(&self.app, self.size.0, self.size.1)
    }

    /// The console's state, for tests that look past the screen.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The replay's database, for tests that compare the screen with the use cases' numbers.
    pub fn store(&self) -> &Store {
        &self.exec.store
    }

    /// Screens captured by `snapshot` operations: (line, text).
    pub fn snapshots(&self) -> &[(usize, String)] {
        &self.screens
    }

    /// Data changed under the console (a data operation): it reads a fresh snapshot, as the
    /// console's data thread does when `data_version` moves.
    fn reload(&mut self) {
        let msg = self.exec.reload(true);
        self.deliver(msg);
    }

    /// Hands a message to the console and carries out every effect it leads to, through the
    /// same executor the console uses, until nothing is left to do.
    fn deliver(&mut self, msg: Msg) {
        let mut queue = std::collections::VecDeque::from([msg]);
        while let Some(msg) = queue.pop_front() {
            for effect in self.app.update(msg) {
                let focus = self.app.focus();
                queue.extend(self.exec.apply(effect, focus, &mut InlineJobs));
            }
        }
    }

    /// Runs every line of a fixture; stops at the first malformed operation.
    pub fn run(&mut self, text: &str) -> Result<(), ReplayError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() || raw.trim_start().starts_with("//") {
                continue;
            }
            self.step(line, raw)
                .map_err(|message| ReplayError { line, message })?;
        }
        Ok(())
    }

    fn step(&mut self, line: usize, raw: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let Some(op) = s("op") else {
            return self.data_line(line, raw, s("expect_reject"));
        };
        let campaign = || s("campaign").ok_or("needs `campaign`".to_string());
        match op.as_str() {
            "create" => {
                let key = s("key").ok_or("create needs `key`")?;
                let arms = CampaignSpec::parse_arms(&s("arms").ok_or("create needs `arms`")?)?;
                let spec = CampaignSpec {
                    name: s("name").unwrap_or_else(|| key.clone()),
                    kind: s("kind")
                        .unwrap_or_else(|| "ab".into())
                        .parse::<CampaignKind>()?,
                    control: s("control").or_else(|| arms.first().map(|a| a.key.clone())),
                    arms,
                    traffic: f("traffic").unwrap_or(1.0),
                    metric: s("metric").unwrap_or_else(|| "purchase".into()),
                    guardrails: vec![],
                    custom_kinds: vec![],
                    seed: f("seed").unwrap_or(1.0) as u64,
                    settings: Default::default(),
                    bandit: None,
                    key,
                };
                app::create_campaign(&mut self.exec.store, &self.exec.env, &spec)
                    .map_err(|e| e.to_string())?;
                self.reload();
                Ok(())
            }
            "start" | "pause" | "stop" => {
                let to = match op.as_str() {
                    "start" => Status::Running,
                    "pause" => Status::Paused,
                    _ => Status::Stopped,
                };
                app::set_status(&mut self.exec.store, &self.exec.env, &campaign()?, to)
                    .map_err(|e| e.to_string())?;
                self.reload();
                Ok(())
            }
            "sim" => {
                let seed = f("seed").unwrap_or(7.0) as u64;
                ensure_campaigns(&mut self.exec.store, &self.exec.env, seed)
                    .map_err(|e| e.to_string())?;
                let mut traffic =
                    demo_traffic(&self.exec.store, seed, 1).map_err(|e| e.to_string())?;
                let shoppers = f("shoppers").unwrap_or(1000.0) as usize;
                let span = (f("seconds").unwrap_or(60.0) * 1e6) as i64;
                let now = self.exec.env.clock.now();
                let records = traffic.generate(shoppers, now, span);
                apply_records(
                    &mut self.exec.store,
                    "replay",
                    &self.exec.env.actor,
                    now,
                    records,
                )
                .map_err(|e| e.to_string())?;
                self.exec.env.clock.advance(span);
                self.reload();
                Ok(())
            }
            "assign_many" => {
                // `units` assignments of `campaign` to `arm`, unit ids `<prefix><n>`.
                let (c, arm) = (campaign()?, s("arm").ok_or("assign_many needs `arm`")?);
                let prefix = s("prefix").unwrap_or_else(|| format!("{arm}-"));
                let n = f("units").ok_or("assign_many needs `units`")? as usize;
                let ts = crate::clock::format_rfc3339(self.exec.env.clock.now());
                let text: String = (0..n)
                    .map(|i| {
                        format!(
                            "{{\"type\":\"assignment\",\"campaign\":\"{c}\",\"unit\":\"{prefix}{i}\",\"arm\":\"{arm}\",\"propensity\":0.5,\"ts\":\"{ts}\"}}\n"
                        )
                    })
                    .collect();
                self.data_line(line, &text, None)
            }
            "traffic" => self.traffic(line, &v),
            "expect_weight" => {
                let c = campaign()?;
                let arm = s("arm").ok_or("expect_weight needs `arm`")?;
                let w = app::bandit::current_weights(&self.exec.store, &c)
                    .map_err(|e| e.to_string())?;
                let got = w
                    .arms
                    .iter()
                    .position(|a| *a == arm)
                    .and_then(|i| w.weights.get(i).copied())
                    .ok_or(format!("no arm `{arm}` in `{c}`"))?;
                let (low, high) = (f("at_least"), f("at_most"));
                if low.is_none() && high.is_none() {
                    return Err("expect_weight needs `at_least` or `at_most`".into());
                }
                let ok = low.is_none_or(|l| got >= l) && high.is_none_or(|h| got <= h);
                self.check(
                    line,
                    ok,
                    format!(
                        "{c}/{arm} weight in [{}, {}] (got {got} in period {})",
                        low.unwrap_or(0.0),
                        high.unwrap_or(1.0),
                        w.period
                    ),
                    "",
                );
                Ok(())
            }
            "report_causal" => {
                // What an analyst runs from the shell beside the console: `report causal KEY
                // --covariates a,b` (saved, so the console's `c` can rerun it).
                let covariates: Vec<String> = s("covariates")
                    .ok_or("report_causal needs `covariates`")?
                    .split(',')
                    .map(str::to_string)
                    .collect();
                let settings = crate::jobs::JobSettings {
                    read_only: self.exec.read_only,
                    observational: Some(crate::app::causal_observational::ObservationalRequest {
                        covariates,
                        seed: 1,
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let never = std::sync::atomic::AtomicBool::new(false);
                crate::jobs::run_on(
                    &mut self.exec.store,
                    &self.exec.env,
                    &settings,
                    crate::jobs::JobKind::Causal,
                    &campaign()?,
                    &never,
                    &|_| {},
                )
                .map_err(|e| e.to_string())?;
                self.reload();
                Ok(())
            }
            "restart" => {
                // The console quits and starts again on the same database: nothing of this
                // session's state survives, only what the store kept.
                let mut app = App::new(self.exec.read_only);
                app.update(Msg::Resize(self.size.0, self.size.1));
                self.app = app;
                self.reload();
                Ok(())
            }
            "read_only" => {
                // From here on the console behaves as a `--read-only` session.
                self.app.read_only = true;
                self.exec.read_only = true;
                Ok(())
            }
            "advance" => {
                // Time passes with no new data: the console only ticks (its data thread sees
                // no data_version change, so nothing is re-read).
                self.exec
                    .env
                    .clock
                    .advance((f("seconds").ok_or("advance needs `seconds`")? * 1e6) as i64);
                let now = self.exec.env.clock.now();
                self.deliver(Msg::Tick(now));
                Ok(())
            }
            "key" => {
                for key in parse_keys(&s("keys").ok_or("key needs `keys`")?)? {
                    self.deliver(Msg::Key(key));
                }
                Ok(())
            }
            "resize" => {
                let size = s("size").ok_or("resize needs `size`")?;
                let (w, h) = size.split_once('x').ok_or("size looks like 80x24")?;
                self.size = (
                    w.parse().map_err(|_| "bad width")?,
                    h.parse().map_err(|_| "bad height")?,
                );
                self.deliver(Msg::Resize(self.size.0, self.size.1));
                Ok(())
            }
            "expect_screen" => {
                let screen = self.screen();
                if let Some(want) = s("contains") {
                    self.check(
                        line,
                        screen.contains(&want),
                        format!("screen contains `{want}`"),
                        &screen,
                    );
                }
                if let Some(not) = s("not_contains") {
                    self.check(
                        line,
                        !screen.contains(&not),
                        format!("screen lacks `{not}`"),
                        &screen,
                    );
                }
                Ok(())
            }
            "expect_metric" => self.expect_metric(line, &v),
            "expect_health" => {
                let want = f("exit").ok_or("expect_health needs `exit`")? as u8;
                let h = health::check(&self.exec.store, self.exec.env.clock.now(), STALE_AFTER)
                    .map_err(|e| e.to_string())?;
                let got = health::overall(&h).exit_code();
                let text = health::format_lines(&h);
                self.check(
                    line,
                    got == want,
                    format!("health exits {want} (got {got})"),
                    &text,
                );
                Ok(())
            }
            "snapshot" => {
                let screen = self.screen();
                self.screens.push((line, screen));
                Ok(())
            }
            other => Err(format!("unknown op `{other}`")),
        }
    }

    /// `traffic`: the simulated shop's shoppers on the named campaigns, `rate` a second for
    /// `seconds`, played in `step`-second slices on the virtual clock with the allocation loop
    /// after each (a bandit's new weights draw the next slice's shoppers), as the live demo's
    /// history is played. Events arrive when due (a purchase minutes after its visit); those
    /// still due after the last slice are dropped with the feed.
    fn traffic(&mut self, line: usize, v: &Value) -> Result<(), String> {
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let keys: Vec<String> = v
            .get("campaigns")
            .and_then(Value::as_str)
            .ok_or("traffic needs `campaigns`")?
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        let campaigns = keys
            .iter()
            .map(|k| self.exec.store.campaign(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let seconds = f("seconds").ok_or("traffic needs `seconds`")?;
        let rate = f("rate").unwrap_or(10.0);
        let step = ((f("step").unwrap_or(5.0) * 1e6) as i64).max(1);
        let source = TrafficSource::new(
            f("seed").unwrap_or(7.0) as u64,
            campaigns,
            &format!("t{line}-"),
        );
        let mut t = self.exec.env.clock.now();
        let end = t + (seconds * 1e6) as i64;
        let mut live = LiveTraffic::new(source, t);
        let err = |e: app::AppError| e.to_string();
        while t < end {
            let next = (t + step).min(end);
            let shoppers = (rate * (next - t) as f64 / 1e6).round() as usize;
            self.exec.env.clock.advance(next - t);
            let records = live.due(shoppers, next);
            apply_records(&mut self.exec.store, "replay", "replay", next, records).map_err(err)?;
            if app::bandit::update_due(&mut self.exec.store, &self.exec.env, &keys).map_err(err)?
                > 0
            {
                live.reload(&self.exec.store).map_err(err)?;
            }
            t = next;
        }
        self.reload();
        Ok(())
    }

    fn check(&mut self, line: usize, passed: bool, what: String, context: &str) {
        let message = if passed {
            what
        } else {
            format!("FAILED {what}\n{context}")
        };
        self.checks.push(Check {
            line,
            passed,
            message,
        });
    }

    /// Ingests data lines. A line carrying `"expect_reject":"<reason>"` must be rejected with
    /// that reason; any other rejected line is a failed check (reported, not hidden).
    fn data_line(&mut self, line: usize, raw: &str, expect: Option<String>) -> Result<(), String> {
        let summary = app::ingest_reader(
            &mut self.exec.store,
            &self.exec.env,
            raw.as_bytes(),
            "replay",
            Format::Jsonl,
            10_000,
            |_| {},
        )
        .map_err(|e| e.to_string())?;
        let got = summary.samples.first().map(|(_, e)| e.reason.code());
        match (&expect, got) {
            (None, None) => {}
            (Some(want), got) => self.check(
                line,
                got == Some(want.as_str()),
                format!("line rejected as {want} (got {got:?})"),
                "",
            ),
            (None, Some(_)) => {
                let detail = summary.samples[0].1.to_string();
                self.check(line, false, format!("data line accepted ({detail})"), "");
            }
        }
        self.reload();
        Ok(())
    }

    fn expect_metric(&mut self, line: usize, v: &Value) -> Result<(), String> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (campaign, arm, metric) = (s("campaign"), s("arm"), s("metric"));
        let want = v
            .get("value")
            .and_then(Value::as_f64)
            .ok_or("needs `value`")?;
        let tol = v.get("tolerance").and_then(Value::as_f64).unwrap_or(1e-9);
        let arms = self
            .exec
            .store
            .arm_summaries(&campaign)
            .map_err(|e| e.to_string())?;
        let a = arms
            .iter()
            .find(|a| a.key == arm)
            .ok_or(format!("no arm `{arm}` in `{campaign}`"))?;
        let rollup = serde_json::to_value(&a.rollup).map_err(|e| e.to_string())?;
        let got = match rollup.get(&metric).and_then(Value::as_f64) {
            Some(x) => x,
            None => {
                // A report metric: the arm's rate or mean.
                let m = crate::stats::ab::Metric::parse(&metric)
                    .ok_or(format!("unknown metric `{metric}`"))?;
                let reports = app::report::report_ab(
                    &self.exec.store,
                    &campaign,
                    m,
                    &Default::default(),
                    app::report::Capping::None,
                    None,
                )
                .map_err(|e| e.to_string())?;
                let row = reports
                    .first()
                    .and_then(|r| r.report.arms.iter().find(|x| x.key == arm))
                    .ok_or("arm missing from report")?;
                row.rate.or(row.mean).ok_or("metric undefined")?
            }
        };
        self.check(
            line,
            (got - want).abs() <= tol,
            format!("{campaign}/{arm} {metric} = {want} ± {tol} (got {got})"),
            "",
        );
        Ok(())
    }
}

/// `"jj<Enter>y"` -> key events.
fn parse_keys(spec: &str) -> Result<Vec<KeyEvent>, String> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest
                .find('>')
                .ok_or(format!("unclosed key name in `{spec}`"))?;
            let code = match &rest[1..end] {
                "Enter" => KeyCode::Enter,
                "Esc" => KeyCode::Esc,
                "Tab" => KeyCode::Tab,
                "BackTab" => KeyCode::BackTab,
                "Up" => KeyCode::Up,
                "Down" => KeyCode::Down,
                "Backspace" => KeyCode::Backspace,
                "PgUp" => KeyCode::PageUp,
                "PgDn" => KeyCode::PageDown,
                "C-c" => {
                    out.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
                    rest = &rest[end + 1..];
                    continue;
                }
                "lt" => KeyCode::Char('<'),
                other => return Err(format!("unknown key <{other}>")),
            };
            out.push(KeyEvent::new(code, KeyModifiers::NONE));
            rest = &rest[end + 1..];
        } else {
            out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}
