//! Waking long-polls on every controller of one PostgreSQL database (issue 15 item 2): an agent
//! long-polls any replica, while the command it waits for may be queued by another (the
//! scheduler lease holder, or the replica an operator used).
//!
//! Every transaction that queues commands also runs `pg_notify('patchwarden_commands', …)` with
//! the host ids (one per line), so the announcement leaves exactly when the commands become
//! visible (at commit) and never for a rolled-back one. Each controller listens on the channel
//! with a connection of its own ([`CommandListener`], sqlx's `PgListener`) and wakes its
//! long-polls for those hosts. On SQLite (one controller) nothing is announced: the local
//! wake-up is enough.

use anyhow::Context;

use crate::{Backend, Store};

/// The NOTIFY channel.
const CHANNEL: &str = "patchwarden_commands";

/// PostgreSQL's payload limit is 8,000 bytes: host ids go in payloads of at most this many.
const PAYLOAD_BYTES: usize = 7_000;

/// Announces, inside `tx`, that `hosts` have new commands (PostgreSQL only).
pub(crate) async fn announce_in(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    hosts: &[&str],
) -> anyhow::Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    for payload in payloads(hosts) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&mut *tx)
            .await
            .context("announcing new commands to the other controllers")?;
    }
    Ok(())
}

/// `hosts`, deduplicated, one per line, in payloads of at most [`PAYLOAD_BYTES`].
fn payloads(hosts: &[&str]) -> Vec<String> {
    let mut unique: Vec<&str> = hosts.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut out: Vec<String> = Vec::new();
    for host in unique {
        match out.last_mut() {
            Some(last) if last.len() + 1 + host.len() <= PAYLOAD_BYTES => {
                last.push('\n');
                last.push_str(host);
            }
            _ => out.push(host.to_owned()),
        }
    }
    out
}

/// Listens for the hosts other controllers (and this one) queued commands for.
pub struct CommandListener {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for CommandListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommandListener")
    }
}

impl Store {
    /// A listener for new commands queued by any controller on this database; `None` on
    /// SQLite.
    pub async fn listen_for_commands(&self) -> anyhow::Result<Option<CommandListener>> {
        let Some(url) = self.url.postgres_url() else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url)
            .await
            .with_context(|| format!("listening for new commands on {}", self.url))?;
        listener
            .listen(CHANNEL)
            .await
            .with_context(|| format!("listening for new commands on {}", self.url))?;
        Ok(Some(CommandListener { listener }))
    }
}

impl CommandListener {
    /// The next hosts announced. `Ok(None)`: the connection was lost and announcements may
    /// have been missed (the next call reconnects); an error: reconnecting failed.
    pub async fn next(&mut self) -> anyhow::Result<Option<Vec<String>>> {
        let notification = self
            .listener
            .try_recv()
            .await
            .context("waiting for new commands")?;
        Ok(notification.map(|n| n.payload().lines().map(str::to_owned).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_name_each_host_once() {
        let hosts: Vec<String> = (0..2_000).map(|i| format!("host-{i:05}")).collect();
        let mut refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
        refs.push("host-00001");
        let sent = payloads(&refs);
        assert!(sent.len() > 1);
        assert!(sent.iter().all(|p| p.len() <= PAYLOAD_BYTES));
        let named: Vec<&str> = sent.iter().flat_map(|p| p.lines()).collect();
        assert_eq!(named.len(), 2_000);
        assert!(payloads(&[]).is_empty());
    }
}
