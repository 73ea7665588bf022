//! API Gateway's side of a Lambda authorizer, done locally: the TOKEN event it sends and the
//! method ARN it names. The policy it gets back is evaluated by the authorizer crate's own
//! typed [`tessera_authorizer::PolicyResponse::evaluate`].

use serde::Serialize;
#[cfg(test)]
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

/// `arn:aws:execute-api:{region}:{account}:{api id}/{stage}/` of the API `tessera serve`
/// pretends to be: region `local`, account `000000000000`, API `tessera`, stage `local`. The
/// stage appears in ARNs only (the path the integration sees carries no stage, as with
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`).
const API_ARN: &str = "arn:aws:execute-api:local:000000000000:tessera/local/";

/// The ARN API Gateway names the invoked method with in authorizer events. Built by appending
/// (it runs on every protected request; `format!` cost a visible share of one).
pub fn method_arn(method: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    let mut arn = String::with_capacity(API_ARN.len() + method.len() + 1 + path.len());
    arn.push_str(API_ARN);
    arn.push_str(method);
    arn.push('/');
    arn.push_str(path);
    arn
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
    fn the_method_arn_names_the_local_api_and_stage() {
        assert_eq!(
            method_arn("GET", "/auth/sessions/abc"),
            "arn:aws:execute-api:local:000000000000:tessera/local/GET/auth/sessions/abc"
        );
        assert_eq!(
            method_arn("GET", "/"),
            "arn:aws:execute-api:local:000000000000:tessera/local/GET/"
        );
    }

    #[test]
    fn the_token_event_bytes_are_the_token_event() {
        let authorization = "Bearer a.b.c \"quoted\" \\ é";
        let bytes = token_event_bytes(authorization, "GET", "/me");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, token_event(authorization, "GET", "/me"));
    }
}
