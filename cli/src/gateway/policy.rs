//! API Gateway's side of a Lambda authorizer, done locally: the TOKEN event it sends and the
//! method ARN it names. The policy it gets back is evaluated by the authorizer crate's own
//! typed [`tessera_authorizer::PolicyResponse::evaluate`].

use serde::Serialize;
#[cfg(test)]
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

/// The REST API stage `tessera serve` pretends to be; it appears in ARNs only (the path the
/// integration sees carries no stage, as with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`).
pub const STAGE: &str = "local";
pub(crate) const REGION: &str = "local";
pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const API_ID: &str = "tessera";

/// The ARN API Gateway names the invoked method with in authorizer events.
pub fn method_arn(method: &str, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}/{}",
        path.trim_start_matches('/')
    )
}

/// The REST API TOKEN authorizer event for a request carrying `authorization`, as the JSON
/// bytes the authorizer reads: serialised straight from borrowed fields, with no
/// intermediate `Value` (this runs on every protected request).
pub fn token_event_bytes(authorization: &str, method: &str, path: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct TokenEvent<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "authorizationToken")]
        authorization_token: &'a str,
        #[serde(rename = "methodArn")]
        method_arn: &'a str,
    }
    let arn = method_arn(method, path);
    // Serialising borrowed strings cannot fail; if it ever did, an empty event is denied.
    serde_json::to_vec(&TokenEvent {
        kind: "TOKEN",
        authorization_token: authorization,
        method_arn: &arn,
    })
    .unwrap_or_default()
}

/// The REST API TOKEN authorizer event for a request carrying `authorization`.
#[cfg(test)]
pub fn token_event(authorization: &str, method: &str, path: &str) -> Value {
    json!({
        "type": "TOKEN",
        "authorizationToken": authorization,
        "methodArn": method_arn(method, path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_event_bytes_are_the_token_event() {
        let authorization = "Bearer a.b.c \"quoted\" \\ é";
        let bytes = token_event_bytes(authorization, "GET", "/me");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, token_event(authorization, "GET", "/me"));
    }
}
