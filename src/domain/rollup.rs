//! The per-arm sufficient statistics, declared once. The field list below generates the
//! struct, its field table (`ArmRollup::FIELDS`: name = `arm_rollups` column, kind, accessors)
//! and `AddAssign`; `event_delta` and `assigned` are the arithmetic. The store builds its column
//! list, row reader, UPDATE and `verify`'s comparison from the table, and keeps one SQL
//! recompute expression per field beside it (`store::rollup_sql`). Adding a statistic: one line
//! here plus its arithmetic, one expression there, and the migration that adds the column.
//!
//! Pure: plain numbers in, plain numbers out, testable without SQLite.

use super::{Micros, StandardKind};
use serde::Serialize;
use std::ops::AddAssign;

/// How a field combines: counts and sums add, `Latest` keeps the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupKind {
    Count,
    Sum,
    Latest,
}

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RollupValue {
    Count(i64),
    Sum(f64),
    Latest(Option<Micros>),
}

/// One field of `ArmRollup`.
pub struct RollupField {
    /// The Rust field, the JSON key and the `arm_rollups` column.
    pub name: &'static str,
    pub kind: RollupKind,
    pub get: fn(&ArmRollup) -> RollupValue,
    /// Sets the field; a value of another kind is ignored.
    pub set: fn(&mut ArmRollup, RollupValue),
}

/// A field's storage type and how it combines.
trait RollupCell: Copy {
    fn value(self) -> RollupValue;
    fn assign(&mut self, v: RollupValue);
    fn merge(&mut self, other: Self);
}

impl RollupCell for i64 {
    fn value(self) -> RollupValue {
        RollupValue::Count(self)
    }
    fn assign(&mut self, v: RollupValue) {
        if let RollupValue::Count(x) = v {
            *self = x;
        }
    }
    fn merge(&mut self, other: i64) {
        *self += other;
    }
}

impl RollupCell for f64 {
    fn value(self) -> RollupValue {
        RollupValue::Sum(self)
    }
    fn assign(&mut self, v: RollupValue) {
        if let RollupValue::Sum(x) = v {
            *self = x;
        }
    }
    fn merge(&mut self, other: f64) {
        *self += other;
    }
}

impl RollupCell for Option<Micros> {
    fn value(self) -> RollupValue {
        RollupValue::Latest(self)
    }
    fn assign(&mut self, v: RollupValue) {
        if let RollupValue::Latest(x) = v {
            *self = x;
        }
    }
    fn merge(&mut self, other: Option<Micros>) {
        *self = match (*self, other) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// How a cell appears in JSON: numbers as numbers, the latest event time as RFC 3339 (the
/// JSON convention for every timestamp).
trait CellJson {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

impl CellJson for i64 {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*self)
    }
}

impl CellJson for f64 {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*self)
    }
}

impl CellJson for Option<Micros> {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        super::json_time::option(self, s)
    }
}

macro_rules! cell_type {
    (Count) => { i64 };
    (Sum) => { f64 };
    (Latest) => { Option<Micros> };
}

