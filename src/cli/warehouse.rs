//! `liftdeck warehouse init|status`: attach a ClickHouse data plane and see its shards.

use super::exit::CliError;
use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::{Context, Result};
use clap::Subcommand;
use liftdeck::store::warehouse::{WarehouseUrl, SETTING};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum WarehouseCmd {
    /// Make the warehouse named by --warehouse (or $LIFTDECK_WAREHOUSE) this database's data
    /// plane and create its tables on every node. Idempotent; refused for a database that
    /// already holds traffic of its own or names another warehouse.
    Init {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Every node's version and row counts; exit 2 when a node does not answer.
    Status {
        #[command(flatten)]
        out: JsonFlag,
    },
}

impl WarehouseCmd {
    pub fn writes(&self) -> bool {
        matches!(self, WarehouseCmd::Init { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            WarehouseCmd::Init { .. } => "warehouse init",
            WarehouseCmd::Status { .. } => "warehouse status",
        }
    }
}

pub fn run(session: &Session, cmd: WarehouseCmd) -> Result<ExitCode> {
    match cmd {
        WarehouseCmd::Init { out } => init(session, out),
        WarehouseCmd::Status { out } => status(session, out),
    }
}

fn init(session: &Session, out: JsonFlag) -> Result<ExitCode> {
    let mut store = session.open_or_create_for_warehouse_init()?;
    let url =
        match (&session.warehouse, store.setting(SETTING)?) {
            (Some(url), _) => url.clone(),
            (None, Some(existing)) => WarehouseUrl::parse(&existing).map_err(CliError::Usage)?,
            (None, None) => return Err(CliError::Usage(
                "warehouse init needs --warehouse clickhouse://HOST:PORT/DATABASE[?cluster=NAME]"
                    .into(),
            )
            .into()),
        };
    store.set_warehouse(&url)?;
    let warehouse = store
        .warehouse()
        .context("the warehouse was just attached")?;
    warehouse
        .init()
        .map_err(|e| liftdeck::store::StoreError::Warehouse(e.to_string()))?;
    if out.json {
        write_json(&serde_json::json!({
            "warehouse": url.to_string(),
            "nodes": url.nodes,
            "cluster": url.cluster,
        }))?;
    } else {
        write_stdout(&format!(
            "{} is this database's data plane: tables ready on {} node{}\n",
            url,
            url.nodes.len(),
            if url.nodes.len() == 1 { "" } else { "s" }
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn status(session: &Session, out: JsonFlag) -> Result<ExitCode> {
    let store = session.open_to_read()?;
    let Some(warehouse) = store.warehouse() else {
        return Err(CliError::Usage(format!(
            "{} has no warehouse: its data is in the file itself (`liftdeck warehouse init \
             --warehouse URL` attaches one)",
            session.db.display()
        ))
        .into());
    };
    let shards = warehouse.health();
    let down = shards.iter().filter(|s| s.error.is_some()).count();
    if out.json {
        write_json(&serde_json::json!({
            "warehouse": warehouse.url().to_string(),
            "nodes": shards,
            "status": if down == 0 { "OK" } else { "CRIT" },
        }))?;
    } else {
        let mut text = format!("warehouse {}\n", warehouse.url());
        for s in &shards {
            match (&s.version, &s.error) {
                (Some(v), _) => text.push_str(&format!(
                    "  {}  OK    ClickHouse {v}, {} assignment rows, {} event rows\n",
                    s.node,
                    liftdeck::format::count(s.assignments.unwrap_or(0) as i64),
                    liftdeck::format::count(s.events.unwrap_or(0) as i64),
                )),
                (None, e) => text.push_str(&format!(
                    "  {}  CRIT  {}\n",
                    s.node,
                    e.as_deref().unwrap_or("no answer")
                )),
            }
        }
        write_stdout(&text)?;
    }
    Ok(if down == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::HEALTH_CRIT)
    })
}
