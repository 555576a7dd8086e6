//! Causal estimators: what the campaign caused, not what its audience would have done anyway.
//! Pure: streaming accumulators over unit rows in, estimates out. Inverse-propensity weighting
//! of the arms, off-policy evaluation of a policy from another policy's logs, and replay
//! evaluation of learning policies on uniformly collected logs; later steps add
//! difference-in-differences and uplift learners.

pub mod did;
pub mod ipw;
pub mod observational;
pub mod ope;
pub mod replay;

pub use ipw::{balance, contrast, ArmMoments, Balance, Contrast};
