//! The Forecast panel's plan form and what the panel keeps: the plan being edited (`e`), the
//! newest plan forecast, the one pinned as plan A (`P`) to compare against, and the areas the
//! budget cost curve and the ledger's score fill once those are computed. A field left empty
//! uses the default its placeholder shows; a bad field is named under itself, with the same
//! rules as `liftdeck forecast plan` (`Plan::validate`).

use super::jobview::JobState;
use super::state::{App, Effect};
use crate::domain::Offer;
use crate::forecast::plan::{Audience, Condition, Plan, Traffic};
use crate::forecast::projection::PlanForecast;
use crate::jobs::JobKind;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

pub const FIELDS: [&str; 8] = [
    "name",
    "offer",
    "depth",
    "audience",
    "users/day",
    "days",
    "margin",
    "holdout",
];
const NAME: usize = 0;
const OFFER: usize = 1;
const DEPTH: usize = 2;
const AUDIENCE: usize = 3;
const DAILY: usize = 4;
const DAYS: usize = 5;
const MARGIN: usize = 6;
const HOLDOUT: usize = 7;

/// What an empty field means (the value used).
const DEFAULTS: [&str; 8] = [
    "draft", "discount", "10", "everyone", "1000", "14", "1", "0.1",
];

/// One point of the budget cost curve: spend, and the incremental orders it buys (point, low,
/// high of the 80% interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostPoint {
    pub spend: f64,
    pub orders: f64,
    pub low: f64,
    pub high: f64,
}

/// The forecast ledger's score: how often past forecasts' intervals held the outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LedgerScore {
    pub coverage_80: f64,
    pub coverage_95: f64,
    pub n: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanForm {
    pub values: [String; FIELDS.len()],
    pub focus: usize,
    /// (field index, message); empty until a plan fails its check.
    pub errors: Vec<(usize, String)>,
}

/// What the Forecast panel holds besides its jobs.
#[derive(Debug, Clone, Default)]
pub struct ForecastState {
    pub form: PlanForm,
    /// The form takes every key while this is set (`e` opens it, Enter or Esc closes it).
    pub editing: bool,
    /// The newest plan forecast (plan B once another is pinned).
    pub latest: Option<PlanForecast>,
    /// The forecast pinned with `P`, shown beside the newest one.
    pub pinned: Option<PlanForecast>,
    /// The name of the plan last sent to the forecaster (its job view is under that name).
    pub job_plan: Option<String>,
    /// `forecast budget`'s cost curve, once the console computes it.
    pub cost_curve: Option<Vec<CostPoint>>,
    /// The name of the plan last sent to `B`'s budget (its job view is under that name).
    pub budget_plan: Option<String>,
    /// The ledger's score, once the console reads it.
    pub ledger: Option<LedgerScore>,
    /// `a` ran the ship-an-arm forecast last: its text comes first on the panel (`F` puts
    /// the plan back on top).
    pub arms_first: bool,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanFormOutcome {
    Editing,
    /// Closed; the values stay for the next `e` and `F`.
    Closed,
}

impl PlanForm {
    pub fn placeholder(i: usize) -> String {
        match i {
            OFFER => "discount; or coupon, recommend".into(),
            DEPTH => "10 (% off; items for recommend)".into(),
            AUDIENCE => "everyone; e.g. segment=new,device=mobile|tablet".into(),
            _ => DEFAULTS[i].into(),
        }
    }