macro_rules! arm_rollup {
    ($( $(#[doc = $doc:literal])* $name:ident : $kind:ident, )*) => {
        /// Per-arm sufficient statistics, exactly as stored in `arm_rollups` (one column per
        /// field, same name, same order).
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct ArmRollup {
            $( $(#[doc = $doc])*
               #[serde(serialize_with = "CellJson::write")]
               pub $name: cell_type!($kind), )*
        }

        impl ArmRollup {
            /// Every field, in declaration (and column) order.
            pub const FIELDS: &'static [RollupField] = &[
                $( RollupField {
                    name: stringify!($name),
                    kind: RollupKind::$kind,
                    get: |r| RollupCell::value(r.$name),
                    set: |r, v| RollupCell::assign(&mut r.$name, v),
                }, )*
            ];
        }

        impl AddAssign for ArmRollup {
            fn add_assign(&mut self, other: ArmRollup) {
                $( RollupCell::merge(&mut self.$name, other.$name); )*
            }
        }
    };
}

arm_rollup! {
    units: Count,
    /// Units that some line tried to put in another arm too (multiple exposure).
    conflicted_units: Count,
    exposures: Count,
    exposed_units: Count,
    clicks: Count,
    click_units: Count,
    add_to_carts: Count,
    cart_units: Count,
    purchases: Count,
    /// Units with at least one purchase.
    conversions: Count,
    custom_events: Count,
    /// Sums over per-unit totals r (revenue) and c (cost): Σr, Σr², Σc, Σc², Σrc.
    revenue_sum: Sum,
    revenue_sumsq: Sum,
    cost_sum: Sum,
    cost_sumsq: Sum,
    revenue_cost_sum: Sum,
    /// CUPED: units with a covariate x = pre_value (x counts as 0 when absent), Σx, Σx², Σxr,
    /// and Σx over converted units.
    x_units: Count,
    x_sum: Sum,
    x_sumsq: Sum,
    x_revenue_sum: Sum,
    x_conversion_sum: Sum,
    last_event_ts: Latest,
    /// Per-unit second moments for ratio metrics (migration 3).
    exposures_sumsq: Sum,
    clicks_sumsq: Sum,
    clicks_exposures_sum: Sum,
    purchases_sumsq: Sum,
    revenue_purchases_sum: Sum,
    /// CUPED cross sums for the remaining metrics (migration 5): Σx·cost, Σx over units with
    /// an add-to-cart, and Σx times exposures, clicks and orders per unit.
    x_cost_sum: Sum,
    x_cart_sum: Sum,
    x_exposures_sum: Sum,
    x_clicks_sum: Sum,
    x_purchases_sum: Sum,
}

/// A unit's totals so far: what the rollup arithmetic needs to know about it (the store keeps
/// them in `unit_totals`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitTotals {
    /// The covariate, fixed at assignment.
    pub x: Option<f64>,
    pub exposures: i64,
    pub clicks: i64,
    pub add_to_carts: i64,
    pub purchases: i64,
    pub custom_events: i64,
    pub revenue: f64,
    pub cost: f64,
    pub last_ts: Option<Micros>,
}

/// What one event does: its kind (`None` for a campaign's custom kind), value, cost and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventEffect {
    pub kind: Option<StandardKind>,
    pub value: f64,
    pub cost: f64,
    pub ts: Micros,
}

impl UnitTotals {
    /// The totals after `e`.
    pub fn after(&self, e: &EventEffect) -> UnitTotals {
        let mut u = self.clone();
        match e.kind {
            Some(StandardKind::Exposure) => u.exposures += 1,
            Some(StandardKind::Click) => u.clicks += 1,
            Some(StandardKind::AddToCart) => u.add_to_carts += 1,
            Some(StandardKind::Purchase) => u.purchases += 1,
            None => u.custom_events += 1,
        }
        u.revenue += e.value;
        u.cost += e.cost;
        u.last_ts.merge(Some(e.ts));
        u
    }

    pub fn is_finite(&self) -> bool {
        self.revenue.is_finite() && self.cost.is_finite() && self.x.is_none_or(f64::is_finite)
    }
}

impl ArmRollup {
    /// What a newly assigned unit adds to its arm.
    pub fn assigned(x: Option<f64>) -> ArmRollup {
        let mut d = ArmRollup {
            units: 1,
            ..ArmRollup::default()
        };
        if let Some(x) = x {
            d.x_units = 1;
            d.x_sum = x;
            d.x_sumsq = x * x;
        }
        d
    }

