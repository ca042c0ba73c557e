//! The run's account of its execution's history, kept because Step Functions does not
//! tell a task how long its execution's history is, and an execution whose history
//! reaches 25,000 events fails. Every task adds what its pass through the state
//! machine costs, counted the way Step Functions counts (below); before the count
//! nears the budget, a stage step starts the run's next execution and the current one
//! ends in its `Continued` state.
//!
//! Events of `statemachines/automation.asl.json`, as Step Functions records them:
//! * the execution: `ExecutionStarted` 1, `ExecutionSucceeded` 1;
//! * a Choice, Pass, Wait or Succeed state: entered and exited, 2;
//! * a Lambda Task state: entered, scheduled, started, succeeded, exited, 5; a
//!   `.waitForTaskToken` task also records the invocation as submitted, 6; every failed
//!   attempt before (retried) adds scheduled, started, failed, 3 (4 for a token task,
//!   counting a submitted event too: the count may run over, never under).

use serde::Deserialize;

/// Events of the execution's start: `ExecutionStarted` and the `Route` Choice it enters.
pub const START_EVENTS: u64 = 1 + CHOICE_EVENTS;
/// A Choice, Pass, Wait or Succeed state.
pub const CHOICE_EVENTS: u64 = 2;
/// The `Delay` Wait, the `AfterDelay` Pass and the `Route` Choice after them.
pub const DELAY_EVENTS: u64 = 3 * CHOICE_EVENTS;
/// An execution's last event.
pub const END_EVENTS: u64 = 1;
/// Budget of history events per execution unless the service is told another: well
/// below Step Functions' 25,000 so no pass, retried or paused, can reach the limit.
pub const HISTORY_BUDGET: u64 = 20_000;
/// Longest pause: the `PauseWait` state's TimeoutSeconds (7 days). The execution's
/// TimeoutSeconds is one day longer, so a pause of any length up to this fits in it.
pub const MAX_PAUSE_SECONDS: i64 = 7 * 24 * 3600;
/// The execution's TimeoutSeconds: the longest pause and a day of work around it.
pub const EXECUTION_TIMEOUT_SECONDS: i64 = MAX_PAUSE_SECONDS + 24 * 3600;

/// What a single pass between two checks may cost at most: a task retried by all its
/// retriers (StagePublish the most: 8 throttles and 5 Lambda errors) followed by a
/// delay, a pause wait retried as often as it may be, and the step that then continues
/// the run (route.rs checks this against the state machine's Retry blocks).
pub const PASS_RESERVE: u64 = 3 * (6 + 4 * 5 + CHOICE_EVENTS + DELAY_EVENTS);

// The budget and the costliest pass stay well below Step Functions' 25,000 events, and
// the longest pause fits in an execution: checked when the crate compiles.
const _: () = assert!(HISTORY_BUDGET + PASS_RESERVE < 25_000 * 9 / 10);
const _: () = assert!(EXECUTION_TIMEOUT_SECONDS > MAX_PAUSE_SECONDS);

/// What a task knows about its call, from the context object (`$$`): the execution
/// that called and how many failed attempts came before this one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TaskCall {
    /// `$$.Execution.Name`; None when a caller other than the state machine runs the task.
    #[serde(default)]
    pub execution: Option<String>,
    /// `$$.State.RetryCount`.
    #[serde(default)]
    pub retry_count: u32,
}

impl TaskCall {
    /// Events of this call's Task state: its attempts, entry and exit.
    pub fn task_events(&self, waits_for_token: bool) -> u64 {
        let token = u64::from(waits_for_token);
        5 + token + (3 + token) * u64::from(self.retry_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_costs_what_the_issue_measured() {
        let first = TaskCall::default();
        assert_eq!(first.task_events(false) + CHOICE_EVENTS, 7, "a batch");
        assert_eq!(first.task_events(false) + CHOICE_EVENTS + DELAY_EVENTS, 13, "a batch with a delay");
        assert_eq!(first.task_events(true) + CHOICE_EVENTS, 8, "a pass of a token wait");
        let retried = TaskCall { execution: None, retry_count: 2 };
        assert_eq!(retried.task_events(false), 11);
        assert_eq!(retried.task_events(true), 14);
    }
}
