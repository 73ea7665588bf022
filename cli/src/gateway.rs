//! What API Gateway does in front of the functions, done locally: match the route, run the
//! REST API TOKEN authorizer for protected routes and act on its answer as API Gateway would
//! (401, 403, or the integration with the authorizer context), and hand the integration the
//! very REST proxy event API Gateway would send.
//!
//! The route table mirrors template.yaml. Everything here is pure (no I/O) so the gateway's
//! rules are tested without a socket.

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

/// The REST API TOKEN authorizer event for a request carrying `authorization`.
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
/// principal and context attached when the route is protected.
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
}
