//! Where the state machine goes next: the `next` of every step's result, read by the
//! `Route` Choice state of `statemachines/automation.asl.json`. A typed enum so a step
//! cannot name a state the machine does not know (the test below checks the two agree).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Stage;

/// A value of `$.next`, serialized exactly as the Choice state matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `stage_clusters`: a batch of stage 1.
    StageClusters,
    /// `stage_ideas`: a batch of stage 2.
    StageIdeas,
    /// `stage_tasks`: a batch of stage 3.
    StageTasks,
    /// `stage_content`: a batch of stage 4.
    StageContent,
    /// `stage_image_prompts`: a batch of stage 5.
    StageImagePrompts,
    /// `stage_images`: stage 6, the image fan-out waiting for its last job.
    StageImages,
    /// `stage_link`: a batch of the linking stage after content (when the site's
    /// config links articles).
    StageLink,
    /// `stage_publish`: a batch of the publishing stage after images (when the site's
    /// config publishes after the run).
    StagePublish,
    /// `delay`: wait `delay_seconds`, then go to the output's `then`.
    Delay,
    /// `paused`: the pause wait, until resume or cancel sends its token.
    Paused,
    /// `cancelled`: finalize as cancelled.
    Cancelled,
    /// `finalize`: every stage is done.
    Finalize,
    /// `continued`: the run goes on in its next execution; this one ends.
    Continued,
}

impl Route {
    /// Every route, for checks against the state machine.
    pub const ALL: [Route; 13] = [
        Self::StageClusters,
        Self::StageIdeas,
        Self::StageTasks,
        Self::StageContent,
        Self::StageImagePrompts,
        Self::StageImages,
        Self::StageLink,
        Self::StagePublish,
        Self::Delay,
        Self::Paused,
        Self::Cancelled,
        Self::Finalize,
        Self::Continued,
    ];

    /// The route to a stage's task (`stage_<name>`).
    pub fn stage(stage: Stage) -> Self {
        match stage {
            Stage::Clusters => Self::StageClusters,
            Stage::Ideas => Self::StageIdeas,
            Stage::Tasks => Self::StageTasks,
            Stage::Content => Self::StageContent,
            Stage::ImagePrompts => Self::StageImagePrompts,
            Stage::Images => Self::StageImages,
        }
    }

    /// The route after `stage` has no work left: the next stage, or finalize (after
    /// content, the site's link setting may send the run to `stage_link` first; after
    /// images, its publish setting to `stage_publish`).
    pub fn after(stage: Stage) -> Self {
        stage.next().map_or(Self::Finalize, Self::stage)
    }

    /// The value as the state machine sees it (`stage_clusters`, `delay`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StageClusters => "stage_clusters",
            Self::StageIdeas => "stage_ideas",
            Self::StageTasks => "stage_tasks",
            Self::StageContent => "stage_content",
            Self::StageImagePrompts => "stage_image_prompts",
            Self::StageImages => "stage_images",
            Self::StageLink => "stage_link",
            Self::StagePublish => "stage_publish",
            Self::Delay => "delay",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
            Self::Finalize => "finalize",
            Self::Continued => "continued",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    const ASL: &str = include_str!("../../../../statemachines/automation.asl.json");

    /// Every `StringEquals` on `$.next` of every Choice state, recursing into And/Or/Not.
    fn next_values(rule: &Value, out: &mut BTreeSet<String>) {
        if rule.get("Variable").and_then(Value::as_str) == Some("$.next") {
            if let Some(v) = rule.get("StringEquals").and_then(Value::as_str) {
                out.insert(v.to_owned());
            }
        }
        for nested in ["And", "Or"] {
            for r in rule.get(nested).and_then(Value::as_array).into_iter().flatten() {
                next_values(r, out);
            }
        }
        if let Some(r) = rule.get("Not") {
            next_values(r, out);
        }
    }

