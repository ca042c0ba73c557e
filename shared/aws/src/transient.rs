//! Which SDK errors are worth retrying, said once for every service: a throttle
//! (DynamoDB's ProvisionedThroughputExceeded, S3's SlowDown, SQS's RequestThrottled,
//! Step Functions' ThrottlingException...), any 5xx, a timeout or a dropped connection.
//! The SDK has already retried these a few times; what still fails here becomes the
//! port's transient variant, so the state machine retries the step instead of failing
//! the run.

use aws_sdk_dynamodb::config::http::HttpResponse as Response;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Error codes meaning "slow down", across DynamoDB, S3, SQS and Step Functions.
const THROTTLE_CODES: [&str; 12] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "AWS.SimpleQueueService.RequestThrottled",
    "SlowDown",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
];

/// Error codes of a service that is briefly unable to answer.
const UNAVAILABLE_CODES: [&str; 6] = [
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "AWS.SimpleQueueService.ServiceUnavailable",
];

/// True for a throttle or outage by its error code or HTTP status (the parts a
/// service error carries), the rule [`is_transient`] applies.
pub(crate) fn transient_response(code: Option<&str>, status: Option<u16>) -> bool {
    let by_code = code.is_some_and(|c| THROTTLE_CODES.contains(&c) || UNAVAILABLE_CODES.contains(&c));
    let by_status = status.is_some_and(|s| s == 429 || (500..600).contains(&s));
    by_code || by_status
}

/// True when the request may succeed if sent again unchanged: a throttled or failing
/// service (by code or 5xx status), a timeout, or a connection that failed mid-way.
pub(crate) fn is_transient<E>(err: &SdkError<E, Response>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout() || d.is_io(),
        SdkError::ResponseError(r) => transient_response(None, Some(r.raw().status().as_u16())),
        SdkError::ServiceError(s) => transient_response(s.err().code(), Some(s.raw().status().as_u16())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_and_outages_of_every_service_are_transient() {
        for code in ["ProvisionedThroughputExceededException", "SlowDown", "RequestThrottled", "ThrottlingException"] {
            assert!(transient_response(Some(code), Some(400)), "{code}");
        }
        for status in [429, 500, 502, 503, 504] {
            assert!(transient_response(Some("Whatever"), Some(status)), "{status}");
        }
        assert!(transient_response(Some("InternalServerError"), None));
    }

    #[test]
    fn timeouts_and_dropped_connections_are_transient_a_bad_request_is_not() {
        use aws_sdk_dynamodb::error::ConnectorError;
        use aws_sdk_dynamodb::operation::get_item::GetItemError;
        type Error = SdkError<GetItemError, Response>;
        assert!(is_transient(&Error::timeout_error("no answer in time")));
        assert!(is_transient(&Error::dispatch_failure(ConnectorError::io("connection reset".into()))));
        assert!(is_transient(&Error::dispatch_failure(ConnectorError::timeout("connect timeout".into()))));
        assert!(!is_transient(&Error::dispatch_failure(ConnectorError::user("bad request".into()))));
        assert!(!is_transient(&Error::construction_failure("missing field")));
    }

    #[test]
    fn refusals_are_not_transient() {
        for code in ["ValidationException", "AccessDenied", "ResourceNotFoundException", "InvalidToken"] {
            assert!(!transient_response(Some(code), Some(400)), "{code}");
        }
        assert!(!transient_response(None, Some(404)));
        assert!(!transient_response(None, None));
    }
}
