//! `POST /auth/login` on Lambda: config, store and keys once at init, then every
//! request through the shared handler.

use lambda_http::{Error, Request, service_fn};
use tessera_service::{Cors, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tessera_lambda::init_tracing();
    let cors = Cors::from_env()?;
    let service = tessera_lambda::dynamo_service().await?;
    lambda_http::run(service_fn(|req: Request| async {
        Ok::<_, Error>(cors.apply(handlers::login(&service, req).await))
    }))
    .await
}
