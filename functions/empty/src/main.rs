//! The smallest useful Lambda function: the runtime, a JSON event in, a JSON answer out.
//! Benchmarks report every Tessera function as a ratio to this one.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({}))
    }))
    .await
}
