//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` on Lambda: the
//! keys once at init (re-read on their timer; public parts only are ever served).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tessera_lambda::StartError> {
    tessera_lambda::init_tracing();
    tessera_lambda::init_metrics()?;
    let service = tessera_lambda::keys_only_service().await?;
    tessera_lambda::run(tessera_service::well_known_router(service.into())).await
}
