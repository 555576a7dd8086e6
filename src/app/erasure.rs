//! Erasure on request (GDPR art. 17) as a use case: the customer's raw id mapped the way every
//! command that takes raw ids maps it (`privacy::unit_ids`), then one store transaction that
//! removes the unit, subtracts it from every rollup and records a tombstone and an audit row.

use super::{Env, Result};
use crate::store::{ForgetRequest, Forgotten, Store};
use std::path::Path;

/// What `forget` was asked.
#[derive(Debug, Clone, Copy)]
pub struct ForgetOptions<'a> {
    /// Only this campaign; `None` for every campaign.
    pub campaign: Option<&'a str>,
    pub dry_run: bool,
    /// The `--pseudonymize KEYFILE` flag (None: the key file the database names, if any).
    pub key_file: Option<&'a Path>,
}

/// Forgets the customer with raw id `raw`. A customer with no data is not an error: the
/// tombstone is recorded anyway, so data sent later for them is skipped.
pub fn forget(
    store: &mut Store,
    env: &Env,
    raw: &str,
    options: ForgetOptions<'_>,
) -> Result<Forgotten> {
    let ids = super::privacy::unit_ids(store, options.key_file, env)?;
    let stored = ids.stored(raw);
    Ok(store.forget_unit(&ForgetRequest {
        stored: &stored,
        raw,
        campaign: options.campaign,
        dry_run: options.dry_run,
        ts: env.clock.now(),
        actor: &env.actor,
    })?)
}

/// Lets a forgotten customer's new data in again (their erased data stays erased); true when
/// there was a tombstone to remove.
pub fn readmit(
    store: &mut Store,
    env: &Env,
    raw: &str,
    campaign: Option<&str>,
    key_file: Option<&Path>,
) -> Result<bool> {
    let ids = super::privacy::unit_ids(store, key_file, env)?;
    let stored = ids.stored(raw);
    Ok(store.readmit_unit(&stored, campaign, env.clock.now(), &env.actor)?)
}
