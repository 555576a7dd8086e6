//! `keygen` (a new pseudonymisation key file) and `privacy context|status` (identifying
//! context fields and what the database pseudonymises). The work is in `app::privacy`.

use super::exit::usage;
use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::{Args, Subcommand};
use liftdeck::app::privacy::{self, ContextRule};
use liftdeck::app::Env;
use liftdeck::text::escape_control;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct KeygenArgs {
    /// The key file to create (mode 0600); an existing file is never overwritten.
    keyfile: PathBuf,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Subcommand)]
pub enum PrivacyCmd {
    /// Mark a context field identifying: `hash` stores a keyed hash of its value (needs the
    /// key), `drop` removes it, `keep` stores it as given again. Applies to lines from now on.
    Context(ContextArgs),
    /// Whether the database pseudonymises, its key's fingerprint and key file, and the
    /// identifying context fields.
    Status {
        #[command(flatten)]
        out: JsonFlag,
    },
}

impl PrivacyCmd {
    pub fn writes(&self) -> bool {
        matches!(self, PrivacyCmd::Context(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            PrivacyCmd::Context(_) => "privacy context",
            PrivacyCmd::Status { .. } => "privacy status",
        }
    }
}

#[derive(Args)]
pub struct ContextArgs {
    /// A top-level field of assignment contexts, e.g. `email`.
    field: String,
    #[arg(value_parser = ["hash", "drop", "keep"])]
    rule: String,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn keygen(args: KeygenArgs) -> Result<ExitCode> {
    let fingerprint = match privacy::create_key_file(&args.keyfile) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(usage!(
                "key file {} already exists; keygen never overwrites a key (ids hashed with it \
                 would stop matching their customers). Choose a new path",
                args.keyfile.display()
            ))
        }
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("creating key file {}", args.keyfile.display())))
        }
    };
    let path = args.keyfile.display().to_string();
    if args.out.json {
        write_json(&serde_json::json!({"key_file": path, "fingerprint": fingerprint}))?;
    } else {
        write_stdout(&format!(
            "created key file {} (mode 0600), fingerprint {fingerprint}\nkeep it secret and \
             backed up: without it no raw id can be ingested into a database it pseudonymises\n",
            escape_control(&path)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(session: &Session, env: &Env, cmd: PrivacyCmd) -> Result<ExitCode> {
    match cmd {
        PrivacyCmd::Context(args) => {
            let rule = match args.rule.as_str() {
                "keep" => None,
                r => Some(ContextRule::parse(r).ok_or_else(|| usage!("unknown rule `{r}`"))?),
            };
            let mut store = session.open_to_write()?;
            let before = privacy::set_context_rule(
                &mut store,
                env,
                &args.field,
                rule,
                session.pseudonymize.as_deref(),
            )?;
            let rule_name = rule.map_or("keep", ContextRule::name);
            if args.out.json {
                write_json(&serde_json::json!({
                    "field": args.field, "rule": rule_name, "assignments_before": before,
                }))?;
            } else {
                write_stdout(&format!(
                    "context field `{}`: {rule_name} from now on\n",
                    args.field
                ))?;
                if before > 0 && rule.is_some() {
                    eprintln!(
                        "note: the {before} assignments stored before keep their contexts as \
                         they were stored"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PrivacyCmd::Status { out } => {
            let store = session.open_to_read()?;
            let s = privacy::status(&store)?;
            if out.json {
                write_json(&s)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut text = match (&s.fingerprint, &s.key_file) {
                (Some(f), Some(k)) => {
                    format!("pseudonymises unit ids: yes, key fingerprint {f}, key file {k}\n")
                }
                (Some(f), None) => format!(
                    "pseudonymises unit ids: yes, key fingerprint {f} (no key file recorded: \
                     give --pseudonymize KEYFILE)\n"
                ),
                _ => "pseudonymises unit ids: no (unit ids are stored as given)\n".to_string(),
            };
            if s.context.is_empty() {
                text.push_str("identifying context fields: none\n");
            } else {
                text.push_str("identifying context fields:\n");
                for (field, rule) in &s.context {
                    text.push_str(&format!("  {field}: {rule}\n"));
                }
            }
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
