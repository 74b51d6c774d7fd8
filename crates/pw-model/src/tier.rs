//! Priority tiers T0–T4 (DESIGN.md §2): the seed's urgency matrix.

use std::fmt;

/// How urgent a finding is; `T0` is the most urgent. Ordered so that `T0 < T4`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Tier {
    /// Emergency security patch (紧急安全补丁): KEV, CVSS ≥ 9, high EPSS, or an emergency flag.
    T0,
    /// Important security update (重要安全更新).
    T1,
    /// Critical functional fix (关键功能修复).
    T2,
    /// Recommended update (推荐更新).
    T3,
    /// Feature enhancement (功能增强).
    T4,
}

impl Tier {
    /// All tiers, most urgent first.
    pub const ALL: [Tier; 5] = [Tier::T0, Tier::T1, Tier::T2, Tier::T3, Tier::T4];

    /// The seed's name of the tier, in English.
    pub fn title(self) -> &'static str {
        match self {
            Tier::T0 => "emergency security patch",
            Tier::T1 => "important security update",
            Tier::T2 => "critical functional fix",
            Tier::T3 => "recommended update",
            Tier::T4 => "feature enhancement",
        }
    }

    /// The seed's name of the tier, in Simplified Chinese.
    pub fn title_zh(self) -> &'static str {
        match self {
            Tier::T0 => "紧急安全补丁",
            Tier::T1 => "重要安全更新",
            Tier::T2 => "关键功能修复",
            Tier::T3 => "推荐更新",
            Tier::T4 => "功能增强",
        }
    }

    /// The index 0–4.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.index())
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "T0" | "t0" => Ok(Tier::T0),
            "T1" | "t1" => Ok(Tier::T1),
            "T2" | "t2" => Ok(Tier::T2),
            "T3" | "t3" => Ok(Tier::T3),
            "T4" | "t4" => Ok(Tier::T4),
            other => Err(format!(
                "unknown tier \"{other}\" (expected T0, T1, T2, T3 or T4)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_order_and_round_trip() {
        assert!(Tier::T0 < Tier::T4);
        for tier in Tier::ALL {
            assert_eq!(tier.to_string().parse::<Tier>(), Ok(tier));
        }
        assert!("T5".parse::<Tier>().unwrap_err().contains("T5"));
    }
}