    #[test]
    fn every_choice_value_on_next_is_a_route_and_every_route_a_choice_value() {
        let asl: Value = serde_json::from_str(ASL).expect("the state machine is JSON");
        let states = asl["States"].as_object().expect("States");
        let mut values = BTreeSet::new();
        for state in states.values().filter(|s| s["Type"] == "Choice") {
            for rule in state["Choices"].as_array().expect("Choices") {
                next_values(rule, &mut values);
            }
        }
        let routes: BTreeSet<String> = Route::ALL.iter().map(|r| r.as_str().to_owned()).collect();
        assert_eq!(values, routes, "the Choice on $.next and Route must name the same values");
    }

    /// Errors every task's Retry must list: ours, and Lambda's transient service errors.
    const RETRIED: [&str; 7] = [
        "Igny8.AiRateLimited",
        "Igny8.Throttled",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.ClientExecutionTimeoutException",
    ];

    #[test]
    fn every_task_retries_transient_errors_and_tells_its_handler_the_call() {
        let asl: Value = serde_json::from_str(ASL).expect("the state machine is JSON");
        let states = asl["States"].as_object().expect("States");
        let tasks: Vec<_> = states.iter().filter(|(name, s)| s["Type"] == "Task" && *name != "RecordFailure").collect();
        assert!(tasks.len() >= 10, "every task of the run");
        for (name, state) in tasks {
            let retried: BTreeSet<&str> = state["Retry"]
                .as_array()
                .expect("Retry")
                .iter()
                .flat_map(|r| r["ErrorEquals"].as_array().expect("ErrorEquals").iter().filter_map(Value::as_str))
                .collect();
            for error in RETRIED {
                assert!(retried.contains(error), "{name} must retry {error}");
            }
            let params = &state["Parameters"];
            let payload = if params.get("Payload").is_some() { &params["Payload"] } else { params };
            assert_eq!(payload["execution.$"], "$$.Execution.Name", "{name}");
            assert_eq!(payload["retry_count.$"], "$$.State.RetryCount", "{name}");
        }
    }

    #[test]
    fn the_costliest_pass_of_any_task_fits_in_the_history_reserve() {
        use crate::automation::history::{CHOICE_EVENTS, DELAY_EVENTS, PASS_RESERVE};
        let asl: Value = serde_json::from_str(ASL).expect("the state machine is JSON");
        let states = asl["States"].as_object().expect("States");
        // A task retried by every retrier to the end (counted as a token task: the
        // dearer), then a delay; the pause wait retried as often; the continuing step.
        let pass = |name: &str| {
            let retries: u64 = states[name]["Retry"]
                .as_array()
                .expect("Retry")
                .iter()
                .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
                .sum();
            6 + 4 * retries + CHOICE_EVENTS
        };
        let pause = pass("PauseWait");
        for (name, _) in states.iter().filter(|(n, s)| s["Type"] == "Task" && *n != "RecordFailure") {
            let worst = pass(name) + DELAY_EVENTS + pause + 7;
            assert!(worst <= PASS_RESERVE, "{name}: a pass may cost {worst} events, the reserve is {PASS_RESERVE}");
        }
    }

    #[test]
    fn a_pause_of_the_longest_length_fits_in_the_execution() {
        use crate::automation::history::{EXECUTION_TIMEOUT_SECONDS, MAX_PAUSE_SECONDS};
        let asl: Value = serde_json::from_str(ASL).expect("the state machine is JSON");
        assert_eq!(asl["States"]["PauseWait"]["TimeoutSeconds"], MAX_PAUSE_SECONDS);
        assert_eq!(asl["TimeoutSeconds"], EXECUTION_TIMEOUT_SECONDS);
        assert_eq!(asl["States"]["Continued"]["Type"], "Succeed");
    }

    #[test]
    fn routes_serialize_as_the_strings_the_machine_matches() {
        for route in Route::ALL {
            assert_eq!(serde_json::to_value(route).expect("json"), Value::from(route.as_str()));
            assert_eq!(serde_json::from_value::<Route>(Value::from(route.as_str())).expect("parse"), route);
        }
        for stage in Stage::ALL {
            assert_eq!(Route::stage(stage).as_str(), format!("stage_{}", stage.name()));
        }
        assert_eq!(Route::after(Stage::ImagePrompts), Route::StageImages);
        assert_eq!(Route::after(Stage::Images), Route::Finalize);
    }
}
