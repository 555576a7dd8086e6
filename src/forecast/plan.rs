//! A planned campaign, as the operator writes it in `PLAN.json` or the console's plan form:
//! the offer, who gets it, how many of them, for how long, what it costs and what an order
//! earns. Parsing checks every field and names the one that is wrong; `Audience::matches`
//! decides whether a context (an assignment's context fields) is in the plan's audience.
//! Pure: no I/O.

use crate::domain::Offer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Default share of traffic kept without the offer so the campaign's lift can be measured.
pub const DEFAULT_HOLDOUT: f64 = 0.10;
/// Default day-to-day spread of traffic (coefficient of variation of the reach) when the plan
/// does not state one: a shop's daily visitors typically swing by about a tenth.
pub const DEFAULT_TRAFFIC_CV: f64 = 0.10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// A name for the plan, shown in outputs and used as the campaign key when it starts.
    pub name: String,
    /// The offer, in the arm's offer format: `{"type":"discount","pct":15}`,
    /// `{"type":"coupon","pct":10}`, `{"type":"spend_threshold","min_spend":50,"amount_off":10}`,
    /// `{"type":"recommend","items":6}`.
    pub offer: Offer,
    /// Who gets it: context field -> value(s) or numeric range. Empty = everyone.
    #[serde(default)]
    pub audience: Audience,
    pub traffic: Traffic,
    /// Share of each order's value (before the offer) that is margin; 1.0 counts revenue as
    /// margin, as the causal reports do.
    #[serde(default = "one")]
    pub margin: f64,
    /// What one redeemed offer costs the shop, when it is not the discount itself (a coupon
    /// with a fixed handling cost, a free gift). Absent: the discount granted, as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_redemption: Option<f64>,
    /// Spend cap for `forecast budget` (money).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Other depths to consider for `forecast budget` (same offer type), e.g. [5, 10, 20].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depths: Vec<f64>,
    /// Share of the audience kept without the offer to measure the lift.
    #[serde(default = "default_holdout")]
    pub holdout: f64,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_power")]
    pub power: f64,
}

fn one() -> f64 {
    1.0
}
fn default_holdout() -> f64 {
    DEFAULT_HOLDOUT
}
fn default_alpha() -> f64 {
    0.05
}
fn default_power() -> f64 {
    0.8
}

/// How many users the plan reaches: a known audience size, or daily eligible users over a
/// number of days. `cv` is the relative spread of that number (default 0.10).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_users: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv: Option<f64>,
}

impl Traffic {
    /// Expected users reached (eligible users in the audience over the duration).
    pub fn expected_users(&self) -> f64 {
        match (self.audience_size, self.daily_users, self.days) {
            (Some(n), _, _) => n,
            (None, Some(d), Some(days)) => d * days,
            _ => 0.0,
        }
    }

    pub fn cv(&self) -> f64 {
        self.cv.unwrap_or(DEFAULT_TRAFFIC_CV)
    }
}

/// One condition on a context field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    /// The field equals this text (`"segment": "returning"`).
    Is(String),
    /// The field is one of these texts (`"device": ["mobile", "tablet"]`).
    OneOf(Vec<String>),
    /// A number within [min, max] (`"pre_value": {"min": 10}`); either end may be open.
    Range {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
}

/// All conditions must hold (an empty audience is everyone).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Audience(pub BTreeMap<String, Condition>);

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Audience {
    pub fn matches(&self, ctx: &Map<String, Value>) -> bool {
        self.0.iter().all(|(field, cond)| {
            let v = ctx.get(field);
            match cond {
                Condition::Is(want) => v.and_then(text_of).is_some_and(|t| t == *want),
                Condition::OneOf(want) => v.and_then(text_of).is_some_and(|t| want.contains(&t)),
                Condition::Range { min, max } => v
                    .and_then(Value::as_f64)
                    .is_some_and(|x| min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m)),
            }
        })
    }

    /// "segment=returning, device in {mobile, tablet}, pre_value >= 10", or "everyone".
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "everyone".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(f, c)| match c {
                Condition::Is(v) => format!("{f}={v}"),
                Condition::OneOf(v) => format!("{f} in {{{}}}", v.join(", ")),
                Condition::Range {
                    min: Some(a),
                    max: Some(b),
                } => format!("{a} <= {f} <= {b}"),
                Condition::Range { min: Some(a), .. } => format!("{f} >= {a}"),
                Condition::Range { max: Some(b), .. } => format!("{f} <= {b}"),
                Condition::Range { .. } => format!("{f} any number"),
            })
            .collect();
        parts.join(", ")
    }
}

