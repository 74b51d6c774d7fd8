//! The operator console's whole workflow in a real browser (issue 12), on real Debian 12
//! containers with real agents and the test apt repository: Debian's headless chromium through
//! chromedriver (tests/browser, fantoccini), one browser session for the file.
//!
//! alice signs in with her token (typed, submitted with Enter), searches `/findings` for the T1
//! advisory's CVE, selects its update and names a plan with the keyboard only, submits it, and
//! is refused when she approves it herself (four eyes). bob (approver) signs in and approves it
//! by keyboard; the plan's rollout runs on the containers; bob pauses it (nothing more starts
//! while paused), resumes it, watches it complete, and reads the operation log; the outbox shows the messages a missing receiver refused. Every page —
//! in English and Simplified Chinese — passes the label and WCAG AA contrast checks, and its
//! screenshot is written to `target/tmp/console/` (`PW_UPDATE_SCREENSHOTS=1` also writes them
//! to docs/console/). Needs Docker, mmdebstrap (docs/testbed.md), chromium and chromedriver.

mod browser;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use browser::Browser;
use common::*;
use fantoccini::key::Key;
use pw_testbed::Suite;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use pw_testkit::fixtures::{demo_advisory, host_states};

const ADVISORY: &str = "PWTEST-CONSOLE-T1";
const CVE: &str = "CVE-2099-4343";

/// One production group over the test hosts, a window all day, short verification (time
/// enough to pause the rollout between its batches).
fn document(hosts: &[String]) -> String {
    format!(
        r#"
[rollout]
verification = "8s"
canary_percent = 50
max_in_flight = 1

[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"

[health_checks.demo-installed]
kind = "command"
target = "dpkg-query -W {DEMO}"

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
health_checks = ["demo-installed"]
[groups.web.members]
hosts = {hosts:?}

# A receiver that is not there: the console's outbox shows the failed attempts.
[[channels]]
name = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9/patchwarden"
language = "zh-CN"

[[routes]]
events = ["plan.needs_approval", "plan.approved", "rollout.started", "rollout.finished"]
channels = ["ops-hook"]
"#
    )
}

/// Where screenshots go: target/tmp/console, and docs/console with `PW_UPDATE_SCREENSHOTS=1`.
struct Shots {
    dirs: Vec<PathBuf>,
}

impl Shots {
    fn new() -> Shots {
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")];
        if std::env::var_os("PW_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
            dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console"));
        }
        for dir in &dirs {
            std::fs::create_dir_all(dir).unwrap();
        }
        Shots { dirs }
    }

    async fn take(&self, browser: &Browser, name: &str) {
        for dir in &self.dirs {
            browser.screenshot(&dir.join(format!("{name}.png"))).await;
        }
    }
}

struct Console<'a> {
    browser: &'a Browser,
    base: String,
}

