//! The sample events in `events/`, compiled in, with their `PLACEHOLDER` values filled in the
//! way API Gateway would fill them.
//!
//! Proxy events for protected routes carry `requestContext.authorizer`, which API Gateway
//! builds from the authorizer's answer: see [`GatewayAuthorizer`].

use serde_json::{Map, Value, json};

use crate::E2eError;

/// `events/rest-login.json`: `POST /auth/login` with a JSON body.
pub const REST_LOGIN: &str = include_str!("../../events/rest-login.json");
/// `events/rest-login-form.json`: `POST /auth/login` with a form body.
pub const REST_LOGIN_FORM: &str = include_str!("../../events/rest-login-form.json");
/// `events/rest-refresh.json`: `POST /auth/refresh` with a JSON body.
pub const REST_REFRESH: &str = include_str!("../../events/rest-refresh.json");
/// `events/rest-refresh-form.json`: `POST /auth/refresh` with a form body.
pub const REST_REFRESH_FORM: &str = include_str!("../../events/rest-refresh-form.json");
/// `events/rest-logout.json`: `POST /auth/logout`.
pub const REST_LOGOUT: &str = include_str!("../../events/rest-logout.json");
/// `events/rest-me.json`: `GET /me` behind the authorizer.
pub const REST_ME: &str = include_str!("../../events/rest-me.json");
/// `events/rest-sessions-list.json`: `GET /auth/sessions` behind the authorizer.
pub const REST_SESSIONS_LIST: &str = include_str!("../../events/rest-sessions-list.json");
/// `events/rest-sessions-revoke.json`: `DELETE /auth/sessions/{sid}` behind the authorizer.
pub const REST_SESSIONS_REVOKE: &str = include_str!("../../events/rest-sessions-revoke.json");
/// `events/rest-sessions-revoke-all.json`: `DELETE /auth/sessions` behind the authorizer.
pub const REST_SESSIONS_REVOKE_ALL: &str =
    include_str!("../../events/rest-sessions-revoke-all.json");
/// `events/rest-jwks.json`: `GET /.well-known/jwks.json`.
pub const REST_JWKS: &str = include_str!("../../events/rest-jwks.json");
/// `events/rest-openid-configuration.json`: `GET /.well-known/openid-configuration`.
pub const REST_OPENID_CONFIGURATION: &str =
    include_str!("../../events/rest-openid-configuration.json");
/// `events/authorizer-rest-token.json`: a REST API TOKEN authorizer event for `GET /me`.
pub const AUTHORIZER_REST_TOKEN: &str = include_str!("../../events/authorizer-rest-token.json");
/// `events/authorizer-rest-request.json`: a REST API REQUEST authorizer event for `GET /me`.
pub const AUTHORIZER_REST_REQUEST: &str = include_str!("../../events/authorizer-rest-request.json");
/// `events/authorizer-http-v2.json`: an HTTP API payload 2.0 authorizer event for `GET /me`.
pub const AUTHORIZER_HTTP_V2: &str = include_str!("../../events/authorizer-http-v2.json");

/// The username the login samples carry, replaced by the test user's.
const SAMPLE_USERNAME: &str = "alice";
const PLACEHOLDER: &str = "PLACEHOLDER";

/// A sample event as JSON, placeholders and all.
pub fn parse_sample(sample: &'static str) -> Result<Value, E2eError> {
    serde_json::from_str(sample)
        .map_err(|e| E2eError::Protocol(format!("a sample event is not JSON: {e}")))
}

/// The sample's `body` with every `from` replaced by `to`.
fn fill_body(sample: &'static str, fills: &[(&str, &str)]) -> Result<Value, E2eError> {
    let mut event = parse_sample(sample)?;
    let mut body = event
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| E2eError::Protocol("the sample event has no string body".into()))?
        .to_owned();
    for (from, to) in fills {
        body = body.replace(from, to);
    }
    event["body"] = Value::String(body);
    Ok(event)
}

