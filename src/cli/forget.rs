//! `liftdeck forget UNIT`: erase one customer on request (GDPR art. 17). The work is in
//! `app::erasure`; this prints what went. The raw id is never printed back.

use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use liftdeck::app::{self, erasure::ForgetOptions, Env};
use std::path::Path;
use std::process::ExitCode;

#[derive(Args)]
pub struct ForgetArgs {
    /// The customer's id as the storefront sends it (hashed with the key first when the
    /// database pseudonymises).
    unit: String,
    /// Only this campaign (default: every campaign).
    #[arg(long)]
    campaign: Option<String>,
    /// Count what would be removed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Remove the tombstone of a customer who came back and agreed again, so their new data
    /// is accepted; what was erased stays erased.
    #[arg(long, conflicts_with = "dry_run")]
    readmit: bool,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn forget(session: &Session, env: &Env, args: ForgetArgs) -> Result<ExitCode> {
    // The global `--pseudonymize KEYFILE` flag; without it the database's own key file.
    let key_file: Option<&Path> = session.pseudonymize.as_deref();
    let mut store = session.open_to_write()?;
    let campaign = args.campaign.as_deref();
    if args.readmit {
        let removed = app::erasure::readmit(&mut store, env, &args.unit, campaign, key_file)?;
        if args.out.json {
            write_json(&serde_json::json!({ "readmitted": removed }))?;
        } else if removed {
            write_stdout("readmitted: new data for this customer is accepted again\n")?;
        } else {
            write_stdout("this customer had no tombstone here; nothing to readmit\n")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = ForgetOptions {
        campaign,
        dry_run: args.dry_run,
        key_file,
    };
    let f = app::erasure::forget(&mut store, env, &args.unit, options)?;
    if args.out.json {
        write_json(&f)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if f.dry_run { "would remove" } else { "removed" };
    let mut text = if f.removed_anything() {
        format!(
            "{verb} {} assignments, {} events, {} custom-kind totals and {} rejected lines \
             from {}\n",
            f.assignments,
            f.events,
            f.custom_totals,
            f.rejects,
            if f.campaigns.is_empty() {
                "the rejects log".to_string()
            } else {
                f.campaigns.join(", ")
            }
        )
    } else {
        "nothing to forget: no data for this customer\n".to_string()
    };
    if f.dry_run {
        text.push_str("dry run: nothing was changed\n");
    } else if f.already_forgotten {
        text.push_str(&format!("already forgotten (tombstone {})\n", f.tombstone));
    } else {
        text.push_str(&format!(
            "tombstone {} recorded: later lines for this customer are skipped\n",
            f.tombstone
        ));
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
