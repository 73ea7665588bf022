//! What API Gateway does in front of the functions, done locally: match the route, run the
//! REST API TOKEN authorizer for protected routes and act on its answer as API Gateway would
//! (401, 403, or the integration with the authorizer context), and hand the integration the
//! very REST proxy event API Gateway would send.
//!
//! The route table mirrors template.yaml. Everything here is pure (no I/O) so the gateway's
//! rules are tested without a socket.

use std::collections::HashMap;

use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use lambda_http::request::LambdaRequest;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The REST API stage `tessera serve` pretends to be; it appears in ARNs only (the path the
/// integration sees carries no stage, as with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`).
pub const STAGE: &str = "local";
const REGION: &str = "local";
const ACCOUNT: &str = "000000000000";
const API_ID: &str = "tessera";

/// How a request reaches its integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The API Gateway resource template (`/auth/sessions/{sid}`).
    pub resource: &'static str,
    /// Whether the authorizer runs first.
    pub protected: bool,
    /// Where the request goes after the gateway.
    pub target: Target,
    /// Path parameters the resource template captures.
    pub path_parameters: Vec<(&'static str, String)>,
}

/// Where a request goes after the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Tessera's own handlers.
    Tessera,
    /// The user's API (`--upstream`).
    Upstream,
}

/// Finds the route for a request, as the REST API in template.yaml would. `None`: no such
/// route (Tessera's handlers answer it, with 404 or 405).
pub fn route(method: &str, path: &str, upstream: bool) -> Option<Route> {
    let tessera = |resource, protected| {
        Some(Route {
            resource,
            protected,
            target: Target::Tessera,
            path_parameters: Vec::new(),
        })
    };
    match (method, path) {
        ("POST", "/auth/login") => tessera("/auth/login", false),
        ("POST", "/auth/refresh") => tessera("/auth/refresh", false),
        ("POST", "/auth/logout") => tessera("/auth/logout", false),
        ("GET", "/.well-known/jwks.json") => tessera("/.well-known/jwks.json", false),
        ("GET", "/.well-known/openid-configuration") => {
            tessera("/.well-known/openid-configuration", false)
        }
        ("GET", "/me") => tessera("/me", true),
        ("GET" | "DELETE", "/auth/sessions") => tessera("/auth/sessions", true),
        ("DELETE", p) if sid_of(p).is_some() => Some(Route {
            resource: "/auth/sessions/{sid}",
            protected: true,
            target: Target::Tessera,
            path_parameters: vec![("sid", sid_of(p).unwrap_or_default().to_owned())],
        }),
        _ if upstream && !is_tessera_path(path) => Some(Route {
            resource: "/{proxy+}",
            protected: true,
            target: Target::Upstream,
            path_parameters: vec![("proxy", path.trim_start_matches('/').to_owned())],
        }),
        _ => None,
    }
}

fn sid_of(path: &str) -> Option<&str> {
    path.strip_prefix("/auth/sessions/")
        .filter(|sid| !sid.is_empty() && !sid.contains('/'))
}

/// Paths Tessera answers itself; never proxied upstream, whatever the method.
fn is_tessera_path(path: &str) -> bool {
    path == "/me" || path.starts_with("/auth/") || path.starts_with("/.well-known/")
}

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

/// What API Gateway does with an authorizer's IAM policy.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyDecision {
    /// Allowed: the integration runs with this principal and context.
    Allow {
        /// The policy's `principalId`.
        principal_id: String,
        /// The policy's `context`, passed on as `requestContext.authorizer`.
        context: Map<String, Value>,
    },
    /// Denied (explicitly, or no statement allows the method): 403.
    Deny,
    /// The authorizer's answer is not a usable policy: API Gateway answers 500 (it
    /// reports an authorizer configuration error, not a client error).
    Invalid,
}