    fn v(&self, i: usize) -> String {
        let v = self.values[i].trim();
        if v.is_empty() {
            DEFAULTS[i].to_string()
        } else {
            v.to_string()
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> PlanFormOutcome {
        let n = FIELDS.len();
        match key.code {
            KeyCode::Esc => return PlanFormOutcome::Closed,
            KeyCode::Enter => {
                self.errors = self.build().err().unwrap_or_default();
                match self.errors.first() {
                    Some((i, _)) => self.focus = *i,
                    None => return PlanFormOutcome::Closed,
                }
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            KeyCode::Backspace => {
                self.values[self.focus].pop();
            }
            KeyCode::Char(c) => self.values[self.focus].push(c),
            _ => {}
        }
        PlanFormOutcome::Editing
    }

    fn number(&self, i: usize, errors: &mut Vec<(usize, String)>) -> f64 {
        match self.v(i).parse::<f64>() {
            Ok(x) if x.is_finite() => x,
            _ => {
                errors.push((i, format!("`{}` is not a number", self.v(i))));
                f64::NAN
            }
        }
    }

    /// The plan the form describes, or every problem found, each under its field.
    pub fn build(&self) -> Result<Plan, Vec<(usize, String)>> {
        let mut errors = Vec::new();
        let depth = self.number(DEPTH, &mut errors);
        let offer = match self.v(OFFER).as_str() {
            "discount" => Offer::Discount { pct: depth },
            "coupon" => Offer::Coupon { pct: depth },
            "recommend" if depth >= 0.0 && depth.fract() == 0.0 => Offer::Recommend {
                items: depth.min(f64::from(u32::MAX)) as u32,
            },
            "recommend" => {
                errors.push((DEPTH, "a whole number of items".into()));
                Offer::None
            }
            other => {
                errors.push((
                    OFFER,
                    format!(
                        "`{other}`: discount, coupon or recommend (a spend threshold needs \
                         PLAN.json: liftdeck forecast plan)"
                    ),
                ));
                Offer::None
            }
        };
        let audience = match parse_audience(&self.v(AUDIENCE)) {
            Ok(a) => a,
            Err(e) => {
                errors.push((AUDIENCE, e));
                Audience::default()
            }
        };
        let plan = Plan {
            name: self.v(NAME),
            offer,
            audience,
            traffic: Traffic {
                audience_size: None,
                daily_users: Some(self.number(DAILY, &mut errors)),
                days: Some(self.number(DAYS, &mut errors)),
                cv: None,
            },
            margin: self.number(MARGIN, &mut errors),
            cost_per_redemption: None,
            budget: None,
            depths: vec![],
            holdout: self.number(HOLDOUT, &mut errors),
            alpha: 0.05,
            power: 0.8,
        };
        if errors.is_empty() {
            if let Err(e) = plan.validate() {
                errors.push((field_of(&e.field), e.reason));
            }
        }
        errors.sort_by_key(|(f, _)| *f);
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(errors)
        }
    }
}

/// The form field a plan error's JSON path is about.
fn field_of(path: &str) -> usize {
    match path {
        "name" => NAME,
        "offer.type" => OFFER,
        p if p.starts_with("offer") => DEPTH,
        p if p.starts_with("audience") => AUDIENCE,
        "traffic.days" => DAYS,
        p if p.starts_with("traffic") => DAILY,
        "margin" => MARGIN,
        "holdout" => HOLDOUT,
        _ => NAME,
    }
}

/// `segment=new, device=mobile|tablet` (or `everyone`): each field equals a value, or one of
/// several separated by `|`.
pub fn parse_audience(text: &str) -> Result<Audience, String> {
    let mut a = Audience::default();
    if text.trim() == "everyone" || text.trim().is_empty() {
        return Ok(a);
    }
    for part in text.split(',') {
        let Some((field, value)) = part.split_once('=') else {
            return Err(format!("`{}` looks like field=value", part.trim()));
        };
        let (field, value) = (field.trim(), value.trim());
        if field.is_empty() || value.is_empty() {
            return Err(format!("`{}` looks like field=value", part.trim()));
        }
        let values: Vec<String> = value.split('|').map(|v| v.trim().to_string()).collect();
        let cond = if values.len() == 1 {
            Condition::Is(value.to_string())
        } else {
            Condition::OneOf(values)
        };
        a.0.insert(field.to_string(), cond);
    }
    Ok(a)
}

impl ForecastState {
    /// `P`: the newest forecast becomes plan A; the next one forecast is plan B beside it.
    pub fn pin(&mut self) -> String {
        match &self.latest {
            Some(f) => {
                let name = f.plan.clone();
                self.pinned = Some(f.clone());
                format!(
                    "pinned `{name}` as plan A: edit the plan (e) and forecast it (F) to compare"
                )
            }
            None => "nothing to pin yet: F forecasts the plan first".into(),
        }
    }

    /// The comparison's pair (A pinned, B newest), when there is one.
    pub fn pair(&self) -> Option<(&PlanForecast, &PlanForecast)> {
        let (a, b) = (self.pinned.as_ref()?, self.latest.as_ref()?);
        (a != b).then_some((a, b))
    }
}

impl App {
    /// `e`: the plan form takes the keys.
    pub(super) fn open_plan_form(&mut self) {
        self.forecast.editing = true;
        self.status_line = "plan: Tab next field, Enter keeps, Esc closes; then F forecasts".into();
    }

    pub(super) fn on_plan_form_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        match self.forecast.form.on_key(key) {
            PlanFormOutcome::Editing => {
                let n = self.forecast.form.errors.len();
                if n > 0 && key.code == KeyCode::Enter {
                    self.status_line = format!("{n} problem(s) in the plan: fix them, Esc closes");
                }
            }
            PlanFormOutcome::Closed => {
                self.forecast.editing = false;
                self.status_line = "plan kept: F forecasts it".into();
            }
        }
        vec![]
    }

    /// The form's plan, or `None` with the form opened on its problems (`refused` says what
    /// did not happen).
    fn checked_plan(&mut self, refused: &str) -> Option<Plan> {
        match self.forecast.form.build() {
            Ok(p) => {
                self.forecast.form.errors.clear();
                Some(p)
            }
            Err(errors) => {
                self.status_line = format!(
                    "{} problem(s) in the plan: {refused}; fix them and press Enter",
                    errors.len()
                );
                self.forecast.form.focus = errors.first().map_or(0, |e| e.0);
                self.forecast.form.errors = errors;
                self.forecast.editing = true;
                None
            }
        }
    }

    /// `F`: forecast the plan in the background; a plan with problems opens the form on them.
    pub(super) fn forecast_plan(&mut self) -> Vec<Effect> {
        if self.job_running(JobKind::PlanForecast) {
            self.status_line = "the plan forecast is already running: Esc cancels it".into();
            return vec![];
        }
        let Some(plan) = self.checked_plan("nothing forecast") else {
            return vec![];
        };
        self.forecast.arms_first = false;
        self.job_view(JobKind::PlanForecast, &plan.name).state = JobState::Running {
            done: 0.0,
            stage: "starting".into(),
        };
        self.forecast.job_plan = Some(plan.name.clone());
        self.status_line = format!("forecast of plan {} started: Esc cancels", plan.name);
        vec![Effect::ForecastPlan(Box::new(plan))]
    }

    /// `B`: the budget allocation for the plan in the form, in the background. Its budget is
    /// the plan's, else the cost of the plan's forecast (the job computes it); the status
    /// line says which once it finishes.
    pub(super) fn budget_plan(&mut self) -> Vec<Effect> {
        if self.job_running(JobKind::PlanBudget) {
            self.status_line = "the plan budget is already running: Esc cancels it".into();
            return vec![];
        }
        let Some(plan) = self.checked_plan("no budget computed") else {
            return vec![];
        };
        self.job_view(JobKind::PlanBudget, &plan.name).state = JobState::Running {
            done: 0.0,
            stage: "starting".into(),
        };
        self.forecast.budget_plan = Some(plan.name.clone());
        self.status_line = format!(
            "budget of plan {} started (budget: the cost of its forecast): Esc cancels",
            plan.name
        );
        vec![Effect::BudgetPlan(Box::new(plan))]
    }

    /// A finished budget: its allocation's curve (spend -> incremental orders, 80%) for the
    /// panel, and the status line saying which budget it used and the verdict.
    pub(super) fn budget_done(&mut self, b: &crate::app::plan_budget::PlanBudget) -> String {
        use crate::app::plan_budget::BudgetSource;
        self.forecast.cost_curve = Some(
            b.curve
                .iter()
                .map(|r| CostPoint {
                    spend: r.allocation.spend,
                    orders: r.allocation.orders.value,
                    low: r.allocation.orders.low_80,
                    high: r.allocation.orders.high_80,
                })
                .collect(),
        );
        let source = match b.budget_source {
            BudgetSource::ForecastCost => "the cost of the plan's forecast, as the plan names none",
            BudgetSource::Plan => "the plan's budget",
            BudgetSource::Given => "given",
        };
        let verdict = if b.beats_baselines_by > 0.0 {
            format!(
                "beats both baselines by {}",
                self.numbers.money_compact(b.beats_baselines_by)
            )
        } else {
            "does not beat both baselines".to_string()
        };
        format!(
            "budget of plan {} at {} ({source}): the allocation {verdict}",
            b.plan,
            self.numbers.money_compact(b.budget)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::plan::DEFAULT_HOLDOUT;

    #[test]
    fn empty_fields_give_the_defaults_and_a_valid_plan() {
        let plan = PlanForm::default().build().expect("defaults are valid");
        assert_eq!(plan.name, "draft");
        assert_eq!(plan.offer, Offer::Discount { pct: 10.0 });
        assert_eq!(plan.traffic.expected_users(), 14_000.0);
        assert_eq!(plan.holdout, DEFAULT_HOLDOUT);
        assert!(plan.audience.0.is_empty());
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut f = PlanForm::default();
        f.values[OFFER] = "bogus".into();
        f.values[DAYS] = "x".into();
        f.values[AUDIENCE] = "segment".into();
        let errs = f.build().expect_err("bad");
        let fields: Vec<usize> = errs.iter().map(|e| e.0).collect();
        assert_eq!(fields, vec![OFFER, AUDIENCE, DAYS]);
    }

    #[test]
    fn the_plan_check_lands_under_its_field() {
        let mut f = PlanForm::default();
        f.values[DAYS] = "400".into();
        let errs = f.build().expect_err("too long");
        assert_eq!(errs[0].0, DAYS);
    }

    #[test]
    fn audience_takes_values_and_alternatives() {
        let a = parse_audience("segment=new, device=mobile|tablet").expect("audience");
        assert_eq!(a.0.get("segment"), Some(&Condition::Is("new".into())));
        assert_eq!(
            a.0.get("device"),
            Some(&Condition::OneOf(vec!["mobile".into(), "tablet".into()]))
        );
    }
}
