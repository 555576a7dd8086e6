//! The conversion model p = sigmoid(w·x + b): a feature encoder for assignment contexts, a
//! logistic regression trained on cross-entropy with Adam, and the metrics that say whether
//! it learned anything (holdout log loss against the base rate, AUC, calibration). Pure: rows
//! in, weights and metrics out. Later steps add feature hashing, FTRL and an MLP beside it.

pub mod eval;
pub mod features;
pub mod logistic;
pub mod mlp;

pub use features::FeatureSpec;
pub use logistic::{auc, fit, log_loss, Logistic, Rows, TrainOptions};
