//! `GET /me` on Lambda, behind the authorizer: a demo of how an integration reads the
//! authorizer context. No keys, no store.

use lambda_http::{Error, Request, service_fn};
use tessera_service::{Cors, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let cors = Cors::from_env()?;
    lambda_http::run(service_fn(|req: Request| async {
        Ok::<_, Error>(cors.apply(handlers::me(req).await))
    }))
    .await
}
