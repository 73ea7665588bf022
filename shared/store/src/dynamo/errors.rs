//! SDK errors to [`StoreError`]: transient failures become the retryable
//! [`StoreError::Unavailable`], never "not found" or "reused".

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::StoreError;

/// Error codes DynamoDB uses when it sheds load; the SDK has already retried them.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// Classifies a failed call of `operation` (after the SDK's own retries).
pub(super) fn classify<E>(operation: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // The service's own code and message when it answered; the error chain otherwise (a
    // timeout or connection failure). Never the raw response: it carries every header.
    let detail = match &err {
        SdkError::ServiceError(service) => match (service.err().code(), service.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => format!("http {}", service.raw().status().as_u16()),
        },
        SdkError::ResponseError(response) => {
            format!(
                "unreadable response, http {}",
                response.raw().status().as_u16()
            )
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    match &err {
        SdkError::TimeoutError(_) => {
            StoreError::unavailable(format!("dynamodb {operation} timed out: {detail}"))
        }
        SdkError::DispatchFailure(failure) if !failure.is_user() => {
            StoreError::unavailable(format!("dynamodb {operation} not sent: {detail}"))
        }
        SdkError::ResponseError(response) if response.raw().status().is_server_error() => {
            StoreError::unavailable(format!("dynamodb {operation} failed: {detail}"))
        }
        SdkError::ServiceError(service) => {
            let throttled = service
                .err()
                .code()
                .is_some_and(|code| THROTTLING_CODES.contains(&code));
            if throttled || service.raw().status().is_server_error() {
                StoreError::unavailable(format!("dynamodb {operation} unavailable: {detail}"))
            } else {
                StoreError::Internal(format!("dynamodb {operation} failed: {detail}"))
            }
        }
        _ => StoreError::Internal(format!("dynamodb {operation} failed: {detail}")),
    }
}

/// A request that could not be built: a bug, not an outage.
pub(super) fn internal(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Internal(format!("dynamodb request: {err}"))
}
