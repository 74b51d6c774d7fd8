//! Which requirements of GB/T 22239-2019 (《信息安全技术 网络安全等级保护基本要求》) the
//! compliance report is evidence for, stated honestly: evidence an assessor can use, never a
//! certification or an assessment result.
//!
//! Clause numbers are those of the level-3 general requirements (chapter 8, 第三级安全要求 —
//! 安全通用要求); chapter 7 (level 2) carries the same controls under its own numbers. The
//! requirement texts are paraphrased, not quoted.

use serde::Serialize;

use crate::compliance::{RiskEntry, RiskState, Section};

/// How far the report's content supports a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// The report's figures are direct evidence for the control's patching part.
    Evidence,
    /// Part of what the control asks; the rest is elsewhere (named in `note`).
    Partial,
    /// Not shown by this report; where the evidence is (if anywhere) is named in `note`.
    NotCovered,
}

/// One control and what the report shows for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlEvidence {
    pub clause: &'static str,
    pub title: &'static str,
    pub title_zh: &'static str,
    /// The requirement, paraphrased.
    pub requirement: &'static str,
    pub requirement_zh: &'static str,
    pub coverage: Coverage,
    /// What the report shows, with its figures.
    pub evidence: String,
    pub evidence_zh: String,
}

/// The statement every rendering carries.
pub const DISCLAIMER: &str = "This report is evidence for the patch and vulnerability \
management controls named below; it is not a certification, and the level assessment \
(等级测评) is the assessor's.";
pub const DISCLAIMER_ZH: &str =
    "本报告为下列补丁与漏洞管理控制项提供证据，不构成认证；等级测评结论由测评机构作出。";

/// The controls and the evidence `summary` and `risks` give for them.
pub fn compliance_controls(summary: &Section, risks: &[RiskEntry]) -> Vec<ControlEvidence> {
    let r = &summary.remediation;
    let in_force = risks
        .iter()
        .filter(|e| e.state == RiskState::InForce)
        .count();
    let median = |h: Option<f64>| h.map_or("–".to_owned(), |h| format!("{h:.1} h"));
    vec![
        ControlEvidence {
            clause: "8.1.4.4 e)",
            title: "Security computing environment — intrusion prevention",
            title_zh: "安全计算环境 — 入侵防范",
            requirement: "Discover the known vulnerabilities that may exist and, after adequate \
                          testing and evaluation, patch them in time.",
            requirement_zh: "应能发现可能存在的已知漏洞，并在经过充分测试评估后，及时修补漏洞。",
            coverage: Coverage::Evidence,
            evidence: format!(
                "{} hosts scanned against vulnerability feeds ({} never scanned); {} open findings, \
                 {} past their tier's deadline on {} hosts; in the period {} fixes ({} by the \
                 deadline, {} late), median time to remediate {}.",
                summary.hosts - summary.hosts_never_scanned,
                summary.hosts_never_scanned,
                summary.open_total,
                summary.overdue_total,
                summary.hosts_overdue,
                r.fixed,
                r.on_time,
                r.late,
                median(r.median_hours),
            ),
            evidence_zh: format!(
                "{} 台主机已按漏洞情报扫描（{} 台从未扫描）；未修复发现 {} 项，其中 {} 项已超过所属等级的期限，涉及 {} 台主机；\
                 统计期内修复 {} 项（按期 {} 项，逾期 {} 项），修复时长中位数 {}。",
                summary.hosts - summary.hosts_never_scanned,
                summary.hosts_never_scanned,
                summary.open_total,
                summary.overdue_total,
                summary.hosts_overdue,
                r.fixed,
                r.on_time,
                r.late,
                median(r.median_hours),
            ),
        },
        ControlEvidence {
            clause: "8.1.10.5 a)",
            title: "Security operation and maintenance — vulnerability and risk management",
            title_zh: "安全运维管理 — 漏洞和风险管理",
            requirement: "Identify security vulnerabilities and hidden risks; patch them in time, \
                          or patch after evaluating the possible impact.",
            requirement_zh: "应采取必要的措施识别安全漏洞和隐患，对发现的安全漏洞和隐患及时进行修补或评估可能的影响后进行修补。",
            coverage: Coverage::Evidence,
            evidence: format!(
                "Every finding is ranked by tier (KEV, EPSS, CVSS, distro severity) with a deadline; \
                 {} findings not patched are covered by {} accepted risks in force, each with an \
                 approver, a reason and an expiry (listed below).",
                summary.accepted_total, in_force,
            ),
            evidence_zh: format!(
                "每项发现均按等级（KEV、EPSS、CVSS、发行版严重性）排序并设定期限；暂不修补的 {} 项发现由 {} 项有效的风险接受覆盖，\
                 每项均有批准人、理由和到期时间（见下文列表）。",
                summary.accepted_total, in_force,
            ),
        },
        ControlEvidence {
            clause: "8.1.10.5 b)",
            title: "Security operation and maintenance — periodic security assessment",
            title_zh: "安全运维管理 — 定期安全测评",
            requirement: "Carry out security assessments regularly, write an assessment report \
                          and act on the problems found.",
            requirement_zh: "应定期开展安全测评，形成安全测评报告，采取措施应对发现的安全问题。",
            coverage: Coverage::Partial,
            evidence: "This report, generated on a schedule, is an input to the assessment; the \
                       assessment itself (penetration tests, configuration checks) is not."
                .to_owned(),
            evidence_zh: "定期生成的本报告可作为测评的输入；测评本身（渗透测试、配置核查）不在本报告范围内。"
                .to_owned(),
        },
        ControlEvidence {
            clause: "8.1.10.10",
            title: "Security operation and maintenance — change management",
            title_zh: "安全运维管理 — 变更管理",
            requirement: "Plan changes, have them reviewed and approved before they are made, \
                          record their execution, and be able to abort and recover.",
            requirement_zh: "变更前制定变更方案并经评审、审批后实施，记录变更实施过程，建立中止变更并从失败变更中恢复的程序。",
            coverage: Coverage::NotCovered,
            evidence: "Not in this report: change plans with their approvals, rollouts with \
                       every host's operation log and rollback drills are in the controller \
                       (/api/v1/plans, /api/v1/rollouts) and its hash-chained audit log."
                .to_owned(),
            evidence_zh: "不在本报告中：变更方案及其审批、每台主机的变更操作日志和回滚演练记录保存在控制器中（/api/v1/plans、/api/v1/rollouts）及其哈希链审计日志中。"
                .to_owned(),
        },
    ]
}
