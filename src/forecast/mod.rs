//! Forecasts of planned campaigns (step 8), pure: a plan (`plan`) and what its forecast says
//! (`projection`); the effect model that learns offer response from past randomised campaigns
//! and draws predictive samples (`effect`); budget-constrained targeting as a multiple-choice
//! knapsack (`budget`); the holdout a plan needs for its lift to be measurable (`holdout`); and
//! scoring of frozen forecasts against measured effects with recalibration (`ledger`).

pub mod budget;
pub mod coverage;
pub mod effect;
pub mod holdout;
pub mod ledger;
pub mod plan;
pub mod projection;
