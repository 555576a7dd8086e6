//! Plain types shared by every layer: campaigns, arms, offers, assignment and event records.
//!
//! Nothing here touches the database, the clock or the terminal; the store maps these to rows,
//! the ingest parser produces them from lines, the console and reports read them.

mod bandit;
mod rollup;

pub use bandit::{BanditConfig, PolicyKind, RewardKind};

pub use rollup::{ArmRollup, EventEffect, RollupField, RollupKind, RollupValue, UnitTotals};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Timestamps are integer microseconds since the Unix epoch, UTC (RFC 3339 at the edges).
pub type Micros = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Fixed weights for the whole campaign.
    Ab,
    /// Weights move as a policy learns (the bandit step fills in the policy).
    Bandit,
    /// Treatment was chosen outside liftdeck (people or rules: a coupon mailed to chosen
    /// customers); lines may omit the propensity and the effect is estimated from covariates.
    Observational,
}

impl CampaignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Ab => "ab",
            CampaignKind::Bandit => "bandit",
            CampaignKind::Observational => "observational",
        }
    }
}

impl FromStr for CampaignKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ab" => Ok(Self::Ab),
            "bandit" => Ok(Self::Bandit),
            "observational" => Ok(Self::Observational),
            other => Err(format!(
                "unknown campaign kind `{other}` (expected ab, bandit or observational)"
            )),
        }
    }
}

/// Lifecycle: draft -> running <-> paused -> stopped (running may also stop directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// The states this one may move to; the single source for both the check and the message.
    pub fn legal_moves(self) -> &'static [Status] {
        match self {
            Status::Draft => &[Status::Running],
            Status::Running => &[Status::Paused, Status::Stopped],
            Status::Paused => &[Status::Running, Status::Stopped],
            Status::Stopped => &[],
        }
    }

    pub fn can_move_to(self, next: Status) -> bool {
        self.legal_moves().contains(&next)
    }

    /// Whether traffic (assignments, events) may still be recorded for the campaign.
    /// Events that arrive late for a paused or stopped campaign are still its data.
    pub fn accepts_data(self) -> bool {
        !matches!(self, Status::Draft)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "draft" => Ok(Self::Draft),
            "running" => Ok(Self::Running),
            "paused" => Ok(Self::Paused),
            "stopped" => Ok(Self::Stopped),
            other => Err(format!("unknown status `{other}`")),
        }
    }
}

/// What an arm offers the shopper. Stored as JSON on the arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Offer {
    /// No offer: the control experience.
    #[default]
    None,
    /// A coupon worth `pct` percent of the order, redeemed by some purchasers.
    Coupon { pct: f64 },
    /// A price discount of `pct` percent applied to every purchase.
    Discount { pct: f64 },
    /// `amount_off` off orders of at least `min_spend`.
    SpendThreshold { min_spend: f64, amount_off: f64 },
    /// A block of `items` recommended items on the page.
    Recommend { items: u32 },
}

impl Offer {
    /// Parses the `--offer` value after `ARM:`: `type=coupon,value=10`, `value=10` (coupon),
    /// `type=discount,value=15`, `type=threshold,min_spend=50,value=10`, `type=recommend,items=6`.
    pub fn parse_spec(spec: &str) -> Result<Offer, String> {
        let mut kind = "coupon";
        let mut value: Option<f64> = None;
        let mut min_spend: Option<f64> = None;
        let mut items: Option<u32> = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("offer part `{part}` is not key=value"))?;
            let num = || -> Result<f64, String> {
                let x: f64 = v
                    .parse()
                    .map_err(|_| format!("offer `{k}` must be a number, got `{v}`"))?;
                if !x.is_finite() || x < 0.0 {
                    return Err(format!(
                        "offer `{k}` must be a non-negative number, got `{v}`"
                    ));
                }
                Ok(x)
            };
            match k {
                "type" => kind = v,
                "value" | "pct" | "amount_off" => value = Some(num()?),
                "min_spend" => min_spend = Some(num()?),
                "items" => items = Some(num()? as u32),
                other => return Err(format!("unknown offer field `{other}`")),
            }
        }
        let need = |x: Option<f64>, what: &str| x.ok_or_else(|| format!("offer needs `{what}`"));
        match kind {
            "none" => Ok(Offer::None),
            "coupon" => Ok(Offer::Coupon {
                pct: need(value, "value")?,
            }),
            "discount" => Ok(Offer::Discount {
                pct: need(value, "value")?,
            }),
            "threshold" | "spend_threshold" => Ok(Offer::SpendThreshold {
                min_spend: need(min_spend, "min_spend")?,
                amount_off: need(value, "value")?,
            }),
            "recommend" => Ok(Offer::Recommend {
                items: items.unwrap_or(4),
            }),
            other => Err(format!(
                "unknown offer type `{other}` (coupon, discount, threshold, recommend, none)"
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Offer::None => "no offer".into(),
            Offer::Coupon { pct } => format!("{pct}% coupon"),
            Offer::Discount { pct } => format!("{pct}% discount"),
            Offer::SpendThreshold {
                min_spend,
                amount_off,
            } => format!("{amount_off} off orders >= {min_spend}"),
            Offer::Recommend { items } => format!("{items} recommended items"),
        }
    }
}