/// Evaluates an authorizer's policy against the invoked method as API Gateway does: an
/// explicit Deny matching the ARN wins, then an Allow matching it, else deny.
pub fn evaluate_policy(policy: &Value, method_arn: &str) -> PolicyDecision {
    let Some(principal_id) = policy.get("principalId").and_then(Value::as_str) else {
        return PolicyDecision::Invalid;
    };
    let statements = match policy.pointer("/policyDocument/Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return PolicyDecision::Invalid,
    };
    let mut allowed = false;
    for statement in statements {
        let covers_invoke = strings(statement.get("Action"))
            .iter()
            .any(|a| glob(a, "execute-api:Invoke"));
        let covers_arn = strings(statement.get("Resource"))
            .iter()
            .any(|r| glob(r, method_arn));
        if !(covers_invoke && covers_arn) {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return PolicyDecision::Deny,
            Some("Allow") => allowed = true,
            _ => return PolicyDecision::Invalid,
        }
    }
    if !allowed {
        return PolicyDecision::Deny;
    }
    let context = policy
        .get("context")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    PolicyDecision::Allow {
        principal_id: principal_id.to_owned(),
        context,
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM resource matching: `*` matches any run of characters (slashes included), `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    pi = bp + 1;
                    ti = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Everything about an incoming request the proxy event needs.
pub struct Incoming<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// The path, without query.
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// Header (name, value) pairs in arrival order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body bytes.
    pub body: &'a [u8],
    /// The client's address.
    pub source_ip: &'a str,
    /// This request's id, as API Gateway's `requestContext.requestId`.
    pub request_id: &'a str,
}

/// The REST API proxy event API Gateway would send the integration, with the authorizer's
/// principal and context attached when the route is protected. The reference shape:
/// [`proxy_request`] builds the same event as a typed struct, and a test holds them equal.
#[cfg(test)]
pub fn proxy_event(
    req: &Incoming<'_>,
    route: &Route,
    authorizer: Option<&PolicyDecision>,
) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &req.headers {
        headers.insert((*name).to_owned(), json!(value));
        match multi_headers.get_mut(*name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi_headers.insert((*name).to_owned(), json!([value]));
            }
        }
    }
    let (query, multi_query) = query_maps(req.query);
    let path_parameters = if route.path_parameters.is_empty() {
        Value::Null
    } else {
        Value::Object(
            route
                .path_parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect(),
        )
    };
    let (body, is_base64) = match std::str::from_utf8(req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(text) => (json!(text), false),
        Err(_) => {
            use base64::Engine as _;
            (
                json!(base64::engine::general_purpose::STANDARD.encode(req.body)),
                true,
            )
        }
    };
    let user_agent = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| *v);
    let mut context = json!({
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "httpMethod": req.method,
        "identity": { "sourceIp": req.source_ip, "userAgent": user_agent },
        "path": req.path,
        "protocol": "HTTP/1.1",
        "requestId": req.request_id,
        "resourceId": "local",
        "resourcePath": route.resource,
    });
    if let Some(PolicyDecision::Allow {
        principal_id,
        context: fields,
    }) = authorizer
    {
        let mut authorizer = fields.clone();
        authorizer.insert("principalId".into(), json!(principal_id));
        authorizer.insert("integrationLatency".into(), json!(0));
        context["authorizer"] = Value::Object(authorizer);
    }
    json!({
        "resource": route.resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// The request the integration receives: the REST proxy event of [`proxy_event`], built as
/// lambda_http's typed event and converted by lambda_http's own conversion (the one
/// `lambda_http::request::from_str` applies after parsing), without the JSON round trip.
pub fn proxy_request(
    req: &Incoming<'_>,
    route: &Route,
    authorizer: Option<&PolicyDecision>,
) -> Result<lambda_http::Request, ProxyError> {
    let event = proxy_event_typed(req, route, authorizer)?;
    Ok(LambdaRequest::ApiGatewayV1(event).into())
}

/// Why a request cannot become a proxy event.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The method is not a valid HTTP method token.
    #[error("invalid method")]
    Method,
    /// A header name or value does not survive as an event header.
    #[error("invalid header")]
    Header,
}

/// [`proxy_event`] as the typed struct lambda_http deserialises it into.
fn proxy_event_typed(
    req: &Incoming<'_>,
    route: &Route,
    authorizer: Option<&PolicyDecision>,
) -> Result<ApiGatewayProxyRequest, ProxyError> {
    let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| ProxyError::Method)?;
    // `headers` keeps the last value of each name (a JSON object), `multiValueHeaders` all.
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut multi_headers = HeaderMap::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ProxyError::Header)?;
        let value = HeaderValue::from_str(value).map_err(|_| ProxyError::Header)?;
        multi_headers.append(name.clone(), value.clone());
        headers.insert(name, value);
    }
    let (query, multi_query) = query_maps_typed(req.query);
    let (body, is_base64) = match std::str::from_utf8(req.body) {
        _ if req.body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => {
            use base64::Engine as _;
            (
                Some(base64::engine::general_purpose::STANDARD.encode(req.body)),
                true,
            )
        }
    };
    let user_agent = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| (*v).to_owned());

    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(route.resource.to_owned());
    event.path = Some(req.path.to_owned());
    event.http_method = method.clone();
    event.headers = headers;
    event.multi_value_headers = multi_headers;
    event.query_string_parameters = query;
    event.multi_value_query_string_parameters = multi_query;
    event.path_parameters = route
        .path_parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    event.body = body;
    event.is_base64_encoded = is_base64;

    let context = &mut event.request_context;
    context.account_id = Some(ACCOUNT.to_owned());
    context.apiid = Some(API_ID.to_owned());
    context.http_method = method;
    context.identity.source_ip = Some(req.source_ip.to_owned());
    context.identity.user_agent = user_agent;
    context.path = Some(req.path.to_owned());
    context.protocol = Some("HTTP/1.1".to_owned());
    context.request_id = Some(req.request_id.to_owned());
    context.resource_id = Some("local".to_owned());
    context.resource_path = Some(route.resource.to_owned());
    if let Some(PolicyDecision::Allow {
        principal_id,
        context: fields,
    }) = authorizer
    {
        let mut authorizer: HashMap<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        authorizer.insert("principalId".into(), json!(principal_id));
        authorizer.insert("integrationLatency".into(), json!(0));
        context.authorizer.fields = authorizer;
    }
    Ok(event)
}

/// [`query_maps`] as lambda_http's query maps: the last value of each key, and all values.
fn query_maps_typed(query: Option<&str>) -> (QueryMap, QueryMap) {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return (QueryMap::default(), QueryMap::default());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut single: HashMap<String, String> = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        single.insert(k.clone(), v.clone());
        multi.entry(k).or_default().push(v);
    }
    (QueryMap::from(single), QueryMap::from(multi))
}

#[cfg(test)]
fn query_maps(query: Option<&str>) -> (Value, Value) {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return (Value::Null, Value::Null);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in pairs {
        single.insert(k.clone(), json!(v));
        match multi.get_mut(&k) {
            Some(Value::Array(values)) => values.push(json!(v)),
            _ => {
                multi.insert(k, json!([v]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_protected_routes_match_the_template() {
        assert!(!route("POST", "/auth/login", false).unwrap().protected);
        assert!(
            !route("GET", "/.well-known/jwks.json", false)
                .unwrap()
                .protected
        );
        assert!(route("GET", "/me", false).unwrap().protected);
        assert!(route("DELETE", "/auth/sessions", false).unwrap().protected);
        let one = route("DELETE", "/auth/sessions/abc", false).unwrap();
        assert_eq!(one.resource, "/auth/sessions/{sid}");
        assert_eq!(one.path_parameters, vec![("sid", "abc".to_owned())]);
        assert_eq!(route("GET", "/nowhere", false), None);
        assert_eq!(route("POST", "/me", false), None);
    }

    #[test]
    fn with_an_upstream_every_other_path_is_protected_and_proxied() {
        let r = route("POST", "/orders/7", true).unwrap();
        assert!(r.protected);
        assert_eq!(r.target, Target::Upstream);
        // Tessera's own paths are never proxied.
        assert_eq!(route("POST", "/me", true), None);
        assert_eq!(route("GET", "/auth/unknown", true), None);
    }

    #[test]
    fn a_deny_statement_wins_over_a_wildcard_allow() {
        let arn = method_arn("GET", "/admin/users");
        let policy = json!({
            "principalId": "u",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow",
                 "Resource": format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/*/*")},
                {"Action": "execute-api:Invoke", "Effect": "Deny",
                 "Resource": [format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/GET/admin/*")]}
            ]},
        });
        assert_eq!(evaluate_policy(&policy, &arn), PolicyDecision::Deny);
        assert!(matches!(
            evaluate_policy(&policy, &method_arn("GET", "/me")),
            PolicyDecision::Allow { .. }
        ));
    }

    #[test]
    fn a_policy_that_allows_nothing_here_denies() {
        let policy = json!({
            "principalId": "u",
            "policyDocument": {"Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:x:1:other/*"}
            ]},
        });
        assert_eq!(
            evaluate_policy(&policy, &method_arn("GET", "/me")),
            PolicyDecision::Deny
        );
        assert_eq!(evaluate_policy(&json!({}), "x"), PolicyDecision::Invalid);
    }

    #[test]
    fn iam_wildcards_span_slashes() {
        assert!(glob("a/*/c", "a/b/x/c"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a/*/c", "a/b/d"));
    }

    #[test]
    fn the_proxy_event_is_one_lambda_http_understands() {
        let incoming = Incoming {
            method: "DELETE",
            path: "/auth/sessions/abc",
            query: Some("x=1&x=2"),
            headers: vec![("user-agent", "t/1"), ("authorization", "Bearer t")],
            body: b"",
            source_ip: "127.0.0.1",
            request_id: "r-1",
        };
        let route = route("DELETE", "/auth/sessions/abc", false).unwrap();
        let allow = PolicyDecision::Allow {
            principal_id: "usr".into(),
            context: json!({"sub": "usr", "sid": "s"})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let event = proxy_event(&incoming, &route, Some(&allow));
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(req.uri().path(), "/auth/sessions/abc");
        assert_eq!(req.method(), "DELETE");
        assert_eq!(event["requestContext"]["authorizer"]["sub"], "usr");
        assert_eq!(event["requestContext"]["authorizer"]["principalId"], "usr");
        assert_eq!(
            event["multiValueQueryStringParameters"]["x"],
            json!(["1", "2"])
        );
        assert_eq!(event["pathParameters"]["sid"], "abc");
    }

    /// The typed event must be exactly what lambda_http makes of the JSON event, for every
    /// shape the gateway produces: protected or not, query or not, repeated headers and
    /// query keys, text, binary and empty bodies.
    #[test]
    fn the_typed_proxy_event_equals_the_parsed_json_event() {
        let allow = PolicyDecision::Allow {
            principal_id: "usr".into(),
            context:
                json!({"sub": "usr", "sid": "s", "scope": "a b", "jti": "j", "client_id": "c"})
                    .as_object()
                    .cloned()
                    .unwrap(),
        };
        let binary = [0xffu8, 0x00, 0x80];
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a [u8],
            Option<&'a PolicyDecision>,
        );
        let cases: [Case<'_>; 6] = [
            ("GET", "/me", None, b"", Some(&allow)),
            ("POST", "/auth/login", None, br#"{"username":"a"}"#, None),
            ("POST", "/auth/refresh", Some(""), b"grant_type=x", None),
            (
                "DELETE",
                "/auth/sessions/abc",
                Some("x=1&x=2&y=%20z&"),
                b"",
                Some(&allow),
            ),
            ("POST", "/auth/logout", Some("&"), &binary, None),
            ("GET", "/nowhere", Some("a"), b"", None),
        ];
        for (method, path, query, body, decision) in cases {
            let incoming = Incoming {
                method,
                path,
                query,
                headers: vec![
                    ("user-agent", "t/1"),
                    ("authorization", "Bearer t"),
                    ("accept", "a/b"),
                    ("accept", "c/d"),
                    ("x-forwarded-for", "10.0.0.1"),
                ],
                body,
                source_ip: "127.0.0.1",
                request_id: "r-1",
            };
            let route = route(method, path, false).unwrap_or(Route {
                resource: "/{proxy+}",
                protected: false,
                target: Target::Tessera,
                path_parameters: Vec::new(),
            });
            let parsed: ApiGatewayProxyRequest =
                serde_json::from_value(proxy_event(&incoming, &route, decision)).unwrap();
            let typed = proxy_event_typed(&incoming, &route, decision).unwrap();
            assert_eq!(typed, parsed, "{method} {path} {query:?}");

            let via_json = lambda_http::request::from_str(
                &proxy_event(&incoming, &route, decision).to_string(),
            )
            .unwrap();
            let direct = proxy_request(&incoming, &route, decision).unwrap();
            assert_eq!(direct.method(), via_json.method());
            // lambda_http writes the query from a HashMap: its order varies from one parse of
            // the same JSON to the next, so compare the pairs, not the order.
            let pairs = |r: &lambda_http::Request| {
                let mut pairs: Vec<String> = r
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .map(str::to_owned)
                    .collect();
                pairs.sort();
                (r.uri().path().to_owned(), pairs)
            };
            assert_eq!(pairs(&direct), pairs(&via_json));
            assert_eq!(direct.headers(), via_json.headers());
            assert_eq!(direct.body(), via_json.body());
            use lambda_http::RequestExt as _;
            assert_eq!(
                direct.query_string_parameters(),
                via_json.query_string_parameters()
            );
            assert_eq!(direct.path_parameters(), via_json.path_parameters());
            let context = |r: &lambda_http::Request| match r.request_context() {
                lambda_http::request::RequestContext::ApiGatewayV1(c) => c,
                _ => panic!("not a REST API request context"),
            };
            assert_eq!(context(&direct), context(&via_json));
        }
    }

    #[test]
    fn the_token_event_bytes_are_the_token_event() {
        let authorization = "Bearer a.b.c \"quoted\" \\ é";
        let bytes = token_event_bytes(authorization, "GET", "/me");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, token_event(authorization, "GET", "/me"));
    }
}