    /// Everything one unit with final totals `u` has added to its arm, in closed form (what
    /// `assigned` plus every `event_delta` summed to, up to rounding): erasure subtracts it.
    /// `conflicted` is whether some line tried to move the unit to another arm.
    pub fn of_unit(u: &UnitTotals, conflicted: bool) -> ArmRollup {
        let x = u.x.unwrap_or(0.0);
        let (e, k, t, p) = (u.exposures, u.clicks, u.add_to_carts, u.purchases);
        let (ef, kf, pf) = (e as f64, k as f64, p as f64);
        ArmRollup {
            units: 1,
            conflicted_units: i64::from(conflicted),
            exposures: e,
            exposed_units: i64::from(e > 0),
            clicks: k,
            click_units: i64::from(k > 0),
            add_to_carts: t,
            cart_units: i64::from(t > 0),
            purchases: p,
            conversions: i64::from(p > 0),
            custom_events: u.custom_events,
            revenue_sum: u.revenue,
            revenue_sumsq: u.revenue * u.revenue,
            cost_sum: u.cost,
            cost_sumsq: u.cost * u.cost,
            revenue_cost_sum: u.revenue * u.cost,
            x_units: i64::from(u.x.is_some()),
            x_sum: x,
            x_sumsq: x * x,
            x_revenue_sum: x * u.revenue,
            x_conversion_sum: if p > 0 { x } else { 0.0 },
            last_event_ts: u.last_ts,
            exposures_sumsq: ef * ef,
            clicks_sumsq: kf * kf,
            clicks_exposures_sum: kf * ef,
            purchases_sumsq: pf * pf,
            revenue_purchases_sum: u.revenue * pf,
            x_cost_sum: x * u.cost,
            x_cart_sum: if t > 0 { x } else { 0.0 },
            x_exposures_sum: x * ef,
            x_clicks_sum: x * kf,
            x_purchases_sum: x * pf,
        }
    }

    /// The delta that takes this contribution away again: counts and sums negated. A latest
    /// time cannot be un-maxed, so it is left out (`None` changes nothing when added); the
    /// store recomputes it from the units that remain.
    pub fn negated(&self) -> ArmRollup {
        let mut out = ArmRollup::default();
        for f in Self::FIELDS {
            let v = match (f.get)(self) {
                RollupValue::Count(n) => RollupValue::Count(-n),
                RollupValue::Sum(x) => RollupValue::Sum(-x),
                RollupValue::Latest(_) => RollupValue::Latest(None),
            };
            (f.set)(&mut out, v);
        }
        out
    }

    /// What a unit adds the first time another line tries to move it to another arm.
    pub fn conflicted() -> ArmRollup {
        ArmRollup {
            conflicted_units: 1,
            ..ArmRollup::default()
        }
    }

    /// What event `e` adds to its arm, given its unit's totals before it. O(1): a unit's total
    /// going from t to t+v moves Σt² by 2tv + v², Σst by s·v + t·w + v·w for a second total s
    /// moving by w, and Σx·t by x·v (x is fixed at assignment).
    pub fn event_delta(before: &UnitTotals, e: &EventEffect) -> ArmRollup {
        let one = |k| f64::from(u8::from(e.kind == Some(k)));
        let (de, dk, dp) = (
            one(StandardKind::Exposure),
            one(StandardKind::Click),
            one(StandardKind::Purchase),
        );
        let (e0, k0, p0) = (
            before.exposures as f64,
            before.clicks as f64,
            before.purchases as f64,
        );
        let (r, c, v, w) = (before.revenue, before.cost, e.value, e.cost);
        let x = before.x.unwrap_or(0.0);
        let first = |n: i64| i64::from(n == 0);
        let mut d = ArmRollup {
            revenue_sum: v,
            revenue_sumsq: 2.0 * r * v + v * v,
            cost_sum: w,
            cost_sumsq: 2.0 * c * w + w * w,
            revenue_cost_sum: r * w + v * c + v * w,
            x_revenue_sum: x * v,
            x_cost_sum: x * w,
            x_exposures_sum: x * de,
            x_clicks_sum: x * dk,
            x_purchases_sum: x * dp,
            exposures_sumsq: 2.0 * e0 * de + de * de,
            clicks_sumsq: 2.0 * k0 * dk + dk * dk,
            clicks_exposures_sum: k0 * de + e0 * dk + dk * de,
            purchases_sumsq: 2.0 * p0 * dp + dp * dp,
            revenue_purchases_sum: r * dp + v * p0 + v * dp,
            last_event_ts: Some(e.ts),
            ..ArmRollup::default()
        };
        match e.kind {
            Some(StandardKind::Exposure) => {
                d.exposures = 1;
                d.exposed_units = first(before.exposures);
            }
            Some(StandardKind::Click) => {
                d.clicks = 1;
                d.click_units = first(before.clicks);
            }
            Some(StandardKind::AddToCart) => {
                d.add_to_carts = 1;
                d.cart_units = first(before.add_to_carts);
                d.x_cart_sum = x * d.cart_units as f64;
            }
            Some(StandardKind::Purchase) => {
                d.purchases = 1;
                d.conversions = first(before.purchases);
                d.x_conversion_sum = x * d.conversions as f64;
            }
            None => d.custom_events = 1,
        }
        d
    }

