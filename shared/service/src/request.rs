//! Reading what a request carries: the form or JSON body, the authorizer context, the client.

use std::collections::HashMap;
use std::fmt;

use http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::{ClientMeta, ServiceError};

/// The largest request body accepted; larger ones are refused (413) before any parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The fields of a request body, from JSON or from a form.
#[derive(Debug)]
pub(crate) enum Fields {
    Json(serde_json::Map<String, Value>),
    Form(HashMap<String, String>),
}

impl Fields {
    /// Parses the body: `application/json` (an object, each member at most once) or
    /// `application/x-www-form-urlencoded` (each parameter at most once, RFC 6749 §3.2), with
    /// any parameters such as a charset.
    pub(crate) fn parse(req: &Request) -> Result<Self, ServiceError> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(ServiceError::PayloadTooLarge);
        }
        let media_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        match media_type.as_deref() {
            Some("application/json") => match serde_json::from_slice::<JsonBody>(body) {
                Ok(JsonBody::Object(map)) => Ok(Self::Json(map)),
                Ok(JsonBody::Repeated) => {
                    Err(ServiceError::InvalidRequest("a JSON member is repeated"))
                }
                Ok(JsonBody::NotObject) => Err(ServiceError::InvalidRequest(
                    "the JSON body must be an object",
                )),
                Err(_) => Err(ServiceError::InvalidRequest("the body is not valid JSON")),
            },
            Some("application/x-www-form-urlencoded") => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                    .map_err(|_| ServiceError::InvalidRequest("the body is not a valid form"))?;
                let mut fields = HashMap::with_capacity(pairs.len());
                for (name, value) in pairs {
                    if fields.insert(name, value).is_some() {
                        return Err(ServiceError::InvalidRequest("a form parameter is repeated"));
                    }
                }
                Ok(Self::Form(fields))
            }
            _ => Err(ServiceError::InvalidRequest(
                "the content type must be application/json or application/x-www-form-urlencoded",
            )),
        }
    }

    /// A string field; absent (or JSON null) is `None`, any other JSON type is malformed.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, ServiceError> {
        match self {
            Self::Form(map) => Ok(map.get(name).map(String::as_str)),
            Self::Json(map) => match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(ServiceError::InvalidRequest("every field must be a string")),
            },
        }
    }

    /// A string field that must be present and non-empty; `missing` is the error text.
    pub(crate) fn required(&self, name: &str, missing: &'static str) -> Result<&str, ServiceError> {
        match self.get(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ServiceError::InvalidRequest(missing)),
        }
    }

    /// When a `grant_type` is given, it must be the one this endpoint serves (RFC 6749 §5.2).
    pub(crate) fn check_grant_type(&self, expected: &str) -> Result<(), ServiceError> {
        match self.get("grant_type")? {
            Some(given) if given != expected => Err(ServiceError::UnsupportedGrantType),
            _ => Ok(()),
        }
    }
}

/// A JSON body as [`Fields::parse`] judges it.
///
/// `serde_json::Value` keeps the last of two members with one name, so
/// `{"refresh_token":"a","refresh_token":"b"}` would act on `b` while a proxy, a WAF rule or
/// a log filter in front of us may have looked at `a`. A form with a repeated parameter is
/// refused for the same reason; this refuses the JSON form of it.
enum JsonBody {
    /// An object whose members all have distinct names (compared after unescaping).
    Object(serde_json::Map<String, Value>),
    /// An object naming some member twice.
    Repeated,
    /// Valid JSON, but not an object.
    NotObject,
}

impl<'de> Deserialize<'de> for JsonBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonBodyVisitor)
    }
}

struct JsonBodyVisitor;

impl<'de> Visitor<'de> for JsonBodyVisitor {
    type Value = JsonBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                // The rest is still read, so that a body that is also malformed JSON is
                // reported as such rather than as a repeat.
                map.next_value::<IgnoredAny>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(JsonBody::Repeated);
            }
            let value = map.next_value::<Value>()?;
            members.insert(name, value);
        }
        Ok(JsonBody::Object(members))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonBody::NotObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonBody::NotObject)
    }
}

/// The path the request was made to, without an API Gateway stage prefix.
pub(crate) fn path(req: &Request) -> &str {
    match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    }
}

/// The id to quote in logs and internal-error answers: API Gateway's request id, else the
/// Lambda request id, else a fresh random id (local runs).
pub(crate) fn request_id(req: &Request) -> String {
    let from_gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_gateway
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(tessera_token::random_id)
}

/// The client's user agent (header) and IP address (as API Gateway saw it).
pub(crate) fn client_meta(req: &Request) -> ClientMeta {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    ClientMeta {
        user_agent: req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        source_ip,
    }
}

/// Who is calling a protected route, as the authorizer in front of it established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user id (`sub` of the access token).
    pub sub: String,
    /// The session id (`sid`).
    pub sid: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: Option<String>,
    /// The access token's id (`jti`).
    pub jti: Option<String>,
    /// The client id (`client_id`).
    pub client_id: Option<String>,
}

