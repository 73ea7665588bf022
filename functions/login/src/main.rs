//! `POST /auth/login` on Lambda: the login router over the DynamoDB store and the key ring,
//! built once at init.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tessera_lambda::StartError> {
    tessera_lambda::init_tracing();
    tessera_lambda::init_metrics()?;
    let service = tessera_lambda::dynamo_service().await?;
    tessera_lambda::run(tessera_service::login_router(service.into())).await
}
