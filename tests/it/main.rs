//! The one integration-test binary: a module per area and one shared support module, so
//! SQLite, ratatui and tokio are linked once instead of once per file (DESIGN.md rule 12).

mod assignment;
mod bandit_loop;
mod cli_conventions;
mod cli_safety;
#[allow(dead_code)]
mod common;
mod concurrency;
mod console;
mod console_bandit;
mod console_chart;
mod console_format;
mod console_jobs;
mod console_models;
mod console_models_retrain;
mod console_trust;
mod crash;
mod demo;
mod health;
mod import_obd;
mod ingest_bad_input;
mod ingest_limits;
mod ingest_runs;
mod ingest_write_lock;
mod integrity;
mod jobs;
mod model_registry;
mod obd_click_model;
mod ope;
mod ope_model;
mod ope_policies;
mod periods;
mod replays;
mod report_ab;
mod report_bandit;
mod report_support;
mod rfm;
mod signals;
mod sim_truth;
mod stats_beta_posterior;
mod stats_cuped;
mod stats_golden;
mod stats_golden_bayes_seq;
mod stats_p_interval;
mod stats_sequential_sim;
mod stats_simulation_ci;
mod stats_verify_bayes;
mod stats_verify_cuped_power;
mod stats_verify_multiple_roi_ratio;
mod store_schema;
mod stratified;
mod terminal_safety;
mod train_flags;
mod train_learners;
#[allow(dead_code)]
mod verify_support;
