//! Variations of the known-answer change, table-driven: each case changes the facts and names
//! what the report must then say.

use super::*;

/// Each case changes the known-answer facts and names what the report must then say.
#[test]
fn table_of_variations() {
    type Case = (
        &'static str,
        fn(&mut ChangeFacts),
        fn(&ChangeReport) -> bool,
    );
    let cases: &[Case] = &[
        (
            "a batch that finished past its slot is off schedule and a deviation",
            |f| f.plan.as_mut().unwrap().batches[1].slot_end = t("03:06:00"),
            |r| {
                r.batches[1].on_schedule == Some(false)
                    && r.postmortem
                        .deviations
                        .iter()
                        .any(|d| d.kind == "late_batch")
            },
        ),
        (
            "a host done on another version than planned is a deviation",
            |f| {
                let report = f.rollouts[0].hosts[0].report.as_mut().unwrap();
                report.final_versions = vec![seen("pw-demo", Some("1.0-3"))];
            },
            |r| {
                r.summary.as_planned == 0
                    && r.postmortem.deviations.iter().any(|d| {
                        d.kind == "other_version"
                            && d.detail == "pw-demo: planned 1.0-2, ended on 1.0-3"
                    })
            },
        ),
        (
            "restarts predicted and observed (ssh vs nginx.service) make a mixed verdict",
            |f| f.plan.as_mut().unwrap().hosts[0].restarts = vec!["ssh".into()],
            |r| {
                let a = &r.postmortem.accuracy[0];
                a.item == "service_restarts"
                    && a.verdict == "mixed"
                    && a.notes == ["web-0: predicted ssh, observed nginx"]
            },
        ),
        (
            "a restart observed but not predicted is under-predicted",
            |f| f.plan.as_mut().unwrap().hosts[0].restarts.clear(),
            |r| r.postmortem.accuracy[0].verdict == "under",
        ),
        (
            "restarts as predicted are accurate; only web-0 reported them",
            |_| {},
            |r| {
                let a = &r.postmortem.accuracy[0];
                (a.verdict.as_str(), a.compared, a.both) == ("accurate", 1, 1)
            },
        ),
        (
            "an unpredicted reboot is under-predicted",
            |f| {
                let report = f.rollouts[0].hosts[0].report.as_mut().unwrap();
                report.restart = Some(restart_status(&["nginx.service"], true));
            },
            |r| {
                let a = &r.postmortem.accuracy[1];
                (a.item.as_str(), a.verdict.as_str(), a.observed) == ("reboots", "under", 1)
            },
        ),
        (
            "a predicted reboot that was proven is accurate",
            |f| {
                f.plan.as_mut().unwrap().hosts[0].reboot = true;
                f.rollouts[0].hosts[0].rebooted = true;
            },
            |r| r.postmortem.accuracy[1].verdict == "accurate",
        ),
        (
            "a benchmark regression past the threshold makes performance happen",
            |f| {
                let report = f.rollouts[0].hosts[0].report.as_mut().unwrap();
                report.hooks = Some(Box::new(pw_protocol::HooksReport {
                    conffiles: pw_protocol::ConffilePolicy::Keep,
                    runs: vec![],
                    benchmark: Some(pw_protocol::BenchmarkResult {
                        before: 100.0,
                        after: Some(130.0),
                        regression_percent: Some(30.0),
                        max_regression_percent: 10,
                        passed: false,
                    }),
                }));
            },
            |r| {
                let performance = r
                    .postmortem
                    .checklist
                    .iter()
                    .find(|c| c.risk == "performance");
                performance.is_some_and(|c| c.materialised == Some(true) && c.observed == ["web-0"])
                    && change_html(r, &CHANGE_EN).contains("100 → 130 (30.0 %; ≤ 10 %)")
            },
        ),
        (
            "a rollback's restored data and resumed writes follow the protection steps",
            |f| {
                let step = |name: &str| pw_protocol::ProtectionResult {
                    name: name.into(),
                    ok: true,
                    detail: String::new(),
                    from_journal: false,
                    record: None,
                };
                let report = f.rollouts[0].hosts[1].report.as_mut().unwrap();
                report.protection = vec![step("backup-db")];
                report.restored = vec![step("backup-db")];
                report.resumed = vec![step("pause-db")];
            },
            |r| {
                let names: Vec<&str> = host(r, "web-1")
                    .protection
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                names == ["backup-db", "restore: backup-db", "resume: pause-db"]
            },
        ),
        (
            "conffiles are not observed without a downgrade",
            |_| {},
            |r| r.postmortem.accuracy[2].verdict == "not_observed",
        ),
        (
            "the health failure and the failed rollback materialise their checklist lines",
            |_| {},
            |r| {
                let get = |k: &str| r.postmortem.checklist.iter().find(|c| c.risk == k).unwrap();
                get("service_interruption").materialised == Some(true)
                    && get("service_interruption").observed == ["web-1"]
                    && get("rollback_failure").observed == ["web-2"]
                    && get("performance").materialised.is_none()
            },
        ),
        (
            "without the agent's report nothing is guessed",
            |f| f.rollouts[0].hosts[1].report = None,
            |r| {
                let h = host(r, "web-1");
                !h.reported
                    && h.versions[0].before.is_none()
                    && h.versions[0].as_planned.is_none()
                    && r.postmortem.failures[0].back_on_recorded.is_none()
            },
        ),
        (
            "an ad-hoc rollout has no plan: targets stand in and accuracy says so",
            |f| {
                f.plan = None;
                f.subject = ChangeSubject::Rollout("ro-1".into());
            },
            |r| {
                r.summary.hosts_planned == 0
                    && r.summary.not_reached == 0
                    && r.hosts.len() == 3
                    && host(r, "web-0").versions[0].as_planned == Some(true)
                    && r.postmortem.accuracy.iter().all(|a| a.verdict == "no_plan")
                    && r.postmortem.checklist.is_empty()
            },
        ),
        (
            "a pending host of a running rollout is not reached and the rollout not finished",
            |f| {
                f.rollouts[0].status = "running".into();
                f.rollouts[0].hosts[2] = run("web-2", "pending", None, None);
            },
            |r| {
                r.summary.finished_at.is_none()
                    && host(r, "web-2").result == "not_reached"
                    && r.batches[1].finished_at.is_none()
                    && r.summary.not_reached == 2
            },
        ),
        (
            "a retry in a second rollout gives the host a second row and reaches it",
            |f| {
                let mut retry = f.rollouts[0].clone();
                retry.id = "ro-2".into();
                retry.batches = vec![rollout_batch("wave", &["h-web-1"], "03:10:00", "03:40:00")];
                retry.hosts = vec![run(
                    "web-1",
                    "done",
                    Some("03:15:00"),
                    Some(agent(ChangeOutcome::Done, "1.0-2", None)),
                )];
                retry.log = vec![line(9, "03:12:00", Some("web-1"), "claimed", "claimed")];
                f.rollouts.push(retry);
            },
            |r| {
                r.hosts.iter().filter(|h| h.hostname == "web-1").count() == 2
                    && r.summary.done == 2
                    && r.summary.finished_at == Some(t("03:15:00"))
                    && r.postmortem
                        .timeline
                        .iter()
                        .any(|e| e.rollout_id.as_deref() == Some("ro-2"))
            },
        ),
    ];
    for (name, change, expect) in cases {
        let mut f = facts();
        change(&mut f);
        let report = build(&f);
        assert!(
            expect(&report),
            "{name}: {:#}",
            serde_json::to_value(&report).unwrap()
        );
    }
}

