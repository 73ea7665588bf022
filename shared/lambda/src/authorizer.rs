//! The authorizer functions' event loop, shared by the lean and the checking authorizer.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tessera_authorizer::keyring::KeyedAuthorizer;

/// Answers every event with `authorizer` until the runtime stops. The raw event bytes go
/// straight to the authorizer's borrowed parser, and its typed answer is serialised straight
/// into the response. API Gateway reads only an error's message: `Unauthorized` is its 401,
/// anything else its 500.
pub async fn run_authorizer(authorizer: KeyedAuthorizer) -> Result<(), Error> {
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| async move {
        let bytes = event.payload.get().as_bytes();
        let answer = authorizer.answer(bytes, &event.context.request_id).await;
        answer.map_err(Error::from)
    }))
    .await
}
