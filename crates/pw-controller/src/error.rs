//! `Refusal`: why a use-case said no, in words the operator can act on. pw-server maps each
//! variant to one HTTP status and stable code; [`Refusal::Internal`] is everything else.

/// A use-case's refusal (nothing was stored) or an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("the request body does not have the expected shape: {0}")]
    InvalidBody(String),
    #[error("unknown host {0:?}")]
    HostNotFound(String),
    #[error("unknown rollout {0:?}")]
    RolloutNotFound(String),
    #[error(
        "unknown plan {0}: there is no stored plan with that number (see `patchwarden plans list`)"
    )]
    PlanNotFound(i64),
    #[error("{0}")]
    PlanRefused(String),
    #[error("{0}")]
    PlanStale(String),
    /// The plan's author asked to approve it.
    #[error("{0}")]
    FourEyes(String),
    /// The live versions a plan was built on changed.
    #[error("{0}")]
    PlanOutdated(String),
    /// A plan request that selects nothing to change.
    #[error("{0}")]
    NothingToPlan(String),
    #[error("the plan cannot be rolled out: {0}")]
    PlanNotExecutable(String),
    #[error("{0}")]
    HostReadOnly(String),
    #[error("{0}")]
    RolloutConflict(String),
    #[error("{0} is not blocked")]
    BlockNotFound(String),
    #[error("unknown accepted risk {0:?}")]
    AcceptedRiskNotFound(String),
    /// Revoking an acceptance already revoked (by whom, when).
    #[error("{0}")]
    AcceptedRiskRevoked(String),
    #[error(
        "the fleet document has {} problem{}; nothing was stored",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" }
    )]
    FleetInvalid(Vec<pw_fleet::FleetError>),
    #[error("{0}")]
    FleetStale(String),
    #[error("no fleet document has been applied yet (patchwarden fleet apply FILE)")]
    FleetNotApplied,
    #[error(
        "unknown notification channel {0:?}: the current fleet document has no [[channels]] entry with that name"
    )]
    ChannelNotFound(String),
    #[error("unknown notification {0}")]
    NotificationNotFound(i64),
    /// Retrying a notification already sent or being sent.
    #[error("{0}")]
    NotificationNotRetryable(String),
    #[error("internal error; see the controller's log")]
    Internal(#[source] anyhow::Error),
}

impl From<anyhow::Error> for Refusal {
    fn from(error: anyhow::Error) -> Self {
        Refusal::Internal(error)
    }
}

impl Refusal {
    /// A store error as a refusal: plan refusals and busy hosts keep their sentence.
    pub fn from_store(error: anyhow::Error) -> Refusal {
        use pw_store::PlanRefusal;
        match error.downcast_ref::<PlanRefusal>() {
            Some(PlanRefusal::NotFound { id }) => Refusal::PlanNotFound(*id),
            Some(stale @ PlanRefusal::Stale { .. }) => Refusal::PlanStale(stale.to_string()),
            Some(refused @ PlanRefusal::Refused { .. }) => {
                Refusal::PlanRefused(refused.to_string())
            }
            None => match error.downcast_ref::<pw_store::HostsBusy>() {
                Some(busy) => Refusal::RolloutConflict(busy.to_string()),
                None => Refusal::Internal(error),
            },
        }
    }
}
