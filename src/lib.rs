//! liftdeck: a terminal console for e-commerce campaign experiments on one SQLite file.
//!
//! Layers (arrows point down only):
//! - `main.rs` + `cli/`: clap definitions, dispatch, exit codes; no logic.
//! - `tui/` (the console: state, update -> effects, views, keys, theme), `replay` (scripted
//!   fixtures on a virtual clock) and `jobs` (background retrain / causal / forecast runs).
//! - `app/`: the use cases, the one place that combines the store with the pure modules,
//!   including the console's snapshot (`app::snapshot`) and the report options
//!   (`app::report::options_for`) every caller shares.
//! - Pure, no I/O and no clock: `stats`, `bandit` (policies: statistics and context in, arm
//!   probabilities out), `model`, `causal`, `sim`, `allocation`, `lines` (line formats and
//!   validation), `format` (the one number format), `text` (escaping for terminals).
//! - `store/`: the only module that speaks SQL.
//! - `domain` (plain types, the rollup's field table) and `clock`.

pub mod allocation;
pub mod app;
pub mod bandit;
pub mod causal;
pub mod clock;
pub mod domain;
pub mod forecast;
pub mod format;
pub mod jobs;
pub mod linalg;
pub mod lines;
pub mod model;
pub mod privacy;
pub mod replay;
pub mod sim;
pub mod stats;
pub mod store;
pub mod text;
pub mod tui;
