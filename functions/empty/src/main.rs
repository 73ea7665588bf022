//! The smallest useful Lambda function: the runtime, a JSON event in, a JSON answer out.
//! Benchmarks report every Tessera function as a ratio to this one, so it starts and runs
//! exactly as they do: tracing, the current-thread runtime, `Result<(), StartError>`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tessera_lambda::{StartError, init_tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StartError> {
    init_tracing();
    let handler = service_fn(|_event: LambdaEvent<Value>| async { Ok::<_, Error>(json!({})) });
    Ok(lambda_runtime::run(handler).await?)
}
