//! Operators (people and scripts using the API and the page), their page sessions and one-time
//! login tickets. Secrets are stored only as SHA-256 hex; callers hash, this module never sees
//! a token's text. Operators are revoked, never deleted: audit records keep naming them.

use std::fmt;
use std::str::FromStr;

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, append};
use crate::{Store, parse_time};

/// What an operator may do; each role includes every role below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Creates and controls rollouts, enrollment tokens, commands.
    Operator,
    /// Approves plans (four-eyes stays the plans' own rule).
    Approver,
    /// Manages operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                format!("unknown role {text:?}; expected one of viewer, operator, approver, admin")
            })
    }
}

/// Checks an operator name: 1–64 of ASCII letters, digits, `.`, `_`, `-`, `@`, starting with a
/// letter or digit; `controller` is reserved (the controller's own audit actor).
pub fn validate_operator_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "operator name {name:?} must be 1 to 64 characters long"
        ));
    }
    if let Some(bad) = name.chars().find(|c| !ok_char(*c)) {
        return Err(format!(
            "operator name {name:?} contains {bad:?}; use letters, digits, '.', '_', '-', '@'"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "operator name {name:?} must start with a letter or digit"
        ));
    }
    if name == "controller" {
        return Err("operator name \"controller\" is reserved".to_owned());
    }
    Ok(())
}

/// One operator as stored (never the token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperatorRow {
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub created_by: String,
    pub revoked_at: Option<Timestamp>,
}

/// A live page session with its operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub operator: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

/// Why an operator change was not made (nothing is written then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorRefusal {
    /// The name belongs to an operator (revoked ones keep their names).
    NameTaken {
        revoked: bool,
    },
    NotFound,
    AlreadyRevoked,
    /// Revoking it would leave no active admin.
    LastAdmin,
}

/// Why a login ticket cannot be exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketProblem {
    Unknown,
    AlreadyUsed,
    Expired,
    OperatorRevoked,
}

/// A session to create: hashes of the cookie, its CSRF token, its end.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id_sha256: &'a str,
    pub csrf_token: &'a str,
    pub expires_at: Timestamp,
    /// How the operator signed in (`token`, `ticket`), for the audit record.
    pub via: &'a str,
}

