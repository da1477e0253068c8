//! The phases of a client job, as the running-job records (`running`) and
//! the history (`history`) both count them; here so neither imports the
//! other for it.

/// Where a job is. The first six are the reference's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Waiting for a free slot on any host.
    Blocked,
    /// Waiting for the local preprocessor.
    Preprocess,
    /// Waiting for the connection to the volunteer.
    Connect,
    /// Sending the job.
    Send,
    /// Waiting while the volunteer compiles.
    Compile,
    /// Reading the results.
    Receive,
    /// Compiling here by decision.
    Local,
    /// Compiling here because distribution failed.
    Fallback,
}

pub const PHASES: usize = 8;

impl Phase {
    pub const ALL: [Phase; PHASES] = [
        Phase::Blocked,
        Phase::Preprocess,
        Phase::Connect,
        Phase::Send,
        Phase::Compile,
        Phase::Receive,
        Phase::Local,
        Phase::Fallback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Blocked => "Blocked",
            Phase::Preprocess => "Preprocess",
            Phase::Connect => "Connect",
            Phase::Send => "Send",
            Phase::Compile => "Compile",
            Phase::Receive => "Receive",
            Phase::Local => "Local",
            Phase::Fallback => "Fallback",
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_the_time_table() {
        for (i, p) in Phase::ALL.into_iter().enumerate() {
            assert_eq!(Phase::from_name(p.name()), Some(p));
            assert_eq!(p as usize, i, "history indexes its times by phase");
        }
        assert_eq!(Phase::from_name("Nap"), None);
    }
}
