//! Simulated shop traffic pushed through the real ingest path: shoppers arrive, are assigned by
//! the campaign's own hash, and their visits become assignment and event records.

use super::Result;
use crate::allocation::{bucket, Bucket};
use crate::domain::{Arm, AssignmentRecord, Campaign, EventRecord, Micros, Record, Status};
use crate::sim::Shop;
use crate::store::{BatchOutcome, IngestItem, Ingestor, Store};
use std::collections::BinaryHeap;

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

/// Traffic for a console that runs on the wall clock: shoppers arrive up to `now`, and the
/// events their visits cause later (a purchase minutes after the click) are held back until
/// their time comes, so no record is ever stamped ahead of the clock it is ingested on.
pub struct LiveTraffic {
    source: TrafficSource,
    /// Generated records not yet due, earliest on top: each tick pops only what is due
    /// instead of re-sorting minutes of held purchases.
    held: BinaryHeap<Held>,
    /// Generation order, so records stamped alike leave in the order they were made.
    made: u64,
    /// Shoppers have arrived up to here.
    until: Micros,
}

/// A held record, ordered so that `BinaryHeap` (a max-heap) yields the earliest first.
struct Held {
    ts: Micros,
    made: u64,
    record: Record,
}

impl Held {
    fn key(&self) -> std::cmp::Reverse<(Micros, u64)> {
        std::cmp::Reverse((self.ts, self.made))
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

fn stamped(r: &Record) -> Micros {
    match r {
        Record::Assignment(a) => a.ts,
        Record::Event(e) => e.ts,
        Record::Campaign(_) => Micros::MIN,
    }
}

impl LiveTraffic {
    pub fn new(source: TrafficSource, start: Micros) -> LiveTraffic {
        LiveTraffic {
            source,
            held: BinaryHeap::new(),
            made: 0,
            until: start,
        }
    }

    /// `shoppers` arriving in [last call, `now`), and every held event now due; all at or
    /// before `now`, in time order.
    pub fn due(&mut self, shoppers: usize, now: Micros) -> Vec<Record> {
        if now > self.until {
            for record in self.source.generate(shoppers, self.until, now - self.until) {
                self.made += 1;
                self.held.push(Held {
                    ts: stamped(&record),
                    made: self.made,
                    record,
                });
            }
            self.until = now;
        }
        let mut ready = Vec::new();
        while self.held.peek().is_some_and(|h| h.ts <= now) {
            if let Some(h) = self.held.pop() {
                ready.push(h.record);
            }
        }
        ready
    }

    /// A live feed that starts with `history` of past traffic: `shoppers` spread over
    /// [now - history, now), returned with every event of theirs already due. The simulated
    /// funnel puts a purchase minutes after the visit, so a feed that started empty would show
    /// no conversion for minutes; the history is stamped in the past, never ahead of `now`.
    pub fn with_history(
        source: TrafficSource,
        now: Micros,
        history: Micros,
        shoppers: usize,
    ) -> (LiveTraffic, Vec<Record>) {
        let mut live = LiveTraffic::new(source, now.saturating_sub(history.max(0)));
        let past = live.due(shoppers, now);
        (live, past)
    }

    /// Events generated but not yet due.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Shoppers from now on are drawn with the store's current weights and statuses (after a
    /// bandit's update); records already generated keep the weights they were drawn with.
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        self.source.reload(store)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ArmSpec, CampaignKind, CampaignSpec, Offer};

    fn campaign() -> (Campaign, Vec<Arm>) {
        let spec = CampaignSpec {
            key: "c".into(),
            name: "c".into(),
            kind: CampaignKind::Ab,
            arms: vec![
                ArmSpec {
                    key: "control".into(),
                    weight: 1.0,
                    offer: Offer::None,
                },
                ArmSpec {
                    key: "coupon".into(),
                    weight: 1.0,
                    offer: Offer::Coupon { pct: 10.0 },
                },
            ],
            control: Some("control".into()),
            traffic: 1.0,
            metric: "purchase".into(),
            guardrails: vec![],
            custom_kinds: vec![],
            seed: 3,
            settings: Default::default(),
            bandit: None,
        };
        let arms = spec
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| Arm {
                id: i as i64,
                key: a.key.clone(),
                weight: a.weight,
                offer: a.offer.clone(),
            })
            .collect();
        let c = Campaign {
            id: 1,
            spec,
            status: Status::Running,
            created_at: 0,
            started_at: Some(0),
            stopped_at: None,
        };
        (c, arms)
    }

    #[test]
    fn a_live_feed_with_history_starts_with_conversions_none_ahead_of_the_clock() {
        let now = 10_000_000_000;
        let (mut live, past) = LiveTraffic::with_history(
            TrafficSource::new(5, vec![campaign()], "h-"),
            now,
            10 * 60_000_000,
            20_000,
        );
        assert!(past.iter().all(|r| stamped(r) <= now));
        assert!(past
            .iter()
            .all(|r| matches!(r, Record::Campaign(_)) || stamped(r) >= now - 10 * 60_000_000));
        let purchases = past
            .iter()
            .filter(|r| matches!(r, Record::Event(e) if e.kind == "purchase"))
            .count();
        assert!(
            purchases > 100,
            "the history shows conversions: {purchases}"
        );
        // The recent visitors' purchases are still to come, on the clock.
        assert!(live.held() > 0);
        assert!(live
            .due(0, now + 60_000_000)
            .iter()
            .all(|r| stamped(r) <= now + 60_000_000));
    }

    #[test]
    fn live_traffic_never_stamps_a_record_after_the_clock() {
        let start = 1_000_000_000;
        let mut live = LiveTraffic::new(TrafficSource::new(5, vec![campaign()], "t-"), start);
        let (mut now, mut seen, mut events) = (start, 0, 0);
        // 30 s of a console tick every 200 ms, 40 shoppers a tick.
        for _ in 0..150 {
            now += 200_000;
            for r in live.due(40, now) {
                assert!(stamped(&r) <= now, "record ahead of the clock: {r:?}");
                seen += 1;
                events += usize::from(matches!(r, Record::Event(_)));
            }
        }
        assert!(seen > 150 * 40, "shoppers arrive: {seen}");
        assert!(events > 0, "their events arrive too");
        // Visits cause events minutes later; they wait rather than being stamped ahead.
        assert!(live.held() > 0);
        // The plain generator (what the console used) stamps them ahead.
        let mut plain = TrafficSource::new(5, vec![campaign()], "p-");
        let ahead = plain
            .generate(1000, start, 200_000)
            .iter()
            .any(|r| stamped(r) > start + 200_000);
        assert!(ahead);
    }
}