impl Store {
    /// Stores a new operator and audits it (`actor` created it).
    pub async fn create_operator(
        &self,
        name: &str,
        role: Role,
        token_sha256: &str,
        actor: &str,
    ) -> anyhow::Result<Result<(), OperatorRefusal>> {
        validate_operator_name(name).map_err(anyhow::Error::msg)?;
        let mut tx = self.begin_immediate().await?;
        let existing = sqlx::query("SELECT revoked_at FROM operators WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .context("looking up the operator")?;
        if let Some(row) = existing {
            let revoked = row.try_get::<Option<String>, _>("revoked_at")?.is_some();
            return Ok(Err(OperatorRefusal::NameTaken { revoked }));
        }
        sqlx::query(
            "INSERT INTO operators (name, role, token_sha256, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(token_sha256)
        .bind(Timestamp::now().to_string())
        .bind(actor)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing operator {name}"))?;
        let entry = AuditEntry {
            actor,
            action: "operator.created",
            subject: name,
            details: serde_json::json!({ "role": role.as_str() }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the operator")?;
        Ok(Ok(()))
    }

    /// Revokes an operator: its token stops working, its sessions end and its unused
    /// enrollment tokens are revoked, in one transaction. The last active admin is not revoked
    /// (nobody could manage operators afterwards).
    pub async fn revoke_operator(
        &self,
        name: &str,
        actor: &str,
    ) -> anyhow::Result<Result<(), OperatorRefusal>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query("SELECT role, revoked_at FROM operators WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .context("looking up the operator")?;
        match row {
            None => return Ok(Err(OperatorRefusal::NotFound)),
            Some(row) if row.try_get::<Option<String>, _>("revoked_at")?.is_some() => {
                return Ok(Err(OperatorRefusal::AlreadyRevoked));
            }
            Some(row) if row.try_get::<String, _>("role")? == Role::Admin.as_str() => {
                let admins: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM operators WHERE role = 'admin' AND revoked_at IS NULL",
                )
                .fetch_one(&mut *tx)
                .await
                .context("counting active admins")?;
                if admins <= 1 {
                    return Ok(Err(OperatorRefusal::LastAdmin));
                }
            }
            Some(_) => {}
        }
        let now = Timestamp::now().to_string();
        sqlx::query("UPDATE operators SET revoked_at = $1 WHERE name = $2")
            .bind(&now)
            .bind(name)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("revoking operator {name}"))?;
        let ended = sqlx::query("DELETE FROM operator_sessions WHERE operator = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .context("ending the operator's sessions")?
            .rows_affected();
        // Unused enrollment tokens it issued stop working too: they were its authority.
        let tokens = sqlx::query(
            "UPDATE enrollment_tokens SET revoked_at = $1
             WHERE created_by = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(&now)
        .bind(name)
        .execute(&mut *tx)
        .await
        .context("revoking the operator's enrollment tokens")?
        .rows_affected();
        let entry = AuditEntry {
            actor,
            action: "operator.revoked",
            subject: name,
            details: serde_json::json!({
                "sessions_ended": ended,
                "enrollment_tokens_revoked": tokens,
            }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the revocation")?;
        Ok(Ok(()))
    }

    /// Every operator, by name (revoked ones too).
    pub async fn operators(&self) -> anyhow::Result<Vec<OperatorRow>> {
        let rows = sqlx::query("SELECT * FROM operators ORDER BY name")
            .fetch_all(self.pool())
            .await
            .context("reading operators")?;
        rows.iter().map(operator_row).collect()
    }

    /// The operator holding the token with this SHA-256, revoked or not.
    pub async fn operator_by_token(
        &self,
        token_sha256: &str,
    ) -> anyhow::Result<Option<OperatorRow>> {
        let row = sqlx::query("SELECT * FROM operators WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(self.pool())
            .await
            .context("looking up an operator token")?;
        row.as_ref().map(operator_row).transpose()
    }

    /// Starts a page session for an active operator (audited); expired sessions are dropped.
    pub async fn create_session(
        &self,
        operator: &str,
        session: &NewSession<'_>,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        insert_session(&mut tx, operator, session, now).await?;
        tx.commit().await.context("committing the session")
    }

    /// The live session with this cookie hash: unexpired at `now`, its operator not revoked.
    pub async fn session(
        &self,
        id_sha256: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT s.operator, s.csrf_token, s.expires_at, o.role
             FROM operator_sessions s JOIN operators o ON o.name = s.operator
             WHERE s.id_sha256 = $1 AND o.revoked_at IS NULL",
        )
        .bind(id_sha256)
        .fetch_optional(self.pool())
        .await
        .context("looking up a session")?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = parse_time(&row.try_get::<String, _>("expires_at")?)?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(SessionRow {
            operator: row.try_get("operator")?,
            role: parse_role(&row.try_get::<String, _>("role")?)?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at,
        }))
    }

    /// Ends a session (logout; audited when it existed).
    pub async fn end_session(&self, id_sha256: &str) -> anyhow::Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let operator: Option<String> = sqlx::query_scalar(
            "DELETE FROM operator_sessions WHERE id_sha256 = $1 RETURNING operator",
        )
        .bind(id_sha256)
        .fetch_optional(&mut *tx)
        .await
        .context("ending a session")?;
        if let Some(operator) = &operator {
            let entry = AuditEntry {
                actor: operator,
                action: "session.ended",
                subject: operator,
                details: serde_json::json!({}),
            };
            append(&mut tx, &entry).await?;
        }
        tx.commit().await.context("committing the logout")?;
        Ok(operator.is_some())
    }

    /// Stores a single-use login ticket for an operator (audited, actor `controller`).
    pub async fn create_login_ticket(
        &self,
        ticket_sha256: &str,
        operator: &str,
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query(
            "INSERT INTO login_tickets (ticket_sha256, operator, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(ticket_sha256)
        .bind(operator)
        .bind(Timestamp::now().to_string())
        .bind(expires_at.to_string())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing a login ticket for {operator}"))?;
        let entry = AuditEntry {
            actor: "controller",
            action: "login_ticket.issued",
            subject: operator,
            details: serde_json::json!({ "expires_at": expires_at.to_string() }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the login ticket")
    }

    /// Exchanges a ticket for a session in one transaction (the ticket is then used up).
    pub async fn redeem_login_ticket(
        &self,
        ticket_sha256: &str,
        session: &NewSession<'_>,
        now: Timestamp,
    ) -> anyhow::Result<Result<SessionRow, TicketProblem>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "SELECT t.operator, t.expires_at, t.used_at, o.role, o.revoked_at
             FROM login_tickets t JOIN operators o ON o.name = t.operator
             WHERE t.ticket_sha256 = $1",
        )
        .bind(ticket_sha256)
        .fetch_optional(&mut *tx)
        .await
        .context("looking up a login ticket")?;
        let Some(row) = row else {
            return Ok(Err(TicketProblem::Unknown));
        };
        if row.try_get::<Option<String>, _>("used_at")?.is_some() {
            return Ok(Err(TicketProblem::AlreadyUsed));
        }
        if parse_time(&row.try_get::<String, _>("expires_at")?)? <= now {
            return Ok(Err(TicketProblem::Expired));
        }
        if row.try_get::<Option<String>, _>("revoked_at")?.is_some() {
            return Ok(Err(TicketProblem::OperatorRevoked));
        }
        let operator: String = row.try_get("operator")?;
        sqlx::query("UPDATE login_tickets SET used_at = $1 WHERE ticket_sha256 = $2")
            .bind(now.to_string())
            .bind(ticket_sha256)
            .execute(&mut *tx)
            .await
            .context("using up the login ticket")?;
        insert_session(&mut tx, &operator, session, now).await?;
        tx.commit().await.context("committing the login")?;
        Ok(Ok(SessionRow {
            operator,
            role: parse_role(&row.try_get::<String, _>("role")?)?,
            csrf_token: session.csrf_token.to_owned(),
            expires_at: session.expires_at,
        }))
    }
}

async fn insert_session(
    tx: &mut sqlx::AnyConnection,
    operator: &str,
    session: &NewSession<'_>,
    now: Timestamp,
) -> anyhow::Result<()> {
    // Expired sessions are dropped here (compared after parsing, never as text).
    let stored = sqlx::query("SELECT id_sha256, expires_at FROM operator_sessions")
        .fetch_all(&mut *tx)
        .await
        .context("reading sessions")?;
    for row in stored {
        if parse_time(&row.try_get::<String, _>("expires_at")?)? <= now {
            sqlx::query("DELETE FROM operator_sessions WHERE id_sha256 = $1")
                .bind(row.try_get::<String, _>("id_sha256")?)
                .execute(&mut *tx)
                .await
                .context("dropping an expired session")?;
        }
    }
    sqlx::query(
        "INSERT INTO operator_sessions (id_sha256, operator, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.id_sha256)
    .bind(operator)
    .bind(session.csrf_token)
    .bind(now.to_string())
    .bind(session.expires_at.to_string())
    .execute(&mut *tx)
    .await
    .with_context(|| format!("storing a session for {operator}"))?;
    let entry = AuditEntry {
        actor: operator,
        action: "session.created",
        subject: operator,
        details: serde_json::json!({
            "via": session.via,
            "expires_at": session.expires_at.to_string(),
        }),
    };
    append(tx, &entry).await?;
    Ok(())
}

fn parse_role(text: &str) -> anyhow::Result<Role> {
    text.parse()
        .map_err(|e: String| anyhow::anyhow!("stored operator role: {e}"))
}

fn operator_row(row: &AnyRow) -> anyhow::Result<OperatorRow> {
    Ok(OperatorRow {
        name: row.try_get("name")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
        revoked_at: row
            .try_get::<Option<String>, _>("revoked_at")?
            .map(|t| parse_time(&t))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Approver);
        assert!(Role::Approver < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let error = "root".parse::<Role>().unwrap_err();
        assert!(
            error.contains("\"root\"") && error.contains("viewer"),
            "{error}"
        );
    }

    #[test]
    fn operator_names_are_checked() {
        for good in ["alice", "ops-bot_1", "a.b@example.org", "7"] {
            assert_eq!(validate_operator_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-x",
            "a b",
            "x;rm",
            "controller",
            "agent:h1",
            &"x".repeat(65),
        ] {
            assert!(validate_operator_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
