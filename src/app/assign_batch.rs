//! Assignment at storefront speed: many units decided at once, by the same hash and weights as
//! [`super::assign`], with one look-up of the stored assignments and one write transaction per
//! batch instead of one per unit. A storefront pipes unit ids in (`assign KEY --batch`) and
//! reads an arm per line back.
//!
//! The rules are `assign`'s: a unit keeps its first arm; a new unit's arm is drawn from its raw
//! id by the weights in force (a contextual bandit's probabilities for its context) and stored
//! with that exact propensity; a bandit whose schedule came round learns first (once per
//! batch). A unit that appears twice in one batch gets one decision. Decisions are returned only
//! after the batch committed, so an arm the storefront shows is always logged.

use super::{bandit, privacy, AppError, Assignment, Env, Result};
use crate::allocation::{bucket, Bucket};
use crate::domain::{AssignmentRecord, CampaignKind, Record, Status};
use crate::store::{IngestItem, Ingestor, Store};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One unit to decide, with its context.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignRequest {
    pub unit: String,
    pub context: Map<String, Value>,
}

/// A checked request: the raw unit (the arm is drawn from it), the stored id, the context.
type Prepared = (String, String, Map<String, Value>);

/// Decides every request of one batch (see the module comment); one result per request, in
/// order. A request with an empty unit or a bad context gets its own error; the rest go on.
pub fn assign_batch(
    store: &mut Store,
    env: &Env,
    ids: &privacy::UnitIds,
    key: &str,
    requests: Vec<AssignRequest>,
) -> Result<Vec<std::result::Result<Assignment, String>>> {
    let (campaign, _) = store.campaign(key)?;
    if campaign.spec.kind == CampaignKind::Observational {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is observational: liftdeck does not assign its units"
        )));
    }
    if campaign.status != Status::Running {
        return Err(AppError::NotRunning {
            key: key.into(),
            status: campaign.status,
        });
    }
    if campaign.spec.kind == CampaignKind::Bandit {
        bandit::update_if_due(store, env, key)?;
    }
    let (campaign, arms) = store.campaign(key)?;
    let contextual = campaign.spec.kind == CampaignKind::Bandit
        && campaign
            .spec
            .bandit
            .as_ref()
            .is_some_and(|b| b.policy.is_contextual());
    let shared = bandit::unit_probabilities(store, &campaign, &arms, &Map::new())?;

    // Check and map every request first, so the look-up sees stored ids.
    let mut prepared: Vec<std::result::Result<Prepared, String>> =
        Vec::with_capacity(requests.len());
    for AssignRequest { unit, mut context } in requests {
        if unit.is_empty() {
            prepared.push(Err("unit must not be empty".into()));
            continue;
        }
        ids.map_context(&mut context);
        if let Err(e) = crate::lines::check_context(&context) {
            prepared.push(Err(format!("context: {e}")));
            continue;
        }
        let stored = ids.stored(&unit).into_owned();
        prepared.push(Ok((unit, stored, context)));
    }
    let wanted: Vec<&str> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|(_, s, _)| s.as_str()))
        .collect();
    let known = store.assignments_of(campaign.id, &wanted)?;

    let now = env.clock.now();
    let mut decided: HashMap<String, Assignment> = HashMap::new();
    let mut records = Vec::new();
    let mut out = Vec::with_capacity(prepared.len());
    for p in prepared {
        let (unit, stored, context) = match p {
            Ok(x) => x,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        if let Some((arm, propensity)) = known.get(&stored) {
            out.push(Ok(Assignment::Arm {
                arm: arm.clone(),
                propensity: *propensity,
                new: false,
            }));
            continue;
        }
        if let Some(first) = decided.get(&stored) {
            // The same unit earlier in this batch: its decision, not new a second time.
            out.push(Ok(match first {
                Assignment::Arm {
                    arm, propensity, ..
                } => Assignment::Arm {
                    arm: arm.clone(),
                    propensity: *propensity,
                    new: false,
                },
                Assignment::Excluded => Assignment::Excluded,
            }));
            continue;
        }
        let weights = if contextual {
            bandit::unit_probabilities(store, &campaign, &arms, &context)?
        } else {
            shared.clone()
        };
        let decision = match bucket(campaign.spec.seed, &unit, campaign.spec.traffic, &weights) {
            Bucket::Excluded => Assignment::Excluded,
            Bucket::Arm { index, propensity } => {
                let arm = arms[index].key.clone();
                records.push(IngestItem {
                    line: out.len() as u64 + 1,
                    raw: "",
                    parsed: Ok(Record::Assignment(AssignmentRecord {
                        campaign: key.into(),
                        unit: stored.clone(),
                        arm: arm.clone(),
                        propensity,
                        context,
                        ts: now,
                    })),
                });
                Assignment::Arm {
                    arm,
                    propensity,
                    new: true,
                }
            }
        };
        decided.insert(stored, decision.clone());
        out.push(Ok(decision));
    }
    if !records.is_empty() {
        let new = records.len();
        let mut ingestor = Ingestor::new(store, "assign", &env.actor, now)?;
        // As for `assign`: no unit id in the audit log, one row per batch.
        ingestor.audit_accepted(
            "assign",
            Some(key),
            &format!("{new} new units assigned in one batch"),
        );
        let outcome = ingestor.apply(records)?;
        for (line, error) in outcome.rejected {
            if let Some(slot) = out.get_mut(line as usize - 1) {
                *slot = Err(error.to_string());
            }
        }
    }
    Ok(out)
}