impl Console<'_> {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.base)
    }

    /// Signs in at /login with a typed token, submitted with Enter.
    async fn sign_in(&self, token: &str) {
        self.browser.open(&self.url("/login?lang=en")).await;
        self.browser.type_into("#token", token).await;
        self.browser.press(Key::Enter).await;
        self.browser
            .wait_for("the console after signing in", |s| {
                s.contains("id=\"operator\"")
            })
            .await;
    }

    async fn sign_out(&self) {
        self.browser.click("form[action=\"/logout\"] button").await;
        self.browser
            .wait_for("the login form", |s| s.contains("name=\"token\""))
            .await;
    }

    /// Searches /findings for the CVE with tier T1 through the filter form (keyboard: typed,
    /// Enter), until the agents' reports are ranked; returns the page.
    async fn find_update(&self) -> String {
        let started = Instant::now();
        loop {
            self.browser.open(&self.url("/findings?lang=en")).await;
            let tier = self
                .browser
                .client
                .find(fantoccini::Locator::Css("#f-tier"))
                .await;
            tier.unwrap().select_by_label("T1").await.unwrap();
            self.browser.type_into("#f-cve", CVE).await;
            self.browser.press(Key::Enter).await;
            // The filtered answer (its form holds the CVE searched), not the page before it.
            let searched = format!("id=\"f-cve\" name=\"cve\" value=\"{CVE}\"");
            let page = (self.browser)
                .await_page("the filtered findings", |s| s.contains(&searched))
                .await;
            if page.contains(&format!("{DEMO} → {SECURITY_FIX}")) {
                assert!(
                    self.browser
                        .current_url()
                        .await
                        .contains("cve=CVE-2099-4343")
                );
                return page;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the T1 update never showed on /findings:\n{page}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Selects the update and names a plan with the keyboard only (Tab, Space, typing, Enter);
    /// retried while the agents have not reported what apt offers. Returns the plan's path.
    async fn plan_from_update(&self) -> String {
        let started = Instant::now();
        loop {
            let page = self.find_update().await;
            let value = format!("value=\"{DEMO} {SECURITY_FIX}\"");
            let at = page.find(&value).expect("the update's checkbox");
            let id = page[at..]
                .split("id=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            self.browser.tab_to(&format!("input#{id}")).await;
            self.browser.press(Key::Space).await;
            let presses = self.browser.tab_to("input#plan-name").await;
            eprintln!("Tab reaches the plan name in {presses} presses");
            let focused = self.browser.client.active_element().await.unwrap();
            focused.send_keys("pw-demo security fix").await.unwrap();
            // The form's main action is next in the tab order; Enter on it submits.
            self.browser.press(Key::Tab).await;
            assert_eq!(self.browser.focused().await, "button#create-plan");
            self.browser.press(Key::Enter).await;
            // The post's answer: the new plan's page, or the problem that there is nothing to
            // plan yet. The URL is read only once the answer shows (it changes with it).
            let nothing = |s: &str| s.contains("nothing_to_plan") || s.contains("nothing to plan");
            let problem = self
                .browser
                .await_page("the plan or the problem", |s| {
                    s.contains("id=\"plan-facts\"") || nothing(s)
                })
                .await;
            if !nothing(&problem) {
                let url = self.browser.current_url().await;
                let path = url.split(&self.base).nth(1).unwrap_or_default();
                assert!(path.starts_with("/plans/"), "{url}: {problem}");
                return path.to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{problem}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Every console page in both languages: the label and contrast checks, a screenshot.
    async fn tour(&self, shots: &Shots, pages: &[(&str, String)]) {
        for lang in ["en", "zh-CN"] {
            for (name, path) in pages {
                let sep = if path.contains('?') { '&' } else { '?' };
                self.browser
                    .open(&self.url(&format!("{path}{sep}lang={lang}")))
                    .await;
                let page = self.browser.source().await;
                assert!(page.contains(&format!("lang=\"{lang}\"")), "{path}: {page}");
                assert!(!page.contains("class=\"problem\""), "{path}: {page}");
                self.browser.check_page(&format!("{path} ({lang})")).await;
                shots.take(self.browser, &format!("{name}-{lang}")).await;
            }
        }
        self.browser.open(&self.url("/hosts?lang=en")).await;
    }
}

/// Hosts of the rollout in each state, from the API.
async fn states(controller: &Controller, rollout: &str) -> Vec<String> {
    host_states(&controller.get(&format!("/api/v1/rollouts/{rollout}")).await)
}

/// The group's document applied, the T1 advisory imported, alice and bob (approvers) added;
/// the hosts' names, sorted.
async fn prepare(controller: &Controller) -> (Vec<String>, String, String) {
    let listed = controller.get("/api/v1/hosts").await;
    let mut names: Vec<String> = listed["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    controller.apply_fleet(document(&names)).await;
    import_advisory(controller, &demo_advisory(ADVISORY, CVE));
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");
    (names, alice, bob)
}

/// alice finds the T1 update, builds a plan from it and submits it; she cannot approve it.
/// Returns the plan's path.
async fn author(console: &Console<'_>, shots: &Shots, alice: &str) -> String {
    let browser = console.browser;
    console.sign_in(alice).await;
    let findings = console.find_update().await;
    assert!(
        findings.contains(ADVISORY) && findings.contains("T1"),
        "{findings}"
    );
    browser.check_page("/findings").await;
    let findings_page = format!("/findings?cve={CVE}");
    console.tour(shots, &[("findings", findings_page)]).await;
    let plan = console.plan_from_update().await;
    let review = browser.source().await;
    assert!(
        review.contains(BASELINE) && review.contains(SECURITY_FIX),
        "{review}"
    );
    browser.click("#submit-plan button").await;
    browser
        .wait_for("the submitted plan", |s| s.contains("id=\"approve-plan\""))
        .await;
    console.tour(shots, &[("plan", plan.clone())]).await;
    browser.open(&console.url(&plan)).await;
    browser.click("#approve-plan button").await;
    let refused = browser
        .await_page("the four-eyes refusal", |s| s.contains("cannot approve it"))
        .await;
    assert!(refused.contains("four eyes"), "{refused}");
    console.sign_out().await;
    plan
}

/// bob approves with the keyboard (Tab to the comment, type, Enter); returns the rollout's id.
async fn approve(console: &Console<'_>, bob: &str, plan: &str) -> String {
    let browser = console.browser;
    console.sign_in(bob).await;
    browser.open(&console.url(plan)).await;
    browser.tab_to("input#approve-text").await;
    let comment = browser.client.active_element().await.unwrap();
    comment.send_keys("looks right").await.unwrap();
    browser.press(Key::Enter).await;
    let scheduled = browser
        .wait_for("the plan's rollout", |s| s.contains("id=\"plan-rollout\""))
        .await;
    scheduled
        .split("id=\"plan-rollout\" href=\"/rollouts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// Pause by keyboard while the canary batch runs (nothing more starts while paused, for longer
/// than the verification period), resume, and watch it complete; returns the final page.
async fn pause_resume(
    console: &Console<'_>,
    controller: &Controller,
    shots: &Shots,
    rollout: &str,
) -> String {
    let browser = console.browser;
    browser
        .open(&console.url(&format!("/rollouts/{rollout}?lang=en")))
        .await;
    browser.tab_to("button:Pause").await;
    browser.press(Key::Enter).await;
    browser
        .wait_for("the paused rollout", |s| {
            s.contains("id=\"rollout-status\">paused<")
        })
        .await;
    let before = states(controller, rollout).await;
    let idle_before = before.iter().filter(|s| *s == "pending").count();
    assert!(
        idle_before >= 1,
        "the rollout ran past its canary before the pause: {before:?}"
    );
    // Longer than the verification period: unpaused, the second batch would start.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let after = states(controller, rollout).await;
    assert_eq!(
        after.iter().filter(|s| *s == "pending").count(),
        idle_before,
        "a host started while paused: {before:?} → {after:?}"
    );
    shots.take(browser, "rollout-paused-en").await;
    browser.click("#resume-rollout button").await;
    browser
        .wait_for_within("the completed rollout", Duration::from_secs(240), |s| {
            s.contains("id=\"rollout-status\">completed<")
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_workflow_in_chromium_on_real_containers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    browser::check_contrast_formula();
    let (fleet, gateway, controller) =
        fleet_with_controller_suites(2, &[Suite::Stable, Suite::Security]);
    let ids = fleet_with_agents(&controller, &fleet, &gateway).await;
    let (names, alice, bob) = prepare(&controller).await;
    let browser = Browser::start(1100, 760).await;
    let console = Console {
        browser: &browser,
        base: controller.base.clone(),
    };
    let shots = Shots::new();

    let plan = author(&console, &shots, &alice).await;
    let rollout = approve(&console, &bob, &plan).await;
    let done = pause_resume(&console, &controller, &shots, &rollout).await;
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
    }

    // The operation log: bob's pause and resume, and each host's steps.
    let log = done
        .split("id=\"oplog\"")
        .nth(1)
        .expect("the operation log");
    assert!(log.contains("bob"), "{log}");
    for step in ["pause", "resume"] {
        assert!(log.contains(step), "{step} missing from the log: {log}");
    }
    for name in &names {
        assert!(
            log.contains(name.as_str()),
            "{name} missing from the log: {log}"
        );
    }

    let pages = [
        ("hosts", "/hosts".to_owned()),
        ("host", format!("/hosts/{}", ids[0])),
        ("plans", "/plans".to_owned()),
        ("rollouts", "/rollouts".to_owned()),
        ("rollout", format!("/rollouts/{rollout}")),
        ("windows", "/windows".to_owned()),
        ("audit", "/audit".to_owned()),
        ("notifications", "/notifications".to_owned()),
    ];
    console.tour(&shots, &pages).await;
    // The outbox shows the plan's and the rollout's messages the missing receiver refused.
    browser.open(&console.url("/notifications?lang=en")).await;
    let outbox = browser.source().await;
    for event in ["plan.needs_approval", "plan.approved", "rollout.started"] {
        assert!(
            outbox.contains(event),
            "{event} not in the outbox: {outbox}"
        );
    }
    assert!(outbox.contains("Retry now"), "{outbox}");
    browser.close().await;
}
