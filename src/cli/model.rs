//! `liftdeck model ...`: the conversion-model registry of a campaign. `list` and `show` read;
//! `activate` and `rollback` change which version is active (refused under --read-only, and
//! audited). An unknown version, or an activation that does not beat the active version
//! without `--force`, is refused with exit 65 like an unknown campaign.

use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Subcommand;
use liftdeck::app::models;
use liftdeck::app::Env;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ModelCmd {
    /// Every version of the campaign's model, oldest first; `*` marks the active one.
    List {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// One version: what it was trained on, its metrics (and with --json its weights).
    Show {
        key: String,
        version: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Make VERSION the active one; refused unless it beats the active version on validation
    /// log loss, or --force.
    Activate {
        key: String,
        version: i64,
        /// Activate even when it does not beat the active version.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Make an earlier version active again (default: the one active before the current one).
    Rollback {
        key: String,
        version: Option<i64>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

impl ModelCmd {
    /// Whether the command changes the registry (what `--read-only` refuses).
    pub fn writes(&self) -> bool {
        matches!(self, ModelCmd::Activate { .. } | ModelCmd::Rollback { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            ModelCmd::List { .. } => "model list",
            ModelCmd::Show { .. } => "model show",
            ModelCmd::Activate { .. } => "model activate",
            ModelCmd::Rollback { .. } => "model rollback",
        }
    }
}

pub fn run(session: &Session, env: &Env, cmd: ModelCmd) -> Result<ExitCode> {
    match cmd {
        ModelCmd::List { key, out } => {
            let store = session.open_to_read()?;
            let versions = models::list(&store, &key)?;
            if out.json {
                write_json(&serde_json::json!({ "campaign": key, "versions": versions }))?;
            } else {
                write_stdout(&models::format_list(&key, &versions))?;
            }
        }
        ModelCmd::Show { key, version, out } => {
            let store = session.open_to_read()?;
            let v = models::show(&store, &key, version)?;
            if out.json {
                write_json(&v)?;
            } else {
                write_stdout(&models::format_show(&key, &v))?;
            }
        }
        ModelCmd::Activate {
            key,
            version,
            force,
            out,
        } => {
            let mut store = session.open_to_write()?;
            let a = models::activate(&mut store, env, &key, version, force)?;
            print(&a, out)?;
        }
        ModelCmd::Rollback { key, version, out } => {
            let mut store = session.open_to_write()?;
            let a = models::rollback(&mut store, env, &key, version)?;
            print(&a, out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(a: &models::Activation, out: JsonFlag) -> Result<()> {
    if out.json {
        write_json(a)
    } else {
        write_stdout(&models::format_activation(a))
    }
}
