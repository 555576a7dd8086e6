//! liftdeck: a terminal console for e-commerce campaign experiments on one SQLite file.
//!
//! Layers (arrows point down only): `main.rs` + `cli/` (CLI) -> `app` (use cases) -> pure
//! modules (`allocation`, `lines`, `sim`, `text`) and `store` (the only SQL) -> `domain` (plain
//! types).

pub mod allocation;
pub mod app;
pub mod causal;
pub mod clock;
pub mod domain;
pub mod format;
pub mod lines;
/// The line formats under their old name, for code written before the move to `lines`.
pub use lines as ingest;
pub mod jobs;
pub mod model;
pub mod replay;
pub mod sim;
pub mod stats;
pub mod store;
pub mod text;
pub mod tui;
