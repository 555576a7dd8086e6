//! How a bandit campaign learns: its policy, the reward it maximises and the schedule of its
//! allocation updates. Stored as JSON with the campaign (`campaigns.bandit`); every field has a
//! product default, so `{}` is a complete configuration (Thompson sampling on the campaign's
//! primary metric, 1% floor, updates every minute after 100 units per arm).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The policy that turns the arms' statistics into allocation weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Batched Thompson sampling: each arm's weight is its posterior probability of being best.
    #[default]
    Thompson,
    /// Top-two Thompson sampling (best-arm identification): weight split between the leader and
    /// the challenger by `top_two_beta`.
    TopTwo,
    /// UCB1: all non-floor weight on the arm with the highest upper confidence bound.
    Ucb1,
    /// Epsilon-greedy with decay: epsilon spread uniformly, the rest on the best mean.
    EpsilonGreedy,
    /// Disjoint LinUCB over the unit's context (weights depend on the context).
    LinUcb,
    /// Linear Thompson sampling over the unit's context (P(best) per context).
    LinTs,
    /// Uniform weights forever (a baseline; still logs periods).
    Uniform,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::Thompson,
        PolicyKind::TopTwo,
        PolicyKind::Ucb1,
        PolicyKind::EpsilonGreedy,
        PolicyKind::LinUcb,
        PolicyKind::LinTs,
        PolicyKind::Uniform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Thompson => "thompson",
            PolicyKind::TopTwo => "top_two",
            PolicyKind::Ucb1 => "ucb1",
            PolicyKind::EpsilonGreedy => "epsilon_greedy",
            PolicyKind::LinUcb => "lin_ucb",
            PolicyKind::LinTs => "lin_ts",
            PolicyKind::Uniform => "uniform",
        }
    }

    /// Whether the weights depend on the unit's context (one vector per context, not per
    /// period).
    pub fn is_contextual(self) -> bool {
        matches!(self, PolicyKind::LinUcb | PolicyKind::LinTs)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    /// Accepts the stored names and the short names operators type (`ts`, `eps`, `ucb`,
    /// `linucb`, `lints`, `top2`).
    fn from_str(s: &str) -> Result<Self, String> {
        let canonical = match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "ts" | "thompson" => PolicyKind::Thompson,
            "top2" | "top_two" => PolicyKind::TopTwo,
            "ucb" | "ucb1" => PolicyKind::Ucb1,
            "eps" | "epsilon_greedy" | "egreedy" => PolicyKind::EpsilonGreedy,
            "linucb" | "lin_ucb" => PolicyKind::LinUcb,
            "lints" | "lin_ts" => PolicyKind::LinTs,
            "uniform" => PolicyKind::Uniform,
            _ => {
                return Err(format!(
                    "unknown policy `{s}` (expected ts, top2, ucb, eps, linucb, lints or uniform)"
                ))
            }
        };
        Ok(canonical)
    }
}

/// What one unit earns the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// 1 if the unit clicked at least once (Beta-Bernoulli).
    Click,
    /// 1 if the unit bought at least once (Beta-Bernoulli).
    Conversion,
    /// The unit's revenue (Gaussian).
    Revenue,
    /// The unit's revenue minus the offer's cost (Gaussian): a deep discount that converts more
    /// but earns less loses.
    Profit,
}

impl RewardKind {
    pub const ALL: [RewardKind; 4] = [
        RewardKind::Click,
        RewardKind::Conversion,
        RewardKind::Revenue,
        RewardKind::Profit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Click => "click",
            RewardKind::Conversion => "conversion",
            RewardKind::Revenue => "revenue",
            RewardKind::Profit => "profit",
        }
    }

    /// 0/1 rewards (Beta posteriors) rather than amounts (Gaussian posteriors).
    pub fn is_binary(self) -> bool {
        matches!(self, RewardKind::Click | RewardKind::Conversion)
    }

    /// The reward that matches a campaign's primary metric (purchase -> conversion, click ->
    /// click, revenue, profit); `None` for metrics a bandit cannot maximise (cost, AOV...).
    pub fn for_metric(metric: &str) -> Option<RewardKind> {
        match metric {
            "purchase" | "conversion" => Some(RewardKind::Conversion),
            "click" | "ctr" => Some(RewardKind::Click),
            "revenue" => Some(RewardKind::Revenue),
            "profit" => Some(RewardKind::Profit),
            _ => None,
        }
    }
}

impl fmt::Display for RewardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RewardKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "click" => Ok(RewardKind::Click),
            "conversion" | "purchase" => Ok(RewardKind::Conversion),
            "revenue" => Ok(RewardKind::Revenue),
            "profit" => Ok(RewardKind::Profit),
            other => Err(format!(
                "unknown reward `{other}` (expected click, conversion, revenue or profit)"
            )),
        }
    }
}

/// A bandit campaign's learning configuration. `None` fields take the product default (the
/// `*_or_default` accessors are the one place those defaults live).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BanditConfig {
    #[serde(default)]
    pub policy: PolicyKind,
    /// Default: the campaign's primary metric (purchase -> conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardKind>,
    /// Recompute weights after this many new units (default 1000)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every_units: Option<u64>,
    /// ... or this many seconds (default 60), whichever comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every_secs: Option<u64>,
    /// Uniform until every arm has this many units (default 100) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore_min_units: Option<u64>,
    /// ... and this many seconds have passed since the start (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore_min_secs: Option<u64>,
    /// Minimum weight per arm, applied additively: p = f + (1 - K f) w (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    /// P(best) at which an arm is reported the winner (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner_threshold: Option<f64>,
    /// Once there is a winner, give it all but the floor and stop exploring (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_winner: bool,
    /// Epsilon-greedy's starting epsilon (default 0.1) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// ... divided by (1 + decay * updates so far) (default 0: fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_decay: Option<f64>,
    /// Top-two Thompson's share for the leader (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_two_beta: Option<f64>,
    /// Context fields the linear policies read (text fields one-hot, numeric standardised).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_fields: Vec<String>,
    /// LinUCB's width multiplier / LinTS's posterior scale (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_alpha: Option<f64>,
    /// Ridge penalty of the linear policies (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ridge: Option<f64>,
    /// Only units of allocation periods that ended at least this many seconds ago feed the
    /// posterior (default 0: every unit). Purchases arrive minutes after the visit; counting
    /// fresh units as non-buyers makes the arm with the most recent traffic (the one the policy
    /// favours) look worse than it is, and the weights oscillate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_delay_secs: Option<u64>,
}

