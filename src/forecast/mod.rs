//! Forecasts of planned campaigns (step 8): pure estimators, wired to commands in the next
//! step of the work. Budget-constrained targeting as a multiple-choice knapsack, scoring of
//! frozen forecasts against measured effects (coverage, bias, CRPS) with recalibration, and
//! the holdout a plan needs for its lift to be measurable.

pub mod budget;
pub mod holdout;
pub mod ledger;