/// What is wrong with a plan: the field (a JSON path such as `traffic.days`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan field `{field}`: {reason}")]
pub struct PlanError {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Offer type names as the plan and the ledger write them.
pub fn offer_type(offer: &Offer) -> &'static str {
    match offer {
        Offer::None => "none",
        Offer::Coupon { .. } => "coupon",
        Offer::Discount { .. } => "discount",
        Offer::SpendThreshold { .. } => "spend_threshold",
        Offer::Recommend { .. } => "recommend",
    }
}

/// The offer's depth on its own scale: percent off for coupons and discounts, percent off at
/// the threshold for spend thresholds, item count for recommendations.
pub fn offer_depth(offer: &Offer) -> f64 {
    match *offer {
        Offer::None => 0.0,
        Offer::Coupon { pct } | Offer::Discount { pct } => pct,
        Offer::SpendThreshold {
            min_spend,
            amount_off,
        } => {
            if min_spend > 0.0 {
                100.0 * amount_off / min_spend
            } else {
                0.0
            }
        }
        Offer::Recommend { items } => f64::from(items),
    }
}

/// The same offer at another depth (for `forecast budget`'s alternatives).
pub fn with_depth(offer: &Offer, depth: f64) -> Offer {
    match *offer {
        Offer::None => Offer::None,
        Offer::Coupon { .. } => Offer::Coupon { pct: depth },
        Offer::Discount { .. } => Offer::Discount { pct: depth },
        Offer::SpendThreshold { min_spend, .. } => Offer::SpendThreshold {
            min_spend,
            amount_off: depth / 100.0 * min_spend,
        },
        Offer::Recommend { .. } => Offer::Recommend {
            items: depth.round().max(0.0) as u32,
        },
    }
}

impl Plan {
    /// A plan for everyone with every optional field at its default (margin 1, holdout 10%,
    /// alpha 0.05, power 0.8), as `Plan::parse` would fill it.
    pub fn with_defaults(name: &str, offer: Offer, traffic: Traffic) -> Plan {
        Plan {
            name: name.into(),
            offer,
            audience: Audience::default(),
            traffic,
            margin: one(),
            cost_per_redemption: None,
            budget: None,
            depths: Vec::new(),
            holdout: default_holdout(),
            alpha: default_alpha(),
            power: default_power(),
        }
    }

