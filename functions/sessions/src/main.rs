//! `GET /auth/sessions`, `DELETE /auth/sessions` and `DELETE /auth/sessions/{sid}` on Lambda,
//! behind the authorizer: the store once at init, and no key (this function never reads the
//! signing secret).

use tessera_service::{Sessions, sessions_router};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tessera_lambda::StartError> {
    tessera_lambda::init_tracing();
    tessera_lambda::init_metrics()?;
    let store = tessera_lambda::dynamo_store().await?;
    tessera_lambda::run(sessions_router(Sessions::new(store).into())).await
}
