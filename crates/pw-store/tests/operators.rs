//! Operators, sessions and login tickets on SQLite and PostgreSQL: names taken for good,
//! revocation ends sessions, sessions expire, tickets are single-use, everything audited.

use jiff::{SignedDuration, Timestamp};
use pw_store::{Backend, NewSession, OperatorRefusal, Role, TicketProblem};

#[macro_use]
mod common;

fn session<'a>(id: &'a str, expires_at: Timestamp) -> NewSession<'a> {
    NewSession {
        id_sha256: id,
        csrf_token: "csrf-1",
        expires_at,
        via: "token",
    }
}

async fn operators_are_created_once_revoked_once_and_audited(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let created = store.create_operator("alice", Role::Admin, "h1", "controller");
    assert_eq!(created.await.unwrap(), Ok(()));
    let again = store.create_operator("alice", Role::Viewer, "h2", "alice");
    assert_eq!(
        again.await.unwrap(),
        Err(OperatorRefusal::NameTaken { revoked: false })
    );
    assert!(
        store
            .create_operator("bad name", Role::Viewer, "h3", "alice")
            .await
            .is_err()
    );
    let found = store.operator_by_token("h1").await.unwrap().unwrap();
    assert_eq!((found.name.as_str(), found.role), ("alice", Role::Admin));
    assert!(store.operator_by_token("h2").await.unwrap().is_none());

    // The only active admin stays (nobody could manage operators afterwards).
    assert_eq!(
        store.revoke_operator("alice", "root").await.unwrap(),
        Err(OperatorRefusal::LastAdmin)
    );
    let second = store.create_operator("bob", Role::Admin, "hb", "controller");
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(
        store.revoke_operator("alice", "root").await.unwrap(),
        Ok(())
    );
    assert_eq!(
        store.revoke_operator("alice", "root").await.unwrap(),
        Err(OperatorRefusal::AlreadyRevoked)
    );
    assert_eq!(
        store.revoke_operator("bob", "bob").await.unwrap(),
        Err(OperatorRefusal::LastAdmin)
    );
    assert_eq!(
        store.revoke_operator("nobody", "root").await.unwrap(),
        Err(OperatorRefusal::NotFound)
    );
    let revoked = store.operator_by_token("h1").await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    let reuse = store.create_operator("alice", Role::Viewer, "h4", "root");
    assert_eq!(
        reuse.await.unwrap(),
        Err(OperatorRefusal::NameTaken { revoked: true })
    );
    let actions: Vec<String> = store
        .audit_tail(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {} {}", r.actor, r.action, r.subject))
        .collect();
    assert_eq!(
        actions,
        [
            "root operator.revoked alice",
            "controller operator.created bob",
            "controller operator.created alice"
        ]
    );
    let listed = store.operators().await.unwrap();
    assert_eq!(listed.len(), 2);
}

async fn sessions_expire_and_end_with_logout_or_revocation(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    store
        .create_operator("bob", Role::Viewer, "hb", "controller")
        .await
        .unwrap()
        .unwrap();
    let now = Timestamp::now();
    let hour = SignedDuration::from_hours(1);
    let end = now.checked_add(hour).unwrap();
    store
        .create_session("bob", &session("s1", end), now)
        .await
        .unwrap();
    let live = store.session("s1", now).await.unwrap().unwrap();
    assert_eq!((live.operator.as_str(), live.role), ("bob", Role::Viewer));
    assert_eq!(live.csrf_token, "csrf-1");
    assert!(store.session("s1", end).await.unwrap().is_none(), "expired");
    assert!(store.session("other", now).await.unwrap().is_none());

    // A session created after the first expired drops the expired row.
    let later = end.checked_add(hour).unwrap();
    let far = later.checked_add(hour).unwrap();
    store
        .create_session("bob", &session("s2", far), later)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operator_sessions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);

    assert!(store.end_session("s2").await.unwrap());
    assert!(!store.end_session("s2").await.unwrap());
    assert!(store.session("s2", later).await.unwrap().is_none());

    store
        .create_session("bob", &session("s3", far), later)
        .await
        .unwrap();
    store.revoke_operator("bob", "root").await.unwrap().unwrap();
    assert!(store.session("s3", later).await.unwrap().is_none());
}

async fn login_tickets_are_single_use_and_expire(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    store
        .create_operator("carol", Role::Operator, "hc", "controller")
        .await
        .unwrap()
        .unwrap();
    let now = Timestamp::now();
    let end = now.checked_add(SignedDuration::from_hours(1)).unwrap();
    store.create_login_ticket("t1", "carol", end).await.unwrap();
    store.create_login_ticket("t2", "carol", end).await.unwrap();
    let first = store
        .redeem_login_ticket("t1", &session("s1", end), now)
        .await
        .unwrap();
    let row = first.unwrap();
    assert_eq!((row.operator.as_str(), row.role), ("carol", Role::Operator));
    assert!(store.session("s1", now).await.unwrap().is_some());
    let twice = store
        .redeem_login_ticket("t1", &session("s2", end), now)
        .await
        .unwrap();
    assert_eq!(twice, Err(TicketProblem::AlreadyUsed));
    let unknown = store
        .redeem_login_ticket("nope", &session("s3", end), now)
        .await
        .unwrap();
    assert_eq!(unknown, Err(TicketProblem::Unknown));
    let late = store
        .redeem_login_ticket("t2", &session("s4", end), end)
        .await
        .unwrap();
    assert_eq!(late, Err(TicketProblem::Expired));
    store
        .revoke_operator("carol", "root")
        .await
        .unwrap()
        .unwrap();
    let revoked = store
        .redeem_login_ticket("t2", &session("s5", end), now)
        .await
        .unwrap();
    assert_eq!(revoked, Err(TicketProblem::OperatorRevoked));
    assert!(store.verify_audit().await.is_ok());
}

on_both_backends!(
    operators_are_created_once_revoked_once_and_audited,
    sessions_expire_and_end_with_logout_or_revocation,
    login_tickets_are_single_use_and_expire,
);
