//! Who is calling. Every handler extracts an [`Actor`] and passes it to the service layer,
//! so authentication, authorization and the audit trail can later apply to every route in
//! one place.

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credentials were presented (the only kind until authentication lands).
    Anonymous,
    /// ETS itself: `ets gc` and background housekeeping.
    System,
}

impl Actor {
    /// The user name to record as owner of what this caller creates, if known.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Actor::Anonymous | Actor::System => None,
        }
    }
}
