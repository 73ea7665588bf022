//! `GET /me` on Lambda, behind the authorizer: answers with the authorizer context API
//! Gateway attached. It needs no key and no store.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tessera_lambda::StartError> {
    tessera_lambda::init_tracing();
    tessera_lambda::init_metrics()?;
    tessera_lambda::run(tessera_service::me_router()).await
}
