//! `/windows` in the console (issue 12): four weeks per group, a cell per day with the usable
//! slots and their capacity, blackout days shaded; times in the operator's zone.

use crate::console_support::{count, get, group_toml};
use crate::support::TestController;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_weeks_per_group_with_capacity_and_blackouts() {
    let t = TestController::start().await;
    let cookie = t.session_cookie().await;
    let (_, empty) = get(&t, &cookie, "/windows").await;
    assert!(empty.contains("No fleet document applied yet"));
    // A nightly 4 h window at 01:00 UTC; a blackout over the next three days.
    let now = jiff::Timestamp::now();
    let local = |hours: i64| {
        (now + jiff::SignedDuration::from_hours(hours))
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y-%m-%dT%H:00:00")
            .to_string()
    };
    let (start, end) = (local(24), local(24 * 3));
    let document = group_toml("web", "production", "web-*").replace(
        "[groups.web.members]",
        &format!(
            "blackouts = [{{ name = \"freeze\", reason = \"year-end freeze\", start = \"{start}\", end = \"{end}\", tz = \"UTC\" }}]\n[groups.web.members]"
        ),
    );
    t.apply_fleet(&document).await;
    let (status, html) = get(&t, &cookie, "/windows").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"calendar-web\""));
    assert_eq!(count(&html, "<td class=\"day"), 28, "four weeks");
    assert!(count(&html, "<td class=\"day blackout\"") >= 2, "{html}");
    assert!(html.contains("freeze: year-end freeze"));
    // Capacity: pw-planner's numbers for a 4 h slot under the group's rollout policy.
    assert!(html.contains("01:00–05:00 nightly:"), "{html}");
    let slot = html.split("01:00–05:00 nightly: ").nth(1).unwrap();
    let usable: u64 = slot.split(' ').next().unwrap().parse().unwrap();
    assert!(usable > 0 && usable < 240, "{slot}");
    assert!(slot.contains("min rollback buffer"), "{slot}");
    let (_, shanghai) = get(&t, &cookie, "/windows?tz=Asia/Shanghai&lang=zh-CN").await;
    assert!(
        shanghai.contains("09:00–13:00 nightly"),
        "in the operator's zone"
    );
    assert!(shanghai.contains("禁止变更期"));
}
