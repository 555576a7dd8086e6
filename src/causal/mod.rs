//! Causal estimators: what the campaign caused, not what its audience would have done anyway.
//! Pure: streaming accumulators over unit rows in, estimates out. Later steps add AIPW,
//! difference-in-differences and uplift learners beside inverse-propensity weighting.

pub mod ipw;

pub use ipw::{balance, contrast, ArmMoments, Balance, Contrast};
