//! The open set written with SQL in its layout of migrations 0045–0052 (before 0053 moved the
//! tier and episode number into the stamp), for the upgrade tests.

/// Update keys `1: src0` and `2: src1`, fixed in `1.0-2`.
pub async fn insert_update_keys(pool: &sqlx::AnyPool) {
    for (id, package) in [(1, "src0"), (2, "src1")] {
        sqlx::query("INSERT INTO update_keys (id, package, fixed) VALUES ($1, $2, '1.0-2')")
            .bind(id)
            .bind(package)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// One open episode (host key, key id, episode, stamp, tier index, text id) with its host's
/// stamp (first sight and deadline in nanoseconds; a stamp already stored is kept).
pub async fn insert_episode(
    pool: &sqlx::AnyPool,
    (host, key, episode, stamp, tier, text): (i64, i64, i64, i64, i64, i64),
    (first_seen, deadline): (i64, Option<i64>),
) {
    sqlx::query(
        "INSERT INTO open_stamps (host_key, stamp, first_seen, deadline)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(host)
    .bind(stamp)
    .bind(first_seen)
    .bind(deadline)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO open_episodes (host_key, key_id, episode, stamp, tier, text_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(host)
    .bind(key)
    .bind(episode)
    .bind(stamp)
    .bind(tier)
    .bind(text)
    .execute(pool)
    .await
    .unwrap();
}
