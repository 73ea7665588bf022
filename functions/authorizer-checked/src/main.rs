//! The checking API Gateway Lambda authorizer: the lean authorizer's decision (see
//! `functions/authorizer`), and, with `AUTHORIZER_REVOCATION_CHECK=session`, a valid token is
//! allowed only while its session is live: not revoked, not expired, not older than its
//! user's revocation watermark, its user active. That is asked of the DynamoDB table
//! `TABLE_NAME` with strongly consistent reads (one `BatchGetItem` once the session's owner
//! is known to this process), and a live answer is reused for `AUTHORIZER_REVOCATION_CACHE`
//! seconds.
//!
//! Fails closed: a table that cannot answer decides nothing. The event becomes a function
//! error (API Gateway: 500), logged as an ERROR and counted as the outcome `error`, never an
//! allow and never a 401.
//!
//! The template deploys this binary instead of the lean one only when the check is on, so
//! the default authorizer links no AWS SDK.

use std::sync::Arc;
use std::time::Duration;

use tessera_authorizer::keyring::{InitError, KeyedAuthorizer};
use tessera_authorizer::sessions::{LiveSessions, StoreSessions};
use tessera_config::Vars;
use tessera_lambda::{StartError, init_metrics, init_tracing_with_refusal, run_authorizer};
use tessera_store::DynamoStore;

/// How long one decision's read may take, retries included: well inside the function's
/// 5 s timeout (template.yaml), so a table that does not answer is this function's own error,
/// logged and counted, and API Gateway's 500 comes in 2 s, not 5.
const READ_LIMIT: Duration = Duration::from_secs(2);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StartError> {
    init_tracing_with_refusal(tessera_authorizer::UNAUTHORIZED);
    init_metrics()?;
    let vars = Vars::env();
    let authorizer = KeyedAuthorizer::from_vars_with_sessions(&vars, || async {
        let table = vars
            .get("TABLE_NAME")
            .ok_or_else(|| InitError::Sessions("TABLE_NAME is required".into()))?;
        // The SDK's own environment applies: credentials, region, and
        // AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local). The client trusts the Amazon roots
        // only: the system trust store is never read, which halves this function's start.
        let store = DynamoStore::on_aws(table)
            .await
            .map_err(|e| InitError::Sessions(e.to_string()))?
            .with_call_limit(READ_LIMIT);
        Ok(Arc::new(StoreSessions::new(store)) as Arc<dyn LiveSessions>)
    })
    .await?;
    Ok(run_authorizer(authorizer).await?)
}
