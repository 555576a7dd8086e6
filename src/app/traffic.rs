//! Simulated shop traffic pushed through the real ingest path: shoppers arrive, are assigned by
//! the campaign's own hash, and their visits become assignment and event records.

use super::Result;
use crate::allocation::{bucket, Bucket};
use crate::domain::{Arm, AssignmentRecord, Campaign, EventRecord, Micros, Record, Status};
use crate::sim::Shop;
use crate::store::{BatchOutcome, IngestItem, Ingestor, Store};

/// Generates traffic for a set of campaigns. Each shopper visits one campaign, taken in turn.
pub struct TrafficSource {
    shop: Shop,
    campaigns: Vec<(Campaign, Vec<Arm>)>,
    /// Prepended to unit names and event ids so repeated runs on one database never collide.
    prefix: String,
    next_event: u64,
    turn: usize,
}

impl TrafficSource {
    pub fn new(seed: u64, campaigns: Vec<(Campaign, Vec<Arm>)>, prefix: &str) -> TrafficSource {
        TrafficSource {
            shop: Shop::new(seed),
            campaigns,
            prefix: prefix.to_string(),
            next_event: 0,
            turn: 0,
        }
    }

    /// Refreshes arm weights (a bandit moves them) and statuses from the store.
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        for entry in &mut self.campaigns {
            *entry = store.campaign(&entry.0.spec.key)?;
        }
        Ok(())
    }

    /// `shoppers` visits spread evenly over [start, start + span).
    pub fn generate(&mut self, shoppers: usize, start: Micros, span: Micros) -> Vec<Record> {
        let mut out = Vec::with_capacity(shoppers * 3);
        if self.campaigns.is_empty() {
            return out;
        }
        let step = if shoppers == 0 {
            0
        } else {
            span / shoppers as i64
        };
        for i in 0..shoppers {
            let ts = start + step * i as i64;
            let shopper = self.shop.next_shopper();
            let (campaign, arms) = &self.campaigns[self.turn % self.campaigns.len()];
            self.turn += 1;
            if campaign.status != Status::Running {
                continue;
            }
            let unit = format!("{}{}", self.prefix, shopper.unit);
            let weights: Vec<f64> = arms.iter().map(|a| a.weight).collect();
            let Bucket::Arm { index, propensity } =
                bucket(campaign.spec.seed, &unit, campaign.spec.traffic, &weights)
            else {
                continue;
            };
            let arm = &arms[index];
            out.push(Record::Assignment(AssignmentRecord {
                campaign: campaign.spec.key.clone(),
                unit: unit.clone(),
                arm: arm.key.clone(),
                propensity,
                context: shopper.context(),
                ts,
            }));
            for ev in self.shop.visit(&shopper, &arm.offer) {
                self.next_event += 1;
                out.push(Record::Event(EventRecord {
                    event_id: format!("{}e{}", self.prefix, self.next_event),
                    campaign: campaign.spec.key.clone(),
                    unit: unit.clone(),
                    kind: ev.kind.as_str().to_string(),
                    value: round_cents(ev.value),
                    cost: round_cents(ev.cost),
                    ts: ts + (ev.delay_secs * 1e6) as i64,
                }));
            }
        }
        out
    }
}

/// Money arrives in cents from a real shop; rounding keeps exports exact in decimal text.
fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Applies generated records through the same batch path as ingested lines.
pub fn apply_records(
    store: &mut Store,
    source: &str,
    actor: &str,
    now: Micros,
    records: Vec<Record>,
) -> Result<BatchOutcome> {
    let mut ingestor = Ingestor::new(store, source, actor, now)?;
    let items = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| IngestItem {
            line: i as u64 + 1,
            raw: "",
            parsed: Ok(r),
        })
        .collect();
    Ok(ingestor.apply(items)?)
}