impl BanditConfig {
    pub fn reward_or_default(&self, metric: &str) -> RewardKind {
        self.reward
            .or_else(|| RewardKind::for_metric(metric))
            .unwrap_or(RewardKind::Conversion)
    }
    pub fn update_every_units_or_default(&self) -> u64 {
        self.update_every_units.unwrap_or(1000)
    }
    pub fn update_every_secs_or_default(&self) -> u64 {
        self.update_every_secs.unwrap_or(60)
    }
    pub fn explore_min_units_or_default(&self) -> u64 {
        self.explore_min_units.unwrap_or(100)
    }
    pub fn explore_min_secs_or_default(&self) -> u64 {
        self.explore_min_secs.unwrap_or(300)
    }
    pub fn floor_or_default(&self) -> f64 {
        self.floor.unwrap_or(0.01)
    }
    pub fn winner_threshold_or_default(&self) -> f64 {
        self.winner_threshold.unwrap_or(0.95)
    }
    pub fn epsilon_or_default(&self) -> f64 {
        self.epsilon.unwrap_or(0.1)
    }
    pub fn epsilon_decay_or_default(&self) -> f64 {
        self.epsilon_decay.unwrap_or(0.0)
    }
    pub fn top_two_beta_or_default(&self) -> f64 {
        self.top_two_beta.unwrap_or(0.5)
    }
    pub fn linear_alpha_or_default(&self) -> f64 {
        self.linear_alpha.unwrap_or(1.0)
    }
    pub fn ridge_or_default(&self) -> f64 {
        self.ridge.unwrap_or(1.0)
    }
    pub fn reward_delay_secs_or_default(&self) -> u64 {
        self.reward_delay_secs.unwrap_or(0)
    }

    /// Checks the configuration for a campaign with `arms` arms and primary metric `metric`.
    pub fn validate(&self, arms: usize, metric: &str) -> Result<(), String> {
        let floor = self.floor_or_default();
        if !(floor.is_finite() && floor >= 0.0 && floor * arms as f64 <= 1.0) {
            return Err(format!(
                "floor {floor} must be >= 0 and at most 1/{arms} (one per arm must fit in 1)"
            ));
        }
        let t = self.winner_threshold_or_default();
        if !(t > 0.5 && t < 1.0) {
            return Err(format!("winner threshold must be in (0.5, 1), got {t}"));
        }
        let e = self.epsilon_or_default();
        if !(0.0..=1.0).contains(&e) {
            return Err(format!("epsilon must be in [0, 1], got {e}"));
        }
        let d = self.epsilon_decay_or_default();
        if !(d.is_finite() && d >= 0.0) {
            return Err(format!("epsilon decay must be >= 0, got {d}"));
        }
        let b = self.top_two_beta_or_default();
        if !(b > 0.0 && b < 1.0) {
            return Err(format!("top-two beta must be in (0, 1), got {b}"));
        }
        for (name, v) in [
            ("linear alpha", self.linear_alpha_or_default()),
            ("ridge", self.ridge_or_default()),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be > 0, got {v}"));
            }
        }
        if self.update_every_units == Some(0) && self.update_every_secs == Some(0) {
            return Err("updates need a schedule: every N units or every T seconds".into());
        }
        if self.policy.is_contextual() && self.context_fields.is_empty() {
            return Err(format!(
                "policy {} needs --context-fields (the unit's context fields it learns from)",
                self.policy
            ));
        }
        if self.reward.is_none() && RewardKind::for_metric(metric).is_none() {
            return Err(format!(
                "metric `{metric}` is not a bandit reward: set --reward click, conversion, \
                 revenue or profit"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_is_the_default_configuration() {
        let c: BanditConfig = serde_json::from_str("{}").expect("parse");
        assert_eq!(c, BanditConfig::default());
        assert_eq!(
            serde_json::to_string(&c).expect("json"),
            r#"{"policy":"thompson"}"#
        );
        assert_eq!(c.reward_or_default("purchase"), RewardKind::Conversion);
        assert!(c.validate(4, "purchase").is_ok());
    }

    #[test]
    fn short_policy_names_parse_and_bad_settings_are_named() {
        assert_eq!("ts".parse::<PolicyKind>(), Ok(PolicyKind::Thompson));
        assert_eq!("linTS".parse::<PolicyKind>(), Ok(PolicyKind::LinTs));
        assert!("greedy".parse::<PolicyKind>().is_err());
        let c = BanditConfig {
            floor: Some(0.3),
            ..Default::default()
        };
        assert!(c.validate(4, "purchase").unwrap_err().contains("floor"));
        let c = BanditConfig {
            policy: PolicyKind::LinUcb,
            ..Default::default()
        };
        assert!(c.validate(2, "purchase").unwrap_err().contains("context"));
        assert!(BanditConfig::default().validate(2, "aov").is_err());
    }
}
