//! The workflow port on AWS Step Functions.
//!
//! An automation run is one execution of the deployed state machine, **named by the
//! run id**, so Step Functions itself guarantees that a run is never started twice;
//! the task-token callbacks are its own SendTaskSuccess / SendTaskFailure.
//!
//! Where Step Functions and the port differ, this adapter bends to the port:
//!
//! * the port addresses executions by name; the execution ARN is derived from the
//!   state machine ARN (`…:stateMachine:M` → `…:execution:M:name`), as AWS forms it;
//! * a start refused with `ExecutionAlreadyExists` (AWS only accepts a repeat while
//!   the first execution runs) is looked up, and is success when that execution got
//!   the same input, so a retried start after a crash is harmless;
//! * `TaskDoesNotExist`, `InvalidToken` and `TaskTimedOut` all mean "this token can
//!   no longer complete anything" and become [`WorkflowError::InvalidToken`].

use async_trait::async_trait;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::Client;
use serde_json::Value;

use super::config::sdk_config;
use igny8_core::ports::workflow::{Workflow, WorkflowError};

/// The workflow port on one Step Functions state machine.
///
/// Cheap to clone: the SDK client is a handle to a shared connection pool.
#[derive(Debug, Clone)]
pub struct SfnWorkflow {
    client: Client,
    state_machine_arn: String,
}

impl SfnWorkflow {
    /// Wraps an already configured client, so callers sharing one `SdkConfig` across
    /// adapters (or tests with a custom client) can reuse it.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self { client, state_machine_arn: state_machine_arn.into() }
    }

    /// Builds a client from the shared AWS configuration (see `aws::config`) for the
    /// state machine `state_machine_arn`; `endpoint` points it at an emulator.
    pub async fn connect(endpoint: Option<&str>, state_machine_arn: &str) -> Result<Self, WorkflowError> {
        let config = sdk_config(endpoint).await;
        Ok(Self::new(Client::new(&config), state_machine_arn))
    }

    /// The same client aimed at another state machine, e.g. one just made with
    /// [`SfnWorkflow::create_state_machine`], without building a second client.
    pub fn with_state_machine(&self, state_machine_arn: impl Into<String>) -> Self {
        Self::new(self.client.clone(), state_machine_arn)
    }

    /// The underlying client, for callers needing an operation the port leaves out
    /// (execution history, listing executions).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The state machine every execution belongs to, for logs and admin tooling.
    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    /// The ARN of the execution named `name`, as Step Functions forms it, so callers
    /// (and the port) can address an execution by the run id alone.
    pub fn execution_arn(&self, name: &str) -> String {
        format!("{}:{name}", self.state_machine_arn.replacen(":stateMachine:", ":execution:", 1))
    }

    /// Creates a standard state machine and returns its ARN: provisioning for tests
    /// and emulators, where no CloudFormation stack deploys one.
    pub async fn create_state_machine(
        &self,
        name: &str,
        definition_json: &str,
        role_arn: &str,
    ) -> Result<String, WorkflowError> {
        let out = self
            .client
            .create_state_machine()
            .name(name)
            .definition(definition_json)
            .role_arn(role_arn)
            .send()
            .await
            .map_err(|e| backend("CreateStateMachine", &e))?;
        Ok(out.state_machine_arn().to_owned())
    }

    /// The status (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`) and, once
    /// it succeeded, the output of the execution named `name`: what operators and
    /// tests need to follow a run without the history API.
    pub async fn describe(&self, name: &str) -> Result<(String, Option<Value>), WorkflowError> {
        let (status, _, output) = self.describe_parts(name).await?;
        Ok((status, output))
    }

    /// Status, input and output of the execution named `name`.
    async fn describe_parts(&self, name: &str) -> Result<(String, Value, Option<Value>), WorkflowError> {
        let out =
            self.client.describe_execution().execution_arn(self.execution_arn(name)).send().await.map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) {
                    WorkflowError::NotFound(name.to_owned())
                } else {
                    backend("DescribeExecution", &e)
                }
            })?;
        let input = parse_json("input", out.input().unwrap_or("null"))?;
        let output = out.output().map(|o| parse_json("output", o)).transpose()?;
        Ok((out.status().as_str().to_owned(), input, output))
    }
}

/// A backend error naming the operation, with the SDK's full error chain.
/// A throttle, 5xx or dropped connection is `Throttled` (retry).
fn backend<E>(op: &str, err: &SdkError<E>) -> WorkflowError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let message = format!("Step Functions {op}: {}", DisplayErrorContext(err));
    if super::transient::is_transient(err) {
        WorkflowError::Throttled(message)
    } else {
        WorkflowError::Backend(message)
    }
}

/// A task-token call's error: a token that is malformed, unknown or timed out is
/// `InvalidToken` (the caller's to handle), anything else a backend error.
fn token_error<E>(op: &str, err: &SdkError<E>, dead_token: bool) -> WorkflowError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    if dead_token {
        WorkflowError::InvalidToken
    } else {
        backend(op, err)
    }
}

/// Parses a JSON document Step Functions returned as text.
fn parse_json(what: &str, text: &str) -> Result<Value, WorkflowError> {
    serde_json::from_str(text).map_err(|e| {
        WorkflowError::Backend(format!("Step Functions returned an execution {what} that is not JSON: {e}"))
    })
}

#[async_trait]
impl Workflow for SfnWorkflow {
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => {
                let (_, existing, _) = self.describe_parts(name).await?;
                if existing == input {
                    Ok(())
                } else {
                    Err(WorkflowError::AlreadyExists(name.to_owned()))
                }
            }
            Err(e) => Err(backend("StartExecution", &e)),
        }
    }

    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.client
            .stop_execution()
            .execution_arn(self.execution_arn(name))
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) {
                    WorkflowError::NotFound(name.to_owned())
                } else {
                    backend("StopExecution", &e)
                }
            })
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.client.send_task_success().task_token(token).output(output.to_string()).send().await.map(drop).map_err(
            |e| {
                let dead = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_token() || s.is_task_does_not_exist() || s.is_task_timed_out());
                token_error("SendTaskSuccess", &e, dead)
            },
        )
    }

    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.client.send_task_failure().task_token(token).error(error).cause(cause).send().await.map(drop).map_err(
            |e| {
                let dead = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_token() || s.is_task_does_not_exist() || s.is_task_timed_out());
                token_error("SendTaskFailure", &e, dead)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn execution_arns_follow_the_state_machine_arn() {
        let wf = SfnWorkflow::connect(
            Some("http://127.0.0.1:1"),
            "arn:aws:states:us-east-1:123456789012:stateMachine:automation",
        )
        .await
        .expect("connect");
        assert_eq!(wf.execution_arn("run-1"), "arn:aws:states:us-east-1:123456789012:execution:automation:run-1");
        let other = wf.with_state_machine("arn:aws:states:eu-west-1:1:stateMachine:x");
        assert_eq!(other.execution_arn("r"), "arn:aws:states:eu-west-1:1:execution:x:r");
    }
}