    /// Parses and checks a plan from JSON text.
    pub fn parse(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| {
            bad(
                "(plan)",
                format!("{e} (line {}, column {})", e.line(), e.column()),
            )
        })?;
        plan.validate()?;
        Ok(plan)
    }

    pub fn validate(&self) -> Result<(), PlanError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(bad("name", "give 1-64 printable characters"));
        }
        let share = |x: f64| x.is_finite() && (0.0..=100.0).contains(&x);
        match self.offer {
            Offer::None => return Err(bad("offer.type", "a plan needs an offer, not `none`")),
            Offer::Coupon { pct } | Offer::Discount { pct } if !share(pct) || pct == 0.0 => {
                return Err(bad("offer.pct", "a percentage above 0 and at most 100"))
            }
            Offer::SpendThreshold {
                min_spend,
                amount_off,
            } if !(min_spend.is_finite()
                && amount_off.is_finite()
                && amount_off > 0.0
                && min_spend >= amount_off) =>
            {
                return Err(bad(
                    "offer",
                    "a spend threshold needs amount_off > 0 and min_spend >= amount_off",
                ))
            }
            Offer::Recommend { items } if items == 0 || items > 100 => {
                return Err(bad("offer.items", "between 1 and 100 items"))
            }
            _ => {}
        }
        let t = &self.traffic;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        match (t.audience_size, t.daily_users, t.days) {
            (Some(n), None, _) if positive(n) && n <= 1e10 => {}
            (Some(_), None, _) => {
                return Err(bad("traffic.audience_size", "a positive number of users"))
            }
            (None, Some(d), Some(days)) => {
                if !(positive(d) && d <= 1e9) {
                    return Err(bad(
                        "traffic.daily_users",
                        "a positive number of users a day",
                    ));
                }
                if !(positive(days) && days <= 366.0) {
                    return Err(bad("traffic.days", "a duration of 0 to 366 days"));
                }
            }
            (Some(_), Some(_), _) => {
                return Err(bad(
                    "traffic",
                    "give either audience_size or daily_users with days, not both",
                ))
            }
            _ => {
                return Err(bad(
                    "traffic",
                    "give audience_size, or daily_users and days",
                ))
            }
        }
        if let Some(cv) = t.cv {
            if !(cv.is_finite() && (0.0..=2.0).contains(&cv)) {
                return Err(bad("traffic.cv", "a relative spread between 0 and 2"));
            }
        }
        if !(self.margin.is_finite() && self.margin > 0.0 && self.margin <= 1.0) {
            return Err(bad(
                "margin",
                "a share of order value above 0 and at most 1",
            ));
        }
        if let Some(c) = self.cost_per_redemption {
            if !(c.is_finite() && c >= 0.0) {
                return Err(bad("cost_per_redemption", "a non-negative amount"));
            }
        }
        if let Some(b) = self.budget {
            if !positive(b) {
                return Err(bad("budget", "a positive amount"));
            }
        }
        for (i, d) in self.depths.iter().enumerate() {
            let ok = match self.offer {
                Offer::Recommend { .. } => positive(*d) && *d <= 100.0,
                _ => positive(*d) && *d <= 100.0,
            };
            if !ok {
                return Err(bad(
                    &format!("depths[{i}]"),
                    "a depth above 0 and at most 100",
                ));
            }
        }
        if !(self.holdout.is_finite() && self.holdout > 0.0 && self.holdout < 1.0) {
            return Err(bad("holdout", "a share above 0 and below 1"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(bad("alpha", "between 0 and 0.5"));
        }
        if !(self.power.is_finite() && self.power > 0.0 && self.power < 1.0) {
            return Err(bad("power", "between 0 and 1"));
        }
        for (field, cond) in &self.audience.0 {
            if field.is_empty() || field.chars().any(char::is_control) {
                return Err(bad("audience", "field names must be printable"));
            }
            if let Condition::Range {
                min: Some(a),
                max: Some(b),
            } = cond
            {
                if a > b {
                    return Err(bad(&format!("audience.{field}"), "min is above max"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXAMPLE: &str = r#"{
        "name": "spring-15-returning-mobile",
        "offer": {"type": "discount", "pct": 15},
        "audience": {"segment": "returning", "device": ["mobile", "tablet"], "pre_value": {"min": 10}},
        "traffic": {"daily_users": 4000, "days": 14},
        "margin": 0.4
    }"#;

    #[test]
    fn the_readme_example_parses_with_defaults() {
        let p = Plan::parse(EXAMPLE).expect("parses");
        assert_eq!(p.offer, Offer::Discount { pct: 15.0 });
        assert_eq!(p.traffic.expected_users(), 56_000.0);
        assert_eq!(p.traffic.cv(), DEFAULT_TRAFFIC_CV);
        assert_eq!(p.holdout, DEFAULT_HOLDOUT);
        assert_eq!(
            p.audience.describe(),
            "device in {mobile, tablet}, pre_value >= 10, segment=returning"
        );
    }

    #[test]
    fn the_audience_filter_needs_every_condition() {
        let p = Plan::parse(EXAMPLE).expect("parses");
        let ctx = |seg: &str, dev: &str, pre: f64| {
            json!({"segment": seg, "device": dev, "pre_value": pre})
                .as_object()
                .cloned()
                .expect("object")
        };
        assert!(p.audience.matches(&ctx("returning", "mobile", 12.0)));
        assert!(!p.audience.matches(&ctx("new", "mobile", 12.0)));
        assert!(!p.audience.matches(&ctx("returning", "desktop", 12.0)));
        assert!(!p.audience.matches(&ctx("returning", "tablet", 5.0)));
        assert!(!p.audience.matches(&Map::new()));
        assert!(Audience::default().matches(&Map::new()));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#""offer": {"type": "discount", "pct": 150}"#, "offer.pct"),
            (r#""offer": {"type": "none"}"#, "offer.type"),
            (r#""traffic": {"daily_users": 10}"#, "traffic"),
            (
                r#""traffic": {"daily_users": 10, "days": -1}"#,
                "traffic.days",
            ),
            (r#""margin": 0"#, "margin"),
            (r#""holdout": 1.0"#, "holdout"),
            (
                r#""audience": {"pre_value": {"min": 5, "max": 1}}"#,
                "audience.pre_value",
            ),
        ];
        for (patch, field) in cases {
            let mut v: Value = serde_json::from_str(EXAMPLE).expect("json");
            let extra: Value = serde_json::from_str(&format!("{{{patch}}}")).expect("patch json");
            for (k, x) in extra.as_object().expect("object") {
                v[k] = x.clone();
            }
            let err = Plan::parse(&v.to_string()).expect_err(patch);
            assert_eq!(err.field, field, "{patch}: {err}");
        }
        let err = Plan::parse(r#"{"name": "x", "offer": {"type": "discount", "pct": 5}, "traffic": {"audience_size": 10}, "budgett": 3}"#)
            .expect_err("unknown field");
        assert!(err.reason.contains("budgett"), "{err}");
    }

    #[test]
    fn depth_round_trips_through_with_depth() {
        let o = Offer::SpendThreshold {
            min_spend: 50.0,
            amount_off: 10.0,
        };
        assert_eq!(offer_depth(&o), 20.0);
        assert_eq!(
            with_depth(&o, 10.0),
            Offer::SpendThreshold {
                min_spend: 50.0,
                amount_off: 5.0
            }
        );
        assert_eq!(offer_type(&Offer::Coupon { pct: 5.0 }), "coupon");
    }
}