/// Which body encoding a `POST` event uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// `POST /auth/login` for `username` and `password`. Both must be JSON- and form-safe as
/// they are (the test users' are: letters, digits, `-` and `_`).
pub fn login(encoding: Encoding, username: &str, password: &str) -> Result<Value, E2eError> {
    let sample = match encoding {
        Encoding::Json => REST_LOGIN,
        Encoding::Form => REST_LOGIN_FORM,
    };
    fill_body(
        sample,
        &[(SAMPLE_USERNAME, username), (PLACEHOLDER, password)],
    )
}

/// `POST /auth/refresh` presenting `refresh_token`.
pub fn refresh(encoding: Encoding, refresh_token: &str) -> Result<Value, E2eError> {
    let sample = match encoding {
        Encoding::Json => REST_REFRESH,
        Encoding::Form => REST_REFRESH_FORM,
    };
    fill_body(sample, &[(PLACEHOLDER, refresh_token)])
}

/// `POST /auth/logout` presenting `refresh_token`.
pub fn logout(refresh_token: &str) -> Result<Value, E2eError> {
    fill_body(REST_LOGOUT, &[(PLACEHOLDER, refresh_token)])
}

/// `GET /.well-known/jwks.json`.
pub fn jwks() -> Result<Value, E2eError> {
    parse_sample(REST_JWKS)
}

/// `GET /.well-known/openid-configuration`.
pub fn openid_configuration() -> Result<Value, E2eError> {
    parse_sample(REST_OPENID_CONFIGURATION)
}

/// Which authorizer event API Gateway sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorizerEvent {
    /// REST API, TOKEN authorizer (`authorizationToken`).
    RestToken,
    /// REST API, REQUEST authorizer (`headers`, `multiValueHeaders`).
    RestRequest,
    /// HTTP API, payload format 2.0 (`headers`, `identitySource`).
    HttpV2,
}

impl AuthorizerEvent {
    /// All three, for tests that hold for every kind.
    pub const ALL: [Self; 3] = [Self::RestToken, Self::RestRequest, Self::HttpV2];

    /// The REST kinds (answered with an IAM policy or the error `Unauthorized`).
    pub const REST: [Self; 2] = [Self::RestToken, Self::RestRequest];

    /// The sample event for this kind, with `authorization` (the whole `Authorization` value,
    /// such as `Bearer <token>`) wherever API Gateway puts it; `None` as if the client sent
    /// no `Authorization` header.
    pub fn event(self, authorization: Option<&str>) -> Result<Value, E2eError> {
        let sample = match self {
            Self::RestToken => AUTHORIZER_REST_TOKEN,
            Self::RestRequest => AUTHORIZER_REST_REQUEST,
            Self::HttpV2 => AUTHORIZER_HTTP_V2,
        };
        let mut event = parse_sample(sample)?;
        match (self, authorization) {
            (Self::RestToken, Some(value)) => event["authorizationToken"] = json!(value),
            // API Gateway itself answers 401 without calling a TOKEN authorizer when the
            // header is missing; the authorizer must still never allow such an event.
            (Self::RestToken, None) => remove(&mut event, "authorizationToken"),
            (Self::RestRequest, Some(value)) => {
                event["headers"]["Authorization"] = json!(value);
                event["multiValueHeaders"]["Authorization"] = json!([value]);
            }
            (Self::RestRequest, None) => {
                remove(&mut event["headers"], "Authorization");
                remove(&mut event["multiValueHeaders"], "Authorization");
            }
            (Self::HttpV2, Some(value)) => {
                event["headers"]["authorization"] = json!(value);
                event["identitySource"] = json!([value]);
            }
            (Self::HttpV2, None) => {
                remove(&mut event["headers"], "authorization");
                if let Some(object) = event.as_object_mut() {
                    object.remove("identitySource");
                }
            }
        }
        Ok(event)
    }

    /// The event for a bearer `token`.
    pub fn bearer(self, token: &str) -> Result<Value, E2eError> {
        self.event(Some(&format!("Bearer {token}")))
    }

    /// Whether this kind is answered the REST way.
    pub fn is_rest(self) -> bool {
        self != Self::HttpV2
    }
}

fn remove(object: &mut Value, key: &str) {
    if let Some(map) = object.as_object_mut() {
        map.remove(key);
    }
}

