//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` on Lambda: the
//! keys once at init (public parts only are ever served), then every request through the
//! shared handler.

use lambda_http::{Error, Request, service_fn};
use tessera_service::{Cors, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tessera_lambda::init_tracing();
    let cors = Cors::from_env()?;
    let service = tessera_lambda::keys_only_service().await?;
    lambda_http::run(service_fn(|req: Request| async {
        Ok::<_, Error>(cors.apply(handlers::well_known(&service, req).await))
    }))
    .await
}