/// The standard event kinds; campaigns may declare custom ones on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandardKind {
    Exposure,
    Click,
    AddToCart,
    Purchase,
}

impl StandardKind {
    pub const ALL: [StandardKind; 4] = [
        StandardKind::Exposure,
        StandardKind::Click,
        StandardKind::AddToCart,
        StandardKind::Purchase,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StandardKind::Exposure => "exposure",
            StandardKind::Click => "click",
            StandardKind::AddToCart => "add_to_cart",
            StandardKind::Purchase => "purchase",
        }
    }
    pub fn parse(s: &str) -> Option<StandardKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An arm as defined on a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSpec {
    pub key: String,
    /// Relative allocation weight; normalised over the campaign's arms.
    pub weight: f64,
    #[serde(default)]
    pub offer: Offer,
}

/// Everything needed to (re)create a campaign: what `campaign create` takes and what an
/// export's `campaign` line carries, so an export is self-contained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSpec {
    pub key: String,
    pub name: String,
    pub kind: CampaignKind,
    pub arms: Vec<ArmSpec>,
    pub control: Option<String>,
    /// Fraction of units that enter the campaign at all, in (0, 1].
    pub traffic: f64,
    /// The primary metric, an event kind (default purchase).
    pub metric: String,
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// Custom event kinds accepted on top of the standard four.
    #[serde(default)]
    pub custom_kinds: Vec<String>,
    /// Hash seed for deterministic assignment; fixed at creation. A JSON string, since seeds
    /// pass 2^53 and tools that read JSON numbers as doubles (jq 1.6) would round them; a
    /// number is still accepted on input (exports written before this change).
    #[serde(with = "json_u64")]
    pub seed: u64,
    /// How reports on this campaign are computed unless a command overrides it.
    #[serde(default)]
    pub settings: ReportSettings,
    /// How a bandit campaign learns (`None`: the defaults; ignored for A/B tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandit: Option<BanditConfig>,
}

/// Per-campaign report settings; `None` means the product default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportSettings {
    /// Total units at which the operator expects to decide (tunes always-valid intervals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_star: Option<f64>,
    /// Multiple-testing correction across arms: `holm` or `bh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Tolerated relative harm on guardrail metrics before they are flagged (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_margin: Option<f64>,
}

impl ReportSettings {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(n) = self.n_star {
            if !(n.is_finite() && n >= 10.0) {
                return Err(format!("n_star must be at least 10 units, got {n}"));
            }
        }
        if let Some(c) = &self.correction {
            if c != "holm" && c != "bh" {
                return Err(format!("correction `{c}`: use holm or bh"));
            }
        }
        if let Some(a) = self.alpha {
            if !(a > 0.0 && a < 0.5) {
                return Err(format!("alpha must be in (0, 0.5), got {a}"));
            }
        }
        if let Some(m) = self.guardrail_margin {
            if !(m.is_finite() && m >= 0.0) {
                return Err(format!("guardrail margin must be >= 0, got {m}"));
            }
        }
        Ok(())
    }
}

