//! The `liftdeck` command: CLI parsing and dispatch only. The clap definitions and the thin
//! handlers are in `cli/`, one file per command group; the work happens in `liftdeck::app`.
//! Every way out goes through `main`, so the exit-code table (`cli::exit`) holds for all of
//! them, clap's own errors included.

mod cli;

use anyhow::Result;
use clap::Parser;
use cli::exit::{self, CliError};
use cli::{
    bandit, bench, campaign, feed, forecast, forget, import, jobs, model, ops, privacy, report,
    Cli, Command, Session,
};
use liftdeck::app::Env;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = cli::json_requested(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e, json),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit::code_for(&e);
            let message = exit::describe(&e);
            eprintln!("error: {}", liftdeck::text::escape_output(&message));
            if json {
                let _ = cli::write_stdout(&(exit::json_error(code, &message) + "\n"));
            }
            ExitCode::from(code)
        }
    }
}

/// `--help` and `--version` succeed; every other parse error is a usage error (64), not
/// clap's default 2, which `health` uses for CRIT.
fn clap_exit(e: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let _ = e.print();
    if json {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let _ = cli::write_stdout(&(exit::json_error(exit::USAGE, message) + "\n"));
    }
    ExitCode::from(exit::USAGE)
}

/// Every command and the handler it goes to; no command opens the console.
fn run(cli: Cli) -> Result<ExitCode> {
    let env = Env::from_process();
    let command = cli.command.unwrap_or(Command::Console);
    let session = Session::new(cli.db, cli.read_only, &command)
        .with_pseudonymize(cli.pseudonymize)
        .with_warehouse(cli.warehouse);
    // The one gate: a command that changes anything is refused before it opens a file.
    if session.read_only && command.db_use().mutates() {
        return Err(CliError::ReadOnly(format!("`liftdeck {}`", command.name())).into());
    }
    let s = &session;
    match command {
        Command::Console => ops::console(s, &env, &cli.theme),
        Command::Campaign(cmd) => campaign::run(s, &env, cmd),
        Command::Assign(args) => feed::assign(s, &env, args),
        Command::Ingest(args) => feed::ingest(s, &env, args),
        Command::Import(cmd) => import::run(s, &env, cmd),
        Command::Export(args) => feed::export(s, args),
        Command::Verify(args) => feed::verify(s, args),
        Command::Rejects(args) => feed::rejects(s, args),
        Command::Forget(args) => forget::forget(s, &env, args),
        Command::Prune(args) => cli::retention::prune(s, &env, args),
        Command::Demo(args) => ops::demo(s, &env, args, &cli.theme),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Report(cmd) => report::run(s, &env, cmd),
        Command::Bandit(cmd) => bandit::run(s, &env, cmd),
        Command::Train(args) => jobs::train(s, &env, args),
        Command::Model(cmd) => model::run(s, &env, cmd),
        Command::Forecast(args) => forecast::run(s, &env, args),
        Command::Power(args) => report::power(args),
        Command::Replay(args) => ops::replay(args, s.read_only),
        Command::Health(args) => ops::health(s, &env, args),
        Command::Keygen(args) => privacy::keygen(args),
        Command::Privacy(cmd) => privacy::run(s, &env, cmd),
        Command::Warehouse(cmd) => cli::warehouse::run(s, cmd),
    }
}
