//! The three authorizer events API Gateway sends, parsed into small borrowed structs.
//!
//! Only the fields a decision needs are read; everything else (identity, certificates,
//! query strings, stage variables) is skipped without being stored.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::bearer::CredentialError;
use crate::borrowed::Str;

/// Which kind of authorizer event API Gateway sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// REST API TOKEN authorizer: `{"type":"TOKEN","authorizationToken","methodArn"}`.
    RestToken,
    /// REST API REQUEST authorizer: `{"type":"REQUEST","methodArn","headers",..}`. An HTTP
    /// API event with payload format 1.0 has the same shape and is answered the same way
    /// (IAM policies); there, though, the `Unauthorized` error is not a 401.
    RestRequest,
    /// HTTP API with payload format 2.0 and simple responses: `{"version":"2.0",..}`.
    HttpV2,
}

impl EventKind {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RestToken => "rest-token",
            EventKind::RestRequest => "rest-request",
            EventKind::HttpV2 => "http-v2",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The union of the fields of the three event kinds; the kind is told apart afterwards.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEvent<'a> {
    #[serde(borrow, default)]
    version: Option<Str<'a>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    authorization_token: Option<Str<'a>>,
    #[serde(borrow, default)]
    method_arn: Option<Str<'a>>,
    #[serde(borrow, default)]
    http_method: Option<Str<'a>>,
    #[serde(borrow, default)]
    path: Option<Str<'a>>,
    #[serde(borrow, default)]
    headers: Option<AuthHeaders<'a>>,
    #[serde(borrow, default)]
    multi_value_headers: Option<MultiAuthHeaders<'a>>,
    #[serde(borrow, default)]
    request_context: Option<RequestContext<'a>>,
}

#[derive(Deserialize)]
struct RequestContext<'a> {
    #[serde(borrow, default)]
    http: Option<HttpContext<'a>>,
    #[serde(borrow, default)]
    stage: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct HttpContext<'a> {
    #[serde(borrow, default)]
    method: Option<Str<'a>>,
    #[serde(borrow, default)]
    path: Option<Str<'a>>,
}

/// The `Authorization` values found in a header map, matched case-insensitively.
///
/// Keeps the first value and counts them all, so that two headers differing only in case
/// (or a repeated header) are seen as ambiguous instead of one silently winning.
#[derive(Default, Debug, PartialEq, Eq)]
pub(crate) struct AuthValues<'a> {
    pub(crate) first: Option<Str<'a>>,
    pub(crate) count: usize,
}

impl<'a> AuthValues<'a> {
    fn push(&mut self, value: Option<Str<'a>>) {
        self.count = self.count.saturating_add(1);
        if self.first.is_none() {
            // A null value counts as an empty header: present, but carrying no credentials.
            self.first = Some(value.unwrap_or(Str("".into())));
        }
    }
}

/// `headers`: name -> value. Only `Authorization` is kept.
#[derive(Default)]
pub(crate) struct AuthHeaders<'a>(pub(crate) AuthValues<'a>);

/// `multiValueHeaders`: name -> [values]. Only `Authorization` is kept.
#[derive(Default)]
pub(crate) struct MultiAuthHeaders<'a>(pub(crate) AuthValues<'a>);

fn is_authorization(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization")
}

impl<'de: 'a, 'a> Deserialize<'de> for AuthHeaders<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AuthHeaders<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found = AuthValues::default();
                while let Some(name) = map.next_key::<Str<'de>>()? {
                    if is_authorization(name.as_str()) {
                        found.push(map.next_value::<Option<Str<'de>>>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(AuthHeaders(found))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MultiAuthHeaders<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MultiAuthHeaders<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to lists of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found = AuthValues::default();
                while let Some(name) = map.next_key::<Str<'de>>()? {
                    if is_authorization(name.as_str()) {
                        // Only this one list is materialised; it holds one value in
                        // every well-formed request.
                        match map.next_value::<Option<Vec<Option<Str<'de>>>>>()? {
                            Some(values) => values.into_iter().for_each(|v| found.push(v)),
                            None => found.push(None),
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(MultiAuthHeaders(found))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// An event whose kind is known, reduced to what a decision needs.
pub(crate) struct Event<'a> {
    pub(crate) kind: EventKind,
    /// The raw `Authorization` value (TOKEN: `authorizationToken`), or why there is none.
    pub(crate) credentials: Result<Str<'a>, CredentialError>,
    /// REST only: the ARN of the method being called, which the IAM policy is built on.
    pub(crate) method_arn: Option<Str<'a>>,
    /// The request's method and path as the event states them (REST REQUEST: `httpMethod`
    /// and `path`; HTTP v2: `requestContext.http`). Absent in TOKEN events.
    pub(crate) method: Option<Str<'a>>,
    pub(crate) path: Option<Str<'a>>,
    /// HTTP v2: the stage, which API Gateway leaves in `requestContext.http.path`.
    pub(crate) stage: Option<Str<'a>>,
}

/// Why an event could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnknownKind;

impl<'a> RawEvent<'a> {
    /// Tells the kind apart from the event itself. Anything that is not exactly one of the
    /// three shapes is unknown, and an unknown event is denied.
    pub(crate) fn classify(self) -> Result<Event<'a>, UnknownKind> {
        let version = self.version.as_ref().map(Str::as_str);
        let kind = self.kind.as_ref().map(Str::as_str);
        let (http, stage) = match self.request_context {
            Some(context) => (context.http, context.stage),
            None => (None, None),
        };
        let (http_method, http_path) = match http {
            Some(http) => (http.method, http.path),
            None => (None, None),
        };
        match (version, kind) {
            (Some("2.0"), Some("REQUEST")) => Ok(Event {
                kind: EventKind::HttpV2,
                credentials: single_header(self.headers.map(|h| h.0).unwrap_or_default(), None),
                method_arn: None,
                method: http_method,
                path: http_path,
                stage,
            }),
            (None, Some("TOKEN")) => Ok(Event {
                kind: EventKind::RestToken,
                credentials: self.authorization_token.ok_or(CredentialError::Missing),
                method_arn: self.method_arn,
                method: None,
                path: None,
                stage: None,
            }),
            (None | Some("1.0"), Some("REQUEST")) => Ok(Event {
                kind: EventKind::RestRequest,
                credentials: single_header(
                    self.headers.map(|h| h.0).unwrap_or_default(),
                    self.multi_value_headers.map(|h| h.0),
                ),
                method_arn: self.method_arn,
                method: self.http_method,
                path: self.path,
                stage: None,
            }),
            _ => Err(UnknownKind),
        }
    }
}

/// The one `Authorization` value of a request, from `headers` and, for REST, also
/// `multiValueHeaders` (where API Gateway keeps every value of a repeated header, while
/// `headers` keeps only the last). More than one value, or the two maps disagreeing, is
/// ambiguous and denied.
fn single_header<'a>(
    headers: AuthValues<'a>,
    multi: Option<AuthValues<'a>>,
) -> Result<Str<'a>, CredentialError> {
    let multi = multi.unwrap_or_default();
    if headers.count > 1 || multi.count > 1 {
        return Err(CredentialError::Ambiguous);
    }
    match (headers.first, multi.first) {
        (Some(single), Some(listed)) if single != listed => Err(CredentialError::Ambiguous),
        (Some(value), _) | (None, Some(value)) => Ok(value),
        (None, None) => Err(CredentialError::Missing),
    }
}
