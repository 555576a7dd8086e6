pub mod holdout;
pub mod ledger;