    /// Whether every sum is a finite number (counts always are).
    pub fn is_finite(&self) -> bool {
        Self::FIELDS.iter().all(|f| match (f.get)(self) {
            RollupValue::Sum(x) => x.is_finite(),
            _ => true,
        })
    }

    /// Field-by-field comparison: counts exactly, sums to a relative tolerance (incremental
    /// floating-point sums differ from a one-pass recompute in the last bits).
    pub fn differences(&self, other: &ArmRollup, rel_tol: f64) -> Vec<String> {
        Self::FIELDS
            .iter()
            .filter_map(|f| {
                let (a, b) = ((f.get)(self), (f.get)(other));
                let same = match (a, b) {
                    (RollupValue::Sum(a), RollupValue::Sum(b)) => {
                        (a - b).abs() <= rel_tol * a.abs().max(b.abs()).max(1.0)
                    }
                    (a, b) => a == b,
                };
                (!same).then(|| format!("{}: {} vs {}", f.name, show(a), show(b)))
            })
            .collect()
    }
}

fn show(v: RollupValue) -> String {
    match v {
        RollupValue::Count(n) => n.to_string(),
        RollupValue::Sum(x) => x.to_string(),
        RollupValue::Latest(t) => format!("{t:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-unit totals -> arm statistics, from scratch (what the SQL recompute does).
    fn from_scratch(units: &[UnitTotals]) -> ArmRollup {
        let mut a = ArmRollup::default();
        for u in units {
            let x = u.x.unwrap_or(0.0);
            let (e, k, t, p) = (u.exposures, u.clicks, u.add_to_carts, u.purchases);
            let (ef, kf, pf) = (e as f64, k as f64, p as f64);
            a += ArmRollup {
                units: 1,
                exposures: e,
                exposed_units: i64::from(e > 0),
                clicks: k,
                click_units: i64::from(k > 0),
                add_to_carts: t,
                cart_units: i64::from(t > 0),
                purchases: p,
                conversions: i64::from(p > 0),
                custom_events: u.custom_events,
                revenue_sum: u.revenue,
                revenue_sumsq: u.revenue * u.revenue,
                cost_sum: u.cost,
                cost_sumsq: u.cost * u.cost,
                revenue_cost_sum: u.revenue * u.cost,
                x_units: i64::from(u.x.is_some()),
                x_sum: x,
                x_sumsq: x * x,
                x_revenue_sum: x * u.revenue,
                x_conversion_sum: if p > 0 { x } else { 0.0 },
                last_event_ts: u.last_ts,
                exposures_sumsq: ef * ef,
                clicks_sumsq: kf * kf,
                clicks_exposures_sum: kf * ef,
                purchases_sumsq: pf * pf,
                revenue_purchases_sum: u.revenue * pf,
                x_cost_sum: x * u.cost,
                x_cart_sum: if t > 0 { x } else { 0.0 },
                x_exposures_sum: x * ef,
                x_clicks_sum: x * kf,
                x_purchases_sum: x * pf,
                conflicted_units: 0,
            };
        }
        a
    }

    #[test]
    fn summed_deltas_equal_a_recompute_from_unit_totals() {
        let kinds = [
            Some(StandardKind::Exposure),
            Some(StandardKind::Click),
            Some(StandardKind::AddToCart),
            Some(StandardKind::Purchase),
            None,
        ];
        let mut units: Vec<UnitTotals> = (0..5)
            .map(|i| UnitTotals {
                x: (i % 2 == 0).then_some(f64::from(i) * 1.5),
                ..UnitTotals::default()
            })
            .collect();
        let mut arm = ArmRollup::default();
        for u in &units {
            arm += ArmRollup::assigned(u.x);
        }
        for step in 0..200u32 {
            let unit = (step * 7 % 5) as usize;
            let e = EventEffect {
                kind: kinds[(step * 3 % 5) as usize],
                value: f64::from(step % 4) * 2.5,
                cost: f64::from(step % 3) * 0.25,
                ts: i64::from(step * 13 % 97),
            };
            arm += ArmRollup::event_delta(&units[unit], &e);
            units[unit] = units[unit].after(&e);
        }
        let fresh = from_scratch(&units);
        let mut closed = ArmRollup::default();
        for u in &units {
            closed += ArmRollup::of_unit(u, false);
        }
        assert_eq!(closed.differences(&fresh, 1e-12), Vec::<String>::new());
        // Taking every unit away again leaves nothing (the latest time aside).
        let mut emptied = arm.clone();
        for u in &units {
            emptied += ArmRollup::of_unit(u, false).negated();
        }
        emptied.last_event_ts = None;
        assert_eq!(
            emptied.differences(&ArmRollup::default(), 1e-9),
            Vec::<String>::new()
        );
        assert_eq!(arm.differences(&fresh, 1e-12), Vec::<String>::new());
        assert!(arm.is_finite());
    }

    #[test]
    fn the_field_table_lists_every_field_once_with_working_accessors() {
        let names: Vec<&str> = ArmRollup::FIELDS.iter().map(|f| f.name).collect();
        let json = serde_json::to_value(ArmRollup::default()).expect("json");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        keys.sort_unstable();
        assert_eq!(sorted, keys, "serde's keys are the table's names");
        let mut r = ArmRollup::default();
        for (i, f) in ArmRollup::FIELDS.iter().enumerate() {
            let v = match f.kind {
                RollupKind::Count => RollupValue::Count(i as i64 + 1),
                RollupKind::Sum => RollupValue::Sum(i as f64 + 0.5),
                RollupKind::Latest => RollupValue::Latest(Some(i as i64)),
            };
            (f.set)(&mut r, v);
            assert_eq!((f.get)(&r), v, "{}", f.name);
        }
        let mut twice = r.clone();
        twice += r.clone();
        assert_eq!(twice.units, 2 * r.units);
        assert_eq!(
            twice.last_event_ts, r.last_event_ts,
            "latest is a max, not a sum"
        );
        assert_eq!(
            r.differences(&twice, 1e-9).len(),
            ArmRollup::FIELDS.len() - 1
        );
    }

    #[test]
    fn a_non_finite_delta_is_detected() {
        let before = UnitTotals {
            revenue: 1e308,
            ..UnitTotals::default()
        };
        let e = EventEffect {
            kind: Some(StandardKind::Purchase),
            value: 1e308,
            cost: 0.0,
            ts: 0,
        };
        assert!(!ArmRollup::event_delta(&before, &e).is_finite());
        assert!(!before.after(&e).is_finite());
    }
}