/// A downgrade's re-scan in the report: the plan's prediction for the host against the
/// findings open after the change, in the JSON and in both languages' HTML.
#[test]
fn a_downgrades_rescan_is_compared_with_the_plans_prediction() {
    let mut f = facts();
    let plan = f.plan.as_mut().unwrap();
    plan.downgrade = true;
    let predicted = |advisory: &str| PredictedAdvisory {
        host_id: "h-web-0".into(),
        binary: "pw-demo".into(),
        target: "1.0-2".into(),
        advisory: advisory.into(),
        aliases: vec![],
        tier: "T1".into(),
    };
    plan.reintroduced = vec![predicted("ADV-BACK"), predicted("ADV-NOT-SEEN")];
    let open = |advisory: &str, first: &str| OpenAdvisory {
        binary: "pw-demo".into(),
        installed: "1.0-2".into(),
        advisory: advisory.into(),
        aliases: vec![],
        tier: "T2".into(),
        first_seen: Some(t(first)),
    };
    let web0 = &mut f.rollouts[0].hosts[0];
    web0.report.as_mut().unwrap().downgrade = Some(Box::new(DowngradeReport {
        available: vec!["pw-demo=1.0-2".into()],
        archive: Some("/srv/pw-archive".into()),
        from_archive: vec!["pw-demo=1.0-2".into()],
        ..Default::default()
    }));
    web0.rescan = Some(HostRescan {
        scanned_at: t("02:10:00"),
        inventory_at: t("02:09:00"),
        installed: vec![("pw-demo".into(), Some("1.0-2".into()))],
        open: vec![
            open("ADV-BACK", "02:10:00"),
            open("ADV-NEW", "02:10:00"),
            open("ADV-OLD", "00:00:00"),
        ],
    });
    // Another host's prediction is not web-0's.
    let mut elsewhere = predicted("ADV-ELSEWHERE");
    elsewhere.host_id = "h-web-1".into();
    f.plan.as_mut().unwrap().reintroduced.push(elsewhere);
    let report = build(&f);
    let json = serde_json::to_value(&report).unwrap();
    let web0 = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == "web-0")
        .unwrap();
    let rescan = &web0["post_verify"]["vulnerabilities"];
    let ids = |list: &str| -> Vec<String> {
        rescan[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["advisory"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(rescan["status"], "compared", "{rescan:#}");
    assert_eq!(ids("predicted_and_seen"), ["ADV-BACK"]);
    assert_eq!(ids("predicted_not_seen"), ["ADV-NOT-SEEN"]);
    assert_eq!(ids("seen_not_predicted"), ["ADV-NEW"]);
    assert_eq!(ids("already_open"), ["ADV-OLD"]);
    assert_eq!(web0["post_verify"]["from_archive"][0], "pw-demo=1.0-2");
    let en = change_html(&report, &CHANGE_EN);
    for needle in [
        "vulnerability re-scan against the plan",
        "re-scanned after the change",
        "predicted and seen",
        "predicted, not seen",
        "seen, not predicted",
        "open before the change",
        "pw-demo=1.0-2 from the local archive /srv/pw-archive",
    ] {
        assert!(en.contains(needle), "{needle} not in the English HTML");
    }
    let zh = change_html(&report, &CHANGE_ZH);
    for needle in [
        "漏洞重新扫描",
        "预测且出现",
        "出现但未预测",
        "来自本地软件包归档",
    ] {
        assert!(zh.contains(needle), "{needle} not in the Chinese HTML");
    }
    // Without a scan of the host the comparison is left out, not guessed.
    let mut unscanned = f.clone();
    unscanned.rollouts[0].hosts[0].rescan = None;
    let report = build(&unscanned);
    let verify = report.hosts[0].post_verify.as_ref().unwrap();
    assert_eq!(verify.vulnerabilities, None);
}
