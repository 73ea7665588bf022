//! `GET /auth/sessions`, `DELETE /auth/sessions` and `DELETE /auth/sessions/{sid}` on Lambda,
//! behind the authorizer: the store once at init (no keys: this function never reads the
//! signing secret), then every request through the shared handler.

use lambda_http::{Error, Request, service_fn};
use tessera_service::{Cors, handlers, system_now};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tessera_lambda::init_tracing();
    let cors = Cors::from_env()?;
    let store = tessera_lambda::dynamo_store().await?;
    lambda_http::run(service_fn(|req: Request| async {
        Ok::<_, Error>(cors.apply(handlers::sessions_in(&store, system_now(), req).await))
    }))
    .await
}
