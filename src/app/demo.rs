//! The demo: three campaigns on a simulated shop, traffic streamed through the ingest path.

use super::traffic::{apply_records, TrafficSource};
use super::{create_campaign, set_status, Env, Result};
use crate::domain::{
    ArmSpec, BanditConfig, CampaignKind, CampaignSpec, Micros, Offer, PolicyKind, RewardKind,
    Status,
};
use crate::sim::arm_truth;
use crate::store::{ArmSummary, Store, StoreError};
use std::path::Path;

pub const DEMO_KEYS: [&str; 3] = ["coupon-10", "discount-depth", "recs-home"];

fn arm(key: &str, weight: f64, offer: Offer) -> ArmSpec {
    ArmSpec {
        key: key.into(),
        weight,
        offer,
    }
}

/// The three demo campaigns: a coupon A/B test, a four-arm discount-depth bandit, and a
/// recommended-items test.
pub fn demo_specs(seed: u64) -> Vec<CampaignSpec> {
    let base = |key: &str, name: &str, kind, arms, n: u64| CampaignSpec {
        key: key.into(),
        name: name.into(),
        kind,
        arms,
        control: Some("control".into()),
        traffic: 1.0,
        metric: "purchase".into(),
        guardrails: vec!["profit".into()],
        custom_kinds: vec![],
        settings: Default::default(),
        bandit: None,
        seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(n),
    };
    vec![
        base(
            DEMO_KEYS[0],
            "10% coupon for all shoppers",
            CampaignKind::Ab,
            vec![
                arm("control", 50.0, Offer::None),
                arm("coupon", 50.0, Offer::Coupon { pct: 10.0 }),
            ],
            1,
        ),
        CampaignSpec {
            bandit: Some(demo_bandit()),
            ..base(
                DEMO_KEYS[1],
                "How deep a discount pays",
                CampaignKind::Bandit,
                vec![
                    arm("control", 25.0, Offer::None),
                    arm("d5", 25.0, Offer::Discount { pct: 5.0 }),
                    arm("d10", 25.0, Offer::Discount { pct: 10.0 }),
                    arm("d20", 25.0, Offer::Discount { pct: 20.0 }),
                ],
                2,
            )
        },
        base(
            DEMO_KEYS[2],
            "Recommended items on the home page",
            CampaignKind::Ab,
            vec![
                arm("control", 50.0, Offer::None),
                arm("recs", 50.0, Offer::Recommend { items: 6 }),
            ],
            3,
        ),
    ]
}

/// How the demo's discount-depth bandit learns: Thompson sampling on profit (revenue minus the
/// discount), so the deep discount that converts most but earns least loses its traffic, on a
/// schedule short enough to watch: uniform for 100 units per arm and 30 s, then an update every
/// 15 s (or 2,000 units).
pub fn demo_bandit() -> BanditConfig {
    BanditConfig {
        policy: PolicyKind::Thompson,
        reward: Some(RewardKind::Profit),
        update_every_units: Some(2_000),
        update_every_secs: Some(15),
        explore_min_units: Some(100),
        explore_min_secs: Some(30),
        ..BanditConfig::default()
    }
}

/// How long the live demo's bandit waits for purchases: the live feed delivers each purchase
/// when due, about six minutes after the visit on average (`sim::Shop::visit`), and nearly all
/// within eight. Counting fresh units as non-buyers would make the arm the bandit favours look
/// worst (watched: profit per unit read $0.73 against a true $4 after twelve minutes, and the
/// weights went back to near uniform). The headless pump ingests each visit whole and needs no
/// delay.
pub const LIVE_REWARD_DELAY_SECS: u64 = 480;

/// [`ensure_campaigns`] for the live console: the bandits learn only from periods that ended
/// [`LIVE_REWARD_DELAY_SECS`] ago (set, and audited, only when it is not set already).
pub fn ensure_live_campaigns(store: &mut Store, env: &Env, seed: u64) -> Result<()> {
    ensure_campaigns(store, env, seed)?;
    for spec in demo_specs(seed) {
        let (campaign, _) = store.campaign(&spec.key)?;
        let set = campaign
            .spec
            .bandit
            .as_ref()
            .is_some_and(|b| b.reward_delay_secs == Some(LIVE_REWARD_DELAY_SECS));
        if campaign.spec.kind == CampaignKind::Bandit && !set {
            super::bandit::set_config(store, env, &spec.key, |b| {
                b.reward_delay_secs = Some(LIVE_REWARD_DELAY_SECS);
            })?;
        }
    }
    Ok(())
}

