//! A background job as the console shows it: the run in progress (or how the last one ended)
//! and the result in force, which a cancelled or failed run does not take away.

use crate::jobs::{JobKind, JobOutput};

#[derive(Debug, Clone)]
pub struct JobView {
    pub kind: JobKind,
    pub campaign: String,
    pub state: JobState,
    /// The newest result: this session's, or the last one stored in the jobs table.
    pub result: Option<JobOutput>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Nothing ran in this session; `result` (if any) comes from the jobs table.
    Stored,
    Running {
        done: f64,
        stage: String,
    },
    Done,
    Failed(String),
    Cancelled,
}

impl JobView {
    pub fn is_running(&self) -> bool {
        matches!(self.state, JobState::Running { .. })
    }
}
