//! The conversion model p = sigmoid(w·x + b). Pure: rows in, weights and metrics out.
//! - Features: the learned dense encoding (`features`) and signed feature hashing with
//!   crosses (`hashing`).
//! - Learners: logistic regression with Adam, SGD or Newton (`logistic`), FTRL-Proximal over
//!   hashed rows (`ftrl`), the one-hidden-layer network (`mlp`).
//! - Evaluation: AUC with a bootstrap interval, log loss, normalised entropy, Brier,
//!   reliability bins and ECE (`eval`).
//!
//! Step 6 wires them into `train`, the registry and the Models panel (not yet done).

pub mod eval;
pub mod features;
pub mod ftrl;
pub mod hashing;
pub mod logistic;
pub mod mlp;
pub mod optim;
pub mod pipeline;

pub use features::FeatureSpec;
pub use logistic::{auc, fit, log_loss, Logistic, Rows, TrainOptions};