/// Creates the demo campaigns that are missing and starts any that are not running.
pub fn ensure_campaigns(store: &mut Store, env: &Env, seed: u64) -> Result<()> {
    for spec in demo_specs(seed) {
        match store.campaign(&spec.key) {
            Ok(_) => {}
            Err(StoreError::UnknownCampaign(_)) => {
                create_campaign(store, env, &spec)?;
            }
            Err(e) => return Err(e.into()),
        }
        let (c, _) = store.campaign(&spec.key)?;
        if matches!(c.status, Status::Draft | Status::Paused) {
            set_status(store, env, &spec.key, Status::Running)?;
        }
    }
    Ok(())
}

/// A traffic source over the demo campaigns; `run` distinguishes repeated demos on one file.
pub fn demo_traffic(store: &Store, seed: u64, run: u64) -> Result<TrafficSource> {
    let campaigns = DEMO_KEYS
        .iter()
        .map(|k| store.campaign(k))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(TrafficSource::new(
        seed.wrapping_add(run),
        campaigns,
        &format!("r{run}-"),
    ))
}

/// Runs `seconds` of simulated traffic at `rate` shoppers per second on the env's clock,
/// one batch per simulated second, without sleeping; after each second the bandits among the
/// campaigns get their allocation update when due, and the traffic draws with the new weights
/// from then on. Returns records applied.
pub fn pump_simulated(
    store: &mut Store,
    env: &Env,
    traffic: &mut TrafficSource,
    seconds: u64,
    rate: u64,
) -> Result<u64> {
    let mut applied = 0;
    let bandits = bandit_keys(store)?;
    for _ in 0..seconds {
        let now: Micros = env.clock.now();
        let records = traffic.generate(rate as usize, now, 1_000_000);
        let outcome = apply_records(store, "demo", &env.actor, now, records)?;
        applied += outcome.accepted;
        env.clock.advance(1_000_000);
        // The second's shoppers are all stamped before the new clock, so a period started now
        // holds none of them: each unit is logged in the period whose weights drew it.
        learn(store, env, traffic, &bandits)?;
    }
    Ok(applied)
}

/// The demo campaigns that learn.
fn bandit_keys(store: &Store) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for key in DEMO_KEYS {
        if store.campaign(key)?.0.spec.kind == CampaignKind::Bandit {
            keys.push(key.to_string());
        }
    }
    Ok(keys)
}

/// One step of the allocation loop for the demo's bandits; reloads the traffic's weights when
/// a period started.
pub fn learn(
    store: &mut Store,
    env: &Env,
    traffic: &mut TrafficSource,
    bandits: &[String],
) -> Result<()> {
    if super::bandit::update_due(store, env, bandits)? > 0 {
        traffic.reload(store)?;
    }
    Ok(())
}

/// The live demo's past: `history` of traffic at `rate` shoppers per second before `now`,
/// played in `step`-long slices on a virtual clock with the allocation loop between slices, as
/// if the console had been running. Events not yet due at `now` stay held in the returned
/// feed, which carries on from `now`. The console then opens on a bandit that has been
/// learning for `history`, with its periods and their weights already on the chart.
pub fn play_history(
    store: &mut Store,
    actor: &str,
    source: TrafficSource,
    now: Micros,
    history: Micros,
    rate: u64,
    step: Micros,
) -> Result<super::traffic::LiveTraffic> {
    let start = now.saturating_sub(history.max(0));
    let env = Env {
        clock: crate::clock::Clock::virtual_at(start),
        actor: actor.to_string(),
    };
    let bandits = bandit_keys(store)?;
    let mut live = super::traffic::LiveTraffic::new(source, start);
    let step = step.max(1);
    let mut t = start;
    while t < now {
        let next = (t + step).min(now);
        let shoppers = (rate as i128 * (next - t) as i128 / 1_000_000) as usize;
        env.clock.advance(next - t);
        let records = live.due(shoppers, next);
        apply_records(store, "demo", actor, next, records)?;
        if super::bandit::update_due(store, &env, &bandits)? > 0 {
            live.reload(store)?;
        }
        t = next;
    }
    Ok(live)
}

