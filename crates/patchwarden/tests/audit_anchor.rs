//! The audit log proves completeness (issue 14.5): a real `patchwarden up` anchors the chain's
//! head in signed checkpoints outside the database; `patchwarden audit verify` then detects a
//! copy of the database with its last records deleted, and one whose record was rewritten and
//! whose chain was recomputed — both of which the hash chain alone calls intact.

mod up_process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sqlx::Row;

/// Runs `patchwarden up` on `data` until it is up, then stops it with SIGTERM (its final
/// checkpoint is written at shutdown) and waits for it to exit.
fn up_then_stop(data: &Path) {
    let (mut child, first_line) = up_process::start_up(data);
    assert!(first_line.contains("patchwarden is up"), "{first_line}");
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill(1) is needed to stop patchwarden up");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "patchwarden up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(db: &Path, anchors: Option<&Path>) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchwarden"));
    command.args(["audit", "verify", "--db"]).arg(db);
    if let Some(data) = anchors {
        command
            .arg("--checkpoints")
            .arg(data.join("audit.checkpoints"))
            .arg("--key")
            .arg(data.join("audit.key"));
    }
    let Output { status, stdout, .. } = command.output().unwrap();
    (status.code(), String::from_utf8_lossy(&stdout).into_owned())
}

/// A copy of the data directory's database in a new directory (no checkpoints beside it).
fn copy_db(data: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let copy = into.join("patchwarden.db");
    std::fs::copy(data.join("patchwarden.db"), &copy).unwrap();
    copy
}

/// Runs `edit` on the database at `db` with sqlx, as someone holding the file could.
fn edit_db(db: &Path, edit: impl AsyncFnOnce(&sqlx::AnyPool)) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = pw_store::Store::open(db).await.unwrap();
        edit(store.pool()).await;
        store.close().await;
    });
}

#[test]
fn truncation_and_a_recomputed_chain_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    up_then_stop(&data);
    let db = data.join("patchwarden.db");
    let (code, out) = verify(&db, None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("signed checkpoints hold"), "{out}");

    // The last 5 records deleted from a copy: the chain alone still holds.
    let cut = copy_db(&data, &dir.path().join("cut"));
    edit_db(&cut, async |pool| {
        sqlx::query("DROP TRIGGER audit_no_delete")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit WHERE seq > (SELECT max(seq) - 5 FROM audit)")
            .execute(pool)
            .await
            .unwrap();
    });
    let (code, out) = verify(&cut, None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("completeness NOT checked"), "{out}");
    let (code, out) = verify(&cut, Some(&data));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("the log was cut after record"), "{out}");

    // Record 2 rewritten and every hash after it recomputed: the chain holds again.
    let rewritten = copy_db(&data, &dir.path().join("rewritten"));
    edit_db(&rewritten, async |pool| {
        sqlx::query("DROP TRIGGER audit_no_update")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit SET actor = 'nobody' WHERE seq = 2")
            .execute(pool)
            .await
            .unwrap();
        let rows = sqlx::query("SELECT * FROM audit WHERE seq >= 2 ORDER BY seq")
            .fetch_all(pool)
            .await
            .unwrap();
        let mut prev: String = sqlx::query_scalar("SELECT hash FROM audit WHERE seq = 1")
            .fetch_one(pool)
            .await
            .unwrap();
        for row in rows {
            let seq: i64 = row.get("seq");
            let details: serde_json::Value =
                serde_json::from_str(row.get::<&str, _>("details")).unwrap();
            let hash = pw_store::audit::record_hash(
                &prev,
                seq,
                row.get("at"),
                row.get("actor"),
                row.get("action"),
                row.get("subject"),
                &details,
            );
            sqlx::query("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?")
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(pool)
                .await
                .unwrap();
            prev = hash;
        }
    });
    let (code, out) = verify(&rewritten, None);
    assert_eq!(code, Some(0), "the chain alone is fooled: {out}");
    let (code, out) = verify(&rewritten, Some(&data));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("chain recomputed"), "{out}");

    // A forged checkpoint line (another MAC) is refused too.
    let forged = dir.path().join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    let text = std::fs::read_to_string(data.join("audit.checkpoints")).unwrap();
    std::fs::write(
        forged.join("audit.checkpoints"),
        text.replace("\"mac\":\"", "\"mac\":\"00"),
    )
    .unwrap();
    std::fs::copy(data.join("audit.key"), forged.join("audit.key")).unwrap();
    let (code, out) = verify(&db, Some(&forged));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("MAC does not hold"), "{out}");
}
