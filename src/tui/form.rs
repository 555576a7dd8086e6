//! The new-campaign form (`n`): one text field per part of the definition, validated on submit
//! with the same rules as `campaign create`. Every problem is reported at once, each under its
//! own field, and a field left empty shows (as its placeholder) exactly what will be used.

use crate::domain::{CampaignKind, CampaignSpec, Offer, StandardKind, GUARDRAIL_METRICS};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

pub const FIELDS: [&str; 7] = ["key", "name", "kind", "arms", "control", "metric", "offer"];
const KEY: usize = 0;
const NAME: usize = 1;
const KIND: usize = 2;
const ARMS: usize = 3;
const CONTROL: usize = 4;
const METRIC: usize = 5;
const OFFER: usize = 6;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub values: [String; FIELDS.len()],
    pub focus: usize,
    /// (field index, message); empty until a submit fails.
    pub errors: Vec<(usize, String)>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    Editing,
    Cancelled,
    Submitted(Box<CampaignSpec>),
}

/// The metrics a campaign accepts: the values `CampaignSpec::validate` lets through among the
/// event kinds and the money metrics, so the list can never disagree with the check.
pub fn allowed_metrics() -> Vec<&'static str> {
    let mut probe = Form::valid_stand_in();
    StandardKind::ALL
        .iter()
        .map(|k| k.as_str())
        .chain(GUARDRAIL_METRICS.iter().copied())
        .filter(|m| {
            probe.metric = m.to_string();
            probe.validate().is_ok()
        })
        .collect()
}

impl Form {
    pub fn new() -> Form {
        let mut f = Form::default();
        f.values[KIND] = "ab".into();
        f.values[METRIC] = "purchase".into();
        f
    }

    fn v(&self, i: usize) -> String {
        self.values[i].trim().to_string()
    }

    /// What an empty field means: the value that will be used, or an example when the field
    /// must be filled in.
    pub fn placeholder(&self, i: usize) -> String {
        match i {
            KEY => "required, e.g. coupon-10".into(),
            NAME if self.v(KEY).is_empty() => "same as the key".into(),
            NAME => self.v(KEY),
            KIND => "ab or bandit".into(),
            ARMS => "required, e.g. control:50,coupon:50".into(),
            CONTROL => match CampaignSpec::parse_arms(&self.v(ARMS))
                .ok()
                .and_then(|a| a.first().map(|a| a.key.clone()))
            {
                Some(first) => first,
                None => "the first arm".into(),
            },
            METRIC => allowed_metrics().join(", "),
            OFFER => "none; e.g. coupon:value=10".into(),
            _ => String::new(),
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> FormOutcome {
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % FIELDS.len(),
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + FIELDS.len() - 1) % FIELDS.len()
            }
            KeyCode::Backspace => {
                self.values[self.focus].pop();
            }
            KeyCode::Char(c) => self.values[self.focus].push(c),
            KeyCode::Enter => match self.build() {
                Ok(spec) => return FormOutcome::Submitted(Box::new(spec)),
                Err(errors) => {
                    if let Some((i, _)) = errors.first() {
                        self.focus = *i;
                    }
                    self.errors = errors;
                }
            },
            _ => {}
        }
        FormOutcome::Editing
    }

    /// The spec the form describes, or every problem found, each with the field it is about.
    pub fn build(&self) -> Result<CampaignSpec, Vec<(usize, String)>> {
        let mut errors = Vec::new();
        let kind = match self.v(KIND).parse::<CampaignKind>() {
            Ok(k) => k,
            Err(e) => {
                errors.push((KIND, e));
                CampaignKind::Ab
            }
        };
        let mut arms = match CampaignSpec::parse_arms(&self.v(ARMS)) {
            Ok(a) => a,
            Err(e) => {
                errors.push((ARMS, e));
                Vec::new()
            }
        };
        let offer = self.v(OFFER);
        if !offer.is_empty() {
            match offer.split_once(':') {
                Some((arm, spec)) => match Offer::parse_spec(spec) {
                    Ok(o) => match arms.iter_mut().find(|a| a.key == arm) {
                        Some(a) => a.offer = o,
                        None => errors.push((OFFER, format!("no arm `{arm}` in arms"))),
                    },
                    Err(e) => errors.push((OFFER, e)),
                },
                None => errors.push((OFFER, "offer looks like ARM:value=10".into())),
            }
        }
        let key = self.v(KEY);
        let control = if self.v(CONTROL).is_empty() {
            arms.first().map(|a| a.key.clone())
        } else {
            Some(self.v(CONTROL))
        };
        let spec = CampaignSpec {
            name: if self.v(NAME).is_empty() {
                key.clone()
            } else {
                self.v(NAME)
            },
            kind,
            arms,
            control,
            traffic: 1.0,
            metric: self.v(METRIC),
            guardrails: vec![],
            custom_kinds: vec![],
            // Deterministic from the key so replays of the form give the same assignments.
            seed: (crate::allocation::unit_uniform(0, "seed:", &key) * (1u64 << 53) as f64) as u64,
            settings: Default::default(),
            bandit: None,
            key,
        };
        // `validate` stops at its first problem; asking it about one field at a time (the
        // others made valid) finds every field's problem in one submit.
        let valid = Self::valid_stand_in();
        let checks: [(usize, CampaignSpec); 4] = [
            (
                KEY,
                CampaignSpec {
                    key: spec.key.clone(),
                    ..valid.clone()
                },
            ),
            (
                ARMS,
                CampaignSpec {
                    arms: spec.arms.clone(),
                    control: None,
                    ..valid.clone()
                },
            ),
            (
                CONTROL,
                CampaignSpec {
                    arms: spec.arms.clone(),
                    control: spec.control.clone(),
                    ..valid.clone()
                },
            ),
            (
                METRIC,
                CampaignSpec {
                    metric: spec.metric.clone(),
                    ..valid.clone()
                },
            ),
        ];
        for (field, probe) in checks {
            if errors.iter().any(|(f, _)| *f == field) {
                continue;
            }
            // A control check means nothing while the arms themselves are wrong.
            if field == CONTROL && errors.iter().any(|(f, _)| *f == ARMS) {
                continue;
            }
            // The metric's message lists the allowed values itself (`CampaignSpec::validate`).
            if let Err(e) = probe.validate() {
                errors.push((field, e));
            }
        }
        if errors.is_empty() {
            if let Err(e) = spec.validate() {
                errors.push((ARMS, e));
            }
        }
        errors.sort_by_key(|(f, _)| *f);
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }

    /// A definition that passes validation, to test one field against.
    fn valid_stand_in() -> CampaignSpec {
        CampaignSpec {
            key: "k".into(),
            name: "k".into(),
            kind: CampaignKind::Ab,
            arms: CampaignSpec::parse_arms("a:1,b:1").unwrap_or_default(),
            control: None,
            traffic: 1.0,
            metric: "purchase".into(),
            guardrails: vec![],
            custom_kinds: vec![],
            seed: 0,
            settings: Default::default(),
            bandit: None,
        }
    }
}