/// The per-arm summary table printed by `demo --headless`, with the simulator's true rates.
pub fn summary_table(store: &Store, seed: u64) -> Result<String> {
    let mut out = String::new();
    for spec in demo_specs(seed) {
        let arms = store.arm_summaries(&spec.key)?;
        let offers: Vec<Offer> = spec.arms.iter().map(|a| a.offer.clone()).collect();
        let truth = arm_truth(seed, &offers, 20_000);
        out.push_str(&format!("{} — {}\n", spec.key, spec.name));
        out.push_str(&table(&arms, &truth));
        out.push('\n');
    }
    Ok(out)
}

fn table(arms: &[ArmSummary], truth: &[crate::sim::ArmTruth]) -> String {
    let mut s = format!(
        "  {:<10} {:>8} {:>9} {:>7} {:>8} {:>7} {:>9} {:>12} {:>10} {:>9}\n",
        "arm",
        "units",
        "exposures",
        "clicks",
        "convert",
        "CVR",
        "true CVR",
        "revenue",
        "cost",
        "rev/unit"
    );
    for (a, t) in arms.iter().zip(truth) {
        let r = &a.rollup;
        let cvr = if r.units > 0 {
            r.conversions as f64 / r.units as f64
        } else {
            0.0
        };
        let rpu = if r.units > 0 {
            r.revenue_sum / r.units as f64
        } else {
            0.0
        };
        // The one number format (`format.rs`), as `report ab` and the console print it.
        let nf = crate::format::NumberFormat::default();
        s.push_str(&format!(
            "  {:<10} {:>8} {:>9} {:>7} {:>8} {:>7} {:>9} {:>12} {:>10} {:>9}\n",
            a.key,
            crate::format::count(r.units),
            crate::format::count(r.exposures),
            crate::format::count(r.clicks),
            crate::format::count(r.conversions),
            crate::format::rate(cvr),
            crate::format::rate(t.conversion_rate),
            nf.money(r.revenue_sum),
            nf.money(r.cost_sum),
            nf.money(rpu)
        ));
    }
    s
}

/// Where the headless demo's simulated clock starts: 2026-11-01T00:00:00Z.
pub const DEMO_EPOCH: Micros = 1_793_491_200_000_000;

/// Headless demo: sets up the campaigns, streams `seconds` of traffic on the env's (virtual)
/// clock and returns the summary table.
pub fn run_headless(
    store: &mut Store,
    env: &Env,
    seed: u64,
    seconds: u64,
    rate: u64,
) -> Result<String> {
    ensure_campaigns(store, env, seed)?;
    let run = store.next_run_number("demo")?;
    let mut traffic = demo_traffic(store, seed, run)?;
    pump_simulated(store, env, &mut traffic, seconds, rate)?;
    summary_table(store, seed)
}

/// Opens the demo's own database at `path`, the only kind the demo writes into.
///
/// A missing or empty file becomes a new database marked as a demo. An existing one is used
/// only when it carries that mark; then, unless `keep`, it is removed and created afresh so
/// that every run starts from the same state (and the same seed prints the same table). Any
/// other database is refused with `AppError::NotDemo` before anything is written to it.
pub fn open_demo_database(path: &Path, keep: bool, created: &str) -> Result<Store> {
    let has_data = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    if has_data {
        // Look before touching: a read-only open changes nothing, not even the schema version.
        let marked = match Store::open_read_only(path) {
            Ok(store) => store.is_demo()?,
            // Older than the settings table, so older than demo marks: not a demo database.
            Err(StoreError::NeedsUpgrade { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if !marked {
            return Err(super::AppError::NotDemo {
                path: path.to_path_buf(),
            });
        }
        if keep {
            return Ok(Store::open(path)?);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
    }
    let mut store = Store::open(path)?;
    if !store.is_demo()? {
        store.mark_demo(created)?;
    }
    Ok(store)
}