/// `requestContext.authorizer` as API Gateway builds it for a REST API after an Allow: the
/// policy's `principalId`, every `context` entry as a string (API Gateway passes only
/// string, number and boolean values, and the integration sees them as strings), and the
/// authorizer's latency.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayAuthorizer(Map<String, Value>);

impl GatewayAuthorizer {
    /// From the IAM policy a REST authorizer answered.
    pub fn from_policy(policy: &Value) -> Result<Self, E2eError> {
        let principal = policy
            .get("principalId")
            .and_then(Value::as_str)
            .ok_or_else(|| E2eError::Protocol("the policy has no principalId".into()))?;
        let mut map = Map::new();
        map.insert("principalId".into(), json!(principal));
        if let Some(context) = policy.get("context").and_then(Value::as_object) {
            for (key, value) in context {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    // API Gateway rejects an authorizer answer with nested context values.
                    other => {
                        return Err(E2eError::Protocol(format!(
                            "context value {key} is not a string, number or boolean: {other}"
                        )));
                    }
                };
                map.insert(key.clone(), Value::String(value));
            }
        }
        map.insert("integrationLatency".into(), json!(3));
        Ok(Self(map))
    }

    /// The entry API Gateway passes for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Puts this context, and the bearer token the client sent, into a protected route's
    /// sample event.
    fn attach(&self, sample: &'static str, token: &str) -> Result<Value, E2eError> {
        let mut event = parse_sample(sample)?;
        let bearer = format!("Bearer {token}");
        event["headers"]["Authorization"] = json!(bearer);
        event["multiValueHeaders"]["Authorization"] = json!([bearer]);
        event["requestContext"]["authorizer"] = Value::Object(self.0.clone());
        Ok(event)
    }

    /// `GET /me`, as the client holding `token` called it.
    pub fn me(&self, token: &str) -> Result<Value, E2eError> {
        self.attach(REST_ME, token)
    }

    /// `GET /auth/sessions`.
    pub fn sessions_list(&self, token: &str) -> Result<Value, E2eError> {
        self.attach(REST_SESSIONS_LIST, token)
    }

    /// `DELETE /auth/sessions/{sid}`.
    pub fn sessions_revoke(&self, token: &str, sid: &str) -> Result<Value, E2eError> {
        let mut event = self.attach(REST_SESSIONS_REVOKE, token)?;
        event["path"] = json!(format!("/auth/sessions/{sid}"));
        event["pathParameters"]["sid"] = json!(sid);
        event["requestContext"]["path"] = json!(format!("/prod/auth/sessions/{sid}"));
        Ok(event)
    }

    /// `DELETE /auth/sessions`.
    pub fn sessions_revoke_all(&self, token: &str) -> Result<Value, E2eError> {
        self.attach(REST_SESSIONS_REVOKE_ALL, token)
    }
}

/// A proxy integration's answer (`statusCode`, `headers`, `body`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyResponse {
    /// The HTTP status.
    pub status: u16,
    /// Single-value headers, names lower-cased.
    pub headers: Map<String, Value>,
    /// The body, decoded from base64 when the function encoded it.
    pub body: String,
}

impl ProxyResponse {
    /// Reads the JSON a REST proxy integration answers.
    pub fn from_json(answer: &Value) -> Result<Self, E2eError> {
        let status = answer
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| E2eError::Protocol(format!("no statusCode in {answer}")))?;
        let mut headers = Map::new();
        if let Some(map) = answer.get("headers").and_then(Value::as_object) {
            for (k, v) in map {
                headers.insert(k.to_ascii_lowercase(), v.clone());
            }
        }
        if let Some(map) = answer.get("multiValueHeaders").and_then(Value::as_object) {
            for (k, v) in map {
                if let Some(first) = v.as_array().and_then(|a| a.first()) {
                    headers
                        .entry(k.to_ascii_lowercase())
                        .or_insert_with(|| first.clone());
                }
            }
        }
        let body = answer
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if answer.get("isBase64Encoded") == Some(&Value::Bool(true)) {
            return Err(E2eError::Protocol(
                "the function base64-encoded a JSON or empty body".into(),
            ));
        }
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, E2eError> {
        serde_json::from_str(&self.body)
            .map_err(|e| E2eError::Protocol(format!("body is not JSON ({e}): {}", self.body)))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(Value::as_str)
    }
}
