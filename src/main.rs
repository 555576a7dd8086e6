//! The `liftdeck` command: CLI parsing and dispatch only. The clap definitions and the thin
//! handlers are in `cli/`, one file per command group; the work happens in `liftdeck::app`.

mod cli;

use anyhow::Result;
use clap::Parser;
use cli::{bench, campaign, feed, jobs, ops, report, Cli, Command};
use liftdeck::app::Env;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Every command and the handler it goes to; no command opens the console.
fn run(cli: Cli) -> Result<ExitCode> {
    let env = Env::from_process();
    let db = &cli.db;
    match cli.command.unwrap_or(Command::Console) {
        Command::Console => ops::console(db, &env, cli.read_only, &cli.theme),
        Command::Campaign(cmd) => campaign::run(db, &env, cmd),
        Command::Assign(args) => feed::assign(db, &env, args),
        Command::Ingest(args) => feed::ingest(db, &env, args),
        Command::Export(args) => feed::export(db, args),
        Command::Verify(args) => feed::verify(db, args),
        Command::Rejects(args) => feed::rejects(db, args),
        Command::Demo(args) => ops::demo(db, &env, args, &cli.theme),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Report(cmd) => report::run(db, &env, cli.read_only, cmd),
        Command::Train(args) => jobs::train(db, &env, cli.read_only, args),
        Command::Forecast(args) => jobs::forecast(db, &env, cli.read_only, args),
        Command::Power(args) => report::power(args),
        Command::Replay(args) => ops::replay(args, cli.read_only),
        Command::Health(args) => ops::health(db, &env, args),
    }
}