impl CampaignSpec {
    /// Checks the definition and says what is wrong in the operator's words.
    pub fn validate(&self) -> Result<(), String> {
        if self.key.is_empty()
            || !self
                .key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(format!(
                "campaign key `{}` must be non-empty and use letters, digits, '-', '_' or '.'",
                self.key
            ));
        }
        // Names and keys are printed on operators' terminals; a control character in one is
        // an attack or an accident, never a name.
        let texts = std::iter::once(("name", &self.name))
            .chain(self.arms.iter().map(|a| ("arm key", &a.key)))
            .chain(self.custom_kinds.iter().map(|k| ("custom kind", k)));
        for (what, text) in texts {
            if text.chars().any(char::is_control) {
                return Err(format!(
                    "{what} `{}` contains a control character",
                    crate::text::escape_control(text)
                ));
            }
        }
        if self.arms.len() < 2 {
            return Err("a campaign needs at least two arms".into());
        }
        // The observational estimator compares one treated arm with the control.
        if self.kind == CampaignKind::Observational && self.arms.len() != 2 {
            return Err(format!(
                "an observational campaign has exactly two arms (the treated one and the control), got {}",
                self.arms.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for arm in &self.arms {
            if arm.key.is_empty() {
                return Err("arm keys must be non-empty".into());
            }
            if !seen.insert(arm.key.as_str()) {
                return Err(format!("arm `{}` appears twice", arm.key));
            }
            if !(arm.weight.is_finite() && arm.weight > 0.0) {
                return Err(format!(
                    "arm `{}` weight must be a positive number, got {}",
                    arm.key, arm.weight
                ));
            }
        }
        if !self.arms.iter().map(|a| a.weight).sum::<f64>().is_finite() {
            return Err("arm weights are too large: their sum is not a finite number".into());
        }
        if let Some(c) = &self.control {
            if !self.arms.iter().any(|a| &a.key == c) {
                return Err(format!("control `{c}` is not one of the arms"));
            }
        }
        if !(self.traffic > 0.0 && self.traffic <= 1.0) {
            return Err(format!("traffic must be in (0, 1], got {}", self.traffic));
        }
        // The primary metric is an event kind (its conversion rate) or a money metric per unit.
        if !self.is_known_kind(&self.metric)
            && !crate::domain::GUARDRAIL_METRICS.contains(&self.metric.as_str())
        {
            let allowed: Vec<&str> = StandardKind::ALL
                .iter()
                .map(|k| k.as_str())
                .chain(self.custom_kinds.iter().map(String::as_str))
                .chain(crate::domain::GUARDRAIL_METRICS.iter().copied())
                .collect();
            return Err(format!(
                "metric `{}` is not an event kind of this campaign or a money metric: use one of {}",
                self.metric,
                allowed.join(", ")
            ));
        }
        for g in &self.guardrails {
            if !crate::domain::GUARDRAIL_METRICS.contains(&g.as_str()) && !self.is_known_kind(g) {
                return Err(format!("guardrail `{g}` is not a known metric"));
            }
        }
        self.settings.validate()?;
        for k in &self.custom_kinds {
            if StandardKind::parse(k).is_some() || k.is_empty() {
                return Err(format!("custom kind `{k}` is empty or a standard kind"));
            }
        }
        Ok(())
    }

    pub fn is_known_kind(&self, kind: &str) -> bool {
        StandardKind::parse(kind).is_some() || self.custom_kinds.iter().any(|k| k == kind)
    }

    /// Parses `control:50,coupon:50` into arms with weights. Either every arm has a weight or
    /// none has (then they are equal): `control:50,coupon` is refused, naming `coupon`, since
    /// reading the missing weight as 1 would silently give it 2% of the traffic.
    pub fn parse_arms(spec: &str) -> Result<Vec<ArmSpec>, String> {
        let parts: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let weighted = parts.iter().filter(|p| p.contains(':')).count();
        if weighted > 0 && weighted < parts.len() {
            let missing: Vec<&str> = parts.iter().filter(|p| !p.contains(':')).copied().collect();
            return Err(format!(
                "arm{} `{}` ha{} no weight: give every arm one (e.g. control:50,coupon:50) or none \
                 (equal weights)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join("`, `"),
                if missing.len() > 1 { "ve" } else { "s" },
            ));
        }
        parts
            .into_iter()
            .map(|part| {
                let (key, w) = part.split_once(':').unwrap_or((part, "1"));
                let key = key.trim();
                let weight: f64 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("arm `{key}`: weight `{w}` is not a number"))?;
                if !(weight.is_finite() && weight > 0.0) {
                    return Err(format!(
                        "arm `{key}`: weight `{w}` must be a positive, finite number"
                    ));
                }
                Ok(ArmSpec {
                    key: key.to_string(),
                    weight,
                    offer: Offer::None,
                })
            })
            .collect()
    }
}

/// A `u64` as a JSON string on output, a string or a number on input.
pub mod json_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t.parse().map_err(|_| {
                serde::de::Error::custom(format!("`{t}` is not a seed (0 to 2^64-1)"))
            }),
        }
    }
}

/// Timestamps in JSON output: RFC 3339 strings, as in text and line formats (stored and
/// computed as microseconds). Use with `#[serde(serialize_with = "...")]`.
pub mod json_time {
    use super::Micros;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(us: &Micros, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::clock::format_rfc3339(*us))
    }

    pub fn option<S: Serializer>(us: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
        match us {
            Some(us) => serialize(us, s),
            None => s.serialize_none(),
        }
    }
}

/// Metrics (besides event kinds) a guardrail may name.
pub const GUARDRAIL_METRICS: &[&str] = &["revenue", "cost", "profit", "aov"];

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub spec: CampaignSpec,
    pub status: Status,
    #[serde(serialize_with = "json_time::serialize")]
    pub created_at: Micros,
    #[serde(serialize_with = "json_time::option")]
    pub started_at: Option<Micros>,
    #[serde(serialize_with = "json_time::option")]
    pub stopped_at: Option<Micros>,
}

