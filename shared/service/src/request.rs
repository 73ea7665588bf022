//! Reading a request's body: a form or a JSON object, bounded before it is parsed.

use std::collections::HashMap;
use std::fmt;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::ServiceError;

/// The largest request body accepted; larger ones are refused (413) before any parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The fields of a request body, from JSON or from a form.
#[derive(Debug)]
pub enum Fields {
    /// A JSON object, each member named once.
    Json(serde_json::Map<String, Value>),
    /// A form, each parameter given once.
    Form(HashMap<String, String>),
}

/// The body is read up to [`MAX_BODY_BYTES`] and refused (413) past it, before anything
/// parses it; then [`Fields::parse`].
impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ServiceError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = read_bounded(body).await?;
        Self::parse(&parts.headers, &body)
    }
}

/// The body's bytes, or 413 as soon as it passes [`MAX_BODY_BYTES`].
async fn read_bounded(body: Body) -> Result<axum::body::Bytes, ServiceError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ServiceError::PayloadTooLarge)
        }
        Err(_) => Err(ServiceError::InvalidRequest("the body could not be read")),
    }
}

/// A header given more than once where one value is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepeatedHeader;

/// The one value of a header that may be given at most once: `Ok(None)` when it is absent,
/// [`RepeatedHeader`] when its name comes twice, so that no reader has to guess which line
/// was meant.
pub fn single_header(
    headers: &HeaderMap,
    name: HeaderName,
) -> Result<Option<&HeaderValue>, RepeatedHeader> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (value, None) => Ok(value),
        (_, Some(_)) => Err(RepeatedHeader),
    }
}

impl Fields {
    /// Parses the body: `application/json` (an object, each member at most once) or
    /// `application/x-www-form-urlencoded` (each parameter at most once, RFC 6749 §3.2), with
    /// any parameters such as a charset.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, ServiceError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ServiceError::PayloadTooLarge);
        }
        // Two Content-Type lines would make the parser a guess, as a repeated parameter would.
        let content_type = single_header(headers, CONTENT_TYPE).map_err(|RepeatedHeader| {
            ServiceError::InvalidRequest("the content type is given more than once")
        })?;
        let media_type = content_type
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
    pub fn get(&self, name: &str) -> Result<Option<&str>, ServiceError> {
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
    pub fn required(&self, name: &str, missing: &'static str) -> Result<&str, ServiceError> {
        match self.get(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ServiceError::InvalidRequest(missing)),
        }
    }

    /// When a `grant_type` is given, it must be the one this endpoint serves (RFC 6749 §5.2).
    pub fn check_grant_type(&self, expected: &str) -> Result<(), ServiceError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
