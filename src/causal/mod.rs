//! Causal estimators: what the campaign caused, not what its audience would have done anyway.
//! Pure: unit rows in, estimates out. Inverse-propensity weighting of the arms with logged
//! propensities, IPW and AIPW with an estimated propensity for observational campaigns,
//! two-way fixed-effects difference in differences, off-policy evaluation of a policy from
//! another policy's logs, and replay evaluation of learning policies on uniformly collected
//! logs, and uplift learners (T and X) with Qini evaluation.

pub mod did;
pub mod incremental;
pub mod ipw;
pub mod observational;
pub mod ope;
pub mod replay;
pub mod segments;
pub mod uplift;

pub use ipw::{balance, contrast, ArmMoments, Balance, Contrast};
