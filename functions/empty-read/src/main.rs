//! The empty function plus exactly the read the checking authorizer makes per decision: one
//! strongly consistent `BatchGetItem` of a session and its user (`READ_SID`, `READ_USERNAME`)
//! in `TABLE_NAME`, through the same client. The Lambda report measures the checking
//! authorizer's cost above the lean one against this function's above the empty one: one
//! DynamoDB round trip as a function process pays it, on the same machine at the same time.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tessera_lambda::{StartError, init_tracing};
use tessera_store::{DynamoStore, SessionStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StartError> {
    init_tracing();
    let var = |name: &str| {
        std::env::var(name).map_err(|_| StartError::from(format!("{name} is required")))
    };
    let (table, sid, username) = (var("TABLE_NAME")?, var("READ_SID")?, var("READ_USERNAME")?);
    let store = DynamoStore::on_aws(table).await?;
    let handler = service_fn(|_event: LambdaEvent<Value>| {
        let (store, sid, username) = (&store, &sid, &username);
        async move {
            let (session, user) = store.get_session_and_user(sid, username).await?;
            Ok::<_, Error>(json!({ "session": session.is_some(), "user": user.is_some() }))
        }
    });
    Ok(lambda_runtime::run(handler).await?)
}
