//! The new-campaign form (`n`): one text field per part of the definition, validated on submit
//! with the same rules as `campaign create`, errors shown next to the fields.

use crate::domain::{CampaignKind, CampaignSpec, Offer};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

pub const FIELDS: [(&str, &str); 7] = [
    ("key", "coupon-10"),
    ("name", "10% coupon"),
    ("kind", "ab or bandit"),
    ("arms", "control:50,coupon:50"),
    ("control", "first arm if empty"),
    ("metric", "purchase"),
    ("offer", "coupon:value=10 (optional)"),
];

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

impl Form {
    pub fn new() -> Form {
        let mut f = Form::default();
        f.values[2] = "ab".into();
        f.values[5] = "purchase".into();
        f
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

    /// The spec the form describes, or every problem found with the field it belongs to.
    pub fn build(&self) -> Result<CampaignSpec, Vec<(usize, String)>> {
        let v = |i: usize| self.values[i].trim().to_string();
        let mut errors = Vec::new();
        let kind = match v(2).parse::<CampaignKind>() {
            Ok(k) => k,
            Err(e) => {
                errors.push((2, e));
                CampaignKind::Ab
            }
        };
        let mut arms = match CampaignSpec::parse_arms(&v(3)) {
            Ok(a) => a,
            Err(e) => {
                errors.push((3, e));
                Vec::new()
            }
        };
        if !v(6).is_empty() {
            match v(6).split_once(':') {
                Some((arm, spec)) => match Offer::parse_spec(spec) {
                    Ok(offer) => match arms.iter_mut().find(|a| a.key == arm) {
                        Some(a) => a.offer = offer,
                        None => errors.push((6, format!("no arm `{arm}` in arms"))),
                    },
                    Err(e) => errors.push((6, e)),
                },
                None => errors.push((6, "offer looks like ARM:value=10".into())),
            }
        }
        let key = v(0);
        let control = if v(4).is_empty() {
            arms.first().map(|a| a.key.clone())
        } else {
            Some(v(4))
        };
        let spec = CampaignSpec {
            name: if v(1).is_empty() { key.clone() } else { v(1) },
            kind,
            arms,
            control,
            traffic: 1.0,
            metric: v(5),
            guardrails: vec![],
            custom_kinds: vec![],
            // Deterministic from the key so replays of the form give the same assignments.
            seed: (crate::allocation::unit_uniform(0, "seed:", &key) * (1u64 << 53) as f64) as u64,
            settings: Default::default(),
            key,
        };
        if errors.is_empty() {
            if let Err(e) = spec.validate() {
                errors.push((field_of(&e), e));
            }
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }
}

/// Which field a validation message is about, from the words it uses.
fn field_of(message: &str) -> usize {
    let m = message.to_lowercase();
    if m.contains("campaign key") {
        0
    } else if m.contains("control") {
        4
    } else if m.contains("metric") {
        5
    } else {
        3
    }
}
