//! A background job as this console session saw it: the run in progress (or how it ended)
//! and the result it produced. The result in force when a run did not finish comes from the
//! jobs table (the newest done run, `StoredJob::last_done`), never from the unfinished run.

use crate::domain::Micros;
use crate::jobs::{JobKind, JobOutput};

#[derive(Debug, Clone)]
pub struct JobView {
    pub kind: JobKind,
    pub campaign: String,
    pub state: JobState,
    /// The result of this session's newest done run and when it arrived on the console's
    /// clock: what a read-only session (which records nothing) keeps showing.
    pub result: Option<SessionResult>,
}

#[derive(Debug, Clone)]
pub struct SessionResult {
    pub output: JobOutput,
    pub at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Running { done: f64, stage: String },
    Done,
    Failed(String),
    Cancelled,
}

impl JobView {
    pub fn is_running(&self) -> bool {
        matches!(self.state, JobState::Running { .. })
    }
}