impl Caller {
    /// Reads the caller from the authorizer context API Gateway attached to the request: a
    /// REST API Lambda authorizer (`requestContext.authorizer`), an HTTP API Lambda authorizer
    /// (`requestContext.authorizer.lambda`) or an HTTP API JWT authorizer
    /// (`requestContext.authorizer.jwt.claims`). `None` without a non-empty `sub`: protected
    /// routes fail closed.
    pub fn from_request(req: &Request) -> Option<Self> {
        let authorizer = req.request_context_ref()?.authorizer()?;
        let lambda = |key: &str| match authorizer.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let jwt = |key: &str| authorizer.jwt.as_ref()?.claims.get(key).cloned();
        let get = |key: &str| lambda(key).or_else(|| jwt(key));
        let sub = get("sub").filter(|s| !s.is_empty())?;
        Some(Self {
            sub,
            sid: get("sid"),
            scope: get("scope"),
            jti: get("jti"),
            client_id: get("client_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http_api_event(authorizer: Value) -> Request {
        let event = json!({
            "version": "2.0",
            "routeKey": "GET /me",
            "rawPath": "/me",
            "rawQueryString": "",
            "headers": {"user-agent": "curl/8"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "domainName": "api.example",
                "requestId": "v2-req",
                "stage": "$default",
                "http": {"method": "GET", "path": "/me", "protocol": "HTTP/1.1",
                         "sourceIp": "198.51.100.1", "userAgent": "curl/8"},
                "authorizer": authorizer,
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn caller_from_an_http_api_lambda_authorizer_context() {
        let req = http_api_event(
            json!({"lambda": {"sub": "u1", "sid": "s1", "scope": "a b", "jti": "j1"}}),
        );
        let caller = Caller::from_request(&req).unwrap();
        assert_eq!(caller.sub, "u1");
        assert_eq!(caller.sid.as_deref(), Some("s1"));
        assert_eq!(caller.scope.as_deref(), Some("a b"));
        assert_eq!(request_id(&req), "v2-req");
        let meta = client_meta(&req);
        assert_eq!(meta.source_ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(meta.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(path(&req), "/me");
    }

    #[test]
    fn caller_from_an_http_api_jwt_authorizer() {
        let req =
            http_api_event(json!({"jwt": {"claims": {"sub": "u2", "sid": "s2"}, "scopes": null}}));
        let caller = Caller::from_request(&req).unwrap();
        assert_eq!(
            (caller.sub.as_str(), caller.sid.as_deref()),
            ("u2", Some("s2"))
        );
    }

    fn json_body(text: &str) -> Option<JsonBody> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn a_json_body_naming_a_top_level_member_twice_is_a_repeat() {
        for text in [
            r#"{"refresh_token":"a","refresh_token":"b"}"#,
            r#"{"username":"a","password":"p","username":"a"}"#,
            r#"{"pass\u0077ord":"a","password":"b"}"#,
            r#"{"x":{"y":1},"x":null}"#,
        ] {
            assert!(
                matches!(json_body(text), Some(JsonBody::Repeated)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_json_body_is_otherwise_an_object_a_non_object_or_invalid() {
        match json_body(r#"{"a":"1","b":{"c":1,"c":2},"d":["e"]}"#) {
            // Only the top level is judged: a nested object keeps serde_json's reading.
            Some(JsonBody::Object(map)) => {
                assert_eq!(map["a"], "1");
                assert_eq!(map["b"], serde_json::json!({"c": 2}));
                assert_eq!(map["d"], serde_json::json!(["e"]));
            }
            _ => panic!("an object with distinct members"),
        }
        assert!(matches!(json_body("{}"), Some(JsonBody::Object(m)) if m.is_empty()));
        for text in [
            "[1,{\"a\":1,\"a\":2}]",
            "\"s\"",
            "1",
            "-1",
            "1.5",
            "true",
            "null",
        ] {
            assert!(
                matches!(json_body(text), Some(JsonBody::NotObject)),
                "{text}"
            );
        }
        // A repeat in a body that is not valid JSON anyway is reported as invalid JSON.
        for text in [
            "",
            "{",
            r#"{"a":1,"a":2"#,
            r#"{"a":1,"a":2,}"#,
            r#"{"a":1} x"#,
        ] {
            assert!(json_body(text).is_none(), "{text}");
        }
    }

    #[test]
    fn no_context_or_no_subject_is_no_caller() {
        assert_eq!(Caller::from_request(&http_api_event(json!(null))), None);
        assert_eq!(
            Caller::from_request(&http_api_event(json!({"lambda": {"sid": "s"}}))),
            None
        );
        let bare = Request::new(lambda_http::Body::Empty);
        assert_eq!(Caller::from_request(&bare), None);
        assert!(!request_id(&bare).is_empty());
    }
}
