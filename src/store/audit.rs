//! The audit trail: who did what, from where. `Store::audit_on` (in mod.rs) writes a row
//! inside the caller's transaction; this file holds where the SSH client comes from, the
//! stand-alone row for use cases that span several transactions (an ingest run), and the
//! filtered read behind the console's audit view.

use super::{AuditEntry, Result, Store};
use std::sync::OnceLock;

/// The address part of `SSH_CONNECTION` ("client_ip client_port server_ip server_port"), else
/// of the older `SSH_CLIENT` ("client_ip client_port server_port"); `None` for a local session.
pub fn client_address(ssh_connection: Option<&str>, ssh_client: Option<&str>) -> Option<String> {
    [ssh_connection, ssh_client]
        .into_iter()
        .flatten()
        .find_map(|v| v.split_whitespace().next().map(str::to_string))
}

/// The SSH client of this process, read once. A process-wide value rather than a parameter so
/// `audit_on` keeps the signature every caller uses, and every connection the process opens
/// (CLI, console data thread, jobs) stamps the same client.
pub(super) fn process_client() -> Option<&'static str> {
    static CLIENT: OnceLock<Option<String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            client_address(
                std::env::var("SSH_CONNECTION").ok().as_deref(),
                std::env::var("SSH_CLIENT").ok().as_deref(),
            )
        })
        .as_deref()
}

/// Which audit rows to read: both filters are exact matches; `None` matches every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub campaign: Option<String>,
    pub action: Option<String>,
}

impl Store {
    /// One audit row in its own transaction, for a mutation that commits in several (an ingest
    /// run commits batch by batch; its one row is written when the run ends).
    pub fn record_audit(
        &mut self,
        ts: i64,
        actor: &str,
        action: &str,
        campaign: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Store::audit_on(&tx, ts, actor, action, campaign, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest `limit` audit rows that pass `filter`, newest first.
    pub fn audit_where(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, actor, action, campaign, detail, client FROM audit_log
             WHERE (?1 IS NULL OR campaign = ?1) AND (?2 IS NULL OR action = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![filter.campaign, filter.action, limit as i64],
            |r| {
                Ok(AuditEntry {
                    ts: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    campaign: r.get(3)?,
                    detail: r.get(4)?,
                    client: r.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The distinct actions and campaigns in the audit log, sorted: what the console's
    /// filters cycle through.
    pub fn audit_facets(&self) -> Result<(Vec<String>, Vec<String>)> {
        let mut actions = self
            .conn
            .prepare_cached("SELECT DISTINCT action FROM audit_log ORDER BY action")?;
        let actions = actions
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        let mut campaigns = self.conn.prepare_cached(
            "SELECT DISTINCT campaign FROM audit_log WHERE campaign IS NOT NULL ORDER BY campaign",
        )?;
        let campaigns = campaigns
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok((actions, campaigns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_address_part_of_the_ssh_variables() {
        assert_eq!(
            client_address(Some("10.0.0.7 51234 10.0.0.1 22"), None).as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            client_address(None, Some("192.0.2.4 4000 22")).as_deref(),
            Some("192.0.2.4")
        );
        assert_eq!(
            client_address(Some("  "), Some("192.0.2.4 4000 22")).as_deref(),
            Some("192.0.2.4")
        );
        assert_eq!(client_address(None, None), None);
    }
}
