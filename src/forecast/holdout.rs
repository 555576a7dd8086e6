//! Holdout sizing (placeholder, filled in below).