/// An arm as stored, with its database id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arm {
    pub id: i64,
    pub key: String,
    pub weight: f64,
    pub offer: Offer,
}

/// One unit's assignment to an arm, as an ingest line or an `assign` decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    pub campaign: String,
    pub unit: String,
    pub arm: String,
    /// Probability with which this arm was chosen for this unit (for IPW/off-policy later).
    pub propensity: f64,
    /// Free-form context; `pre_value` (pre-period spend) feeds CUPED.
    pub context: serde_json::Map<String, serde_json::Value>,
    pub ts: Micros,
}

impl AssignmentRecord {
    pub fn pre_value(&self) -> Option<f64> {
        self.context
            .get("pre_value")
            .and_then(|v| v.as_f64())
            .filter(|x| x.is_finite())
    }
}

/// One thing a unit did after assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: String,
    pub campaign: String,
    pub unit: String,
    pub kind: String,
    /// Revenue attributed to the event (0 when none).
    pub value: f64,
    /// What the offer cost on this event (discount granted, coupon redeemed).
    pub cost: f64,
    pub ts: Micros,
}

/// A parsed, shape-valid input line (campaign/arm existence is checked against the store).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Campaign(Box<CampaignDefinition>),
    Assignment(AssignmentRecord),
    Event(EventRecord),
}

/// A campaign line in a stream: the spec plus its status, so exports are self-contained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDefinition {
    #[serde(flatten)]
    pub spec: CampaignSpec,
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_allows_only_documented_moves() {
        use Status::*;
        let all = [Draft, Running, Paused, Stopped];
        let legal = [
            (Draft, Running),
            (Running, Paused),
            (Running, Stopped),
            (Paused, Running),
            (Paused, Stopped),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_move_to(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn offer_specs_parse() {
        assert_eq!(
            Offer::parse_spec("value=10").unwrap(),
            Offer::Coupon { pct: 10.0 }
        );
        assert_eq!(
            Offer::parse_spec("type=threshold,min_spend=50,value=5").unwrap(),
            Offer::SpendThreshold {
                min_spend: 50.0,
                amount_off: 5.0
            }
        );
        assert!(Offer::parse_spec("type=discount").is_err());
        assert!(Offer::parse_spec("value=-3").is_err());
    }

    #[test]
    fn arms_parse_with_weights() {
        let arms = CampaignSpec::parse_arms("control:50, coupon:50").unwrap();
        assert_eq!(arms.len(), 2);
        assert_eq!(arms[1].key, "coupon");
        assert_eq!(arms[1].weight, 50.0);
        assert!(CampaignSpec::parse_arms("a:x").is_err());
        let equal = CampaignSpec::parse_arms("a,b,c").unwrap();
        assert!(equal.iter().all(|a| a.weight == 1.0));
    }

    #[test]
    fn a_missing_weight_is_refused_by_name() {
        let e = CampaignSpec::parse_arms("control:50,coupon").unwrap_err();
        assert!(e.contains("`coupon`"), "{e}");
        for bad in ["a:0,b:1", "a:-1,b:1", "a:nan,b:1", "a:inf,b:1"] {
            assert!(CampaignSpec::parse_arms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weights_whose_sum_overflows_are_refused() {
        let mut spec = sample_spec();
        spec.arms = CampaignSpec::parse_arms("a:1e308,b:1e308").unwrap();
        spec.control = Some("a".into());
        let e = spec.validate().unwrap_err();
        assert!(e.contains("finite"), "{e}");
        spec.arms[1].weight = 0.0;
        assert!(spec.validate().is_err(), "zero weights are refused too");
    }

    #[test]
    fn seeds_are_json_strings_and_numbers_are_still_read() {
        let spec = CampaignSpec {
            seed: u64::MAX - 6,
            ..sample_spec()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["seed"], serde_json::json!((u64::MAX - 6).to_string()));
        let back: CampaignSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.seed, spec.seed);
        let mut old = json;
        old["seed"] = serde_json::json!(12345u64);
        let back: CampaignSpec = serde_json::from_value(old).unwrap();
        assert_eq!(back.seed, 12345);
    }

    fn sample_spec() -> CampaignSpec {
        CampaignSpec {
            key: "k".into(),
            name: "k".into(),
            kind: CampaignKind::Ab,
            arms: CampaignSpec::parse_arms("a:1,b:1").unwrap(),
            control: Some("a".into()),
            traffic: 1.0,
            metric: "purchase".into(),
            guardrails: vec![],
            custom_kinds: vec![],
            seed: 1,
            settings: ReportSettings::default(),
            bandit: None,
        }
    }
}
