//! The one adapter between API Gateway and the routers: what the request context says
//! becomes request extensions ([`Caller`], [`RequestId`], [`ClientIp`], [`PublicPrefix`]), so
//! the handlers run on plain `http` types and the same routers serve `tessera serve`.

use axum::Router;
use axum::extract::Request;
use axum::http;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde_json::Value;
use tessera_service::{Caller, ClientIp, Cors, PublicPrefix, RequestId};

use crate::StartError;

/// Serves `router` as this Lambda function: CORS from `CORS_ALLOW_ORIGIN` (read once, here)
/// for the request's `Origin`, the API Gateway context put into the extensions, then
/// lambda_http's runtime loop.
pub async fn run(router: Router) -> Result<(), StartError> {
    let cors = std::sync::Arc::new(Cors::from_env()?);
    let app = router
        .layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                let cors = std::sync::Arc::clone(&cors);
                async move {
                    let origin = request.headers().get(http::header::ORIGIN).cloned();
                    let response = next.run(request).await;
                    cors.apply(origin.as_ref(), response)
                }
            },
        ))
        .layer(axum::middleware::map_request(
            |request: Request| async move { with_context(request) },
        ));
    lambda_http::run(app).await?;
    Ok(())
}

/// Puts what API Gateway's request context says into the extensions the handlers read: the
/// caller from the authorizer context (a REST or HTTP API Lambda authorizer, or an HTTP API
/// JWT authorizer's claims), the request id (API Gateway's, else Lambda's), and the client's
/// address. Nothing is inserted for a caller without a `sub`: protected handlers then answer
/// 401. The routers route on the path without the stage (`/auth/login`, not
/// `/prod/auth/login`), whatever `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` says.
pub fn with_context<B>(mut request: http::Request<B>) -> http::Request<B> {
    let raw_path = request.raw_http_path();
    if !raw_path.is_empty() && raw_path != request.uri().path() {
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{raw_path}?{query}"),
            None => raw_path.to_owned(),
        };
        if let Ok(uri) = http::Uri::builder().path_and_query(path_and_query).build() {
            *request.uri_mut() = uri;
        }
    }
    let (caller, request_id, source_ip) = read_context(&request);
    let prefix =
        public_path(&request).map(|public| PublicPrefix::of(&public, request.uri().path()));
    let extensions = request.extensions_mut();
    if let Some(prefix) = prefix {
        extensions.insert(prefix);
    }
    if let Some(caller) = caller {
        extensions.insert(caller);
    }
    if let Some(id) = request_id {
        extensions.insert(RequestId(id));
    }
    if let Some(ip) = source_ip {
        extensions.insert(ClientIp(ip));
    }
    request
}

/// The path as the client called it: REST's `requestContext.path` (with the stage on the
/// default execute-api URL, with a custom domain's base path otherwise), HTTP API's
/// `requestContext.http.path`.
fn public_path<B>(request: &http::Request<B>) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.path.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.path.clone(),
        _ => None,
    }
}

fn read_context<B>(request: &http::Request<B>) -> (Option<Caller>, Option<String>, Option<String>) {
    let context = request.request_context_ref();
    let caller = context
        .and_then(RequestContext::authorizer)
        .and_then(|authorizer| {
            let lambda = |key: &str| match authorizer.fields.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let jwt = |key: &str| authorizer.jwt.as_ref()?.claims.get(key).cloned();
            Caller::from_context(|key| lambda(key).or_else(|| jwt(key)))
        });
    let (gateway_id, source_ip) = match context {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            (ctx.request_id.clone(), ctx.identity.source_ip.clone())
        }
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.request_id.clone(), ctx.http.source_ip.clone())
        }
        _ => (None, None),
    };
    let request_id = gateway_id
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty());
    (caller, request_id, source_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http_api_event(authorizer: Value) -> lambda_http::Request {
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
    fn an_http_api_lambda_authorizer_context_becomes_the_caller_id_and_address() {
        let req = with_context(http_api_event(
            json!({"lambda": {"sub": "u1", "sid": "s1", "scope": "a b", "jti": "j1"}}),
        ));
        let caller = req.extensions().get::<Caller>().unwrap();
        assert_eq!(caller.sub, "u1");
        assert_eq!(caller.sid.as_deref(), Some("s1"));
        assert_eq!(caller.scope.as_deref(), Some("a b"));
        assert_eq!(req.extensions().get::<RequestId>().unwrap().0, "v2-req");
        assert_eq!(
            req.extensions().get::<ClientIp>().unwrap().0,
            "198.51.100.1"
        );
    }

    #[test]
    fn an_http_api_jwt_authorizers_claims_become_the_caller() {
        let req = with_context(http_api_event(
            json!({"jwt": {"claims": {"sub": "u2", "sid": "s2"}, "scopes": null}}),
        ));
        let caller = req.extensions().get::<Caller>().unwrap();
        assert_eq!(
            (caller.sub.as_str(), caller.sid.as_deref()),
            ("u2", Some("s2"))
        );
    }

    #[test]
    fn no_context_or_no_subject_is_no_caller() {
        for authorizer in [json!(null), json!({"lambda": {"sid": "s"}})] {
            let req = with_context(http_api_event(authorizer));
            assert!(req.extensions().get::<Caller>().is_none());
        }
        let bare = with_context(http::Request::new(()));
        assert!(bare.extensions().get::<Caller>().is_none());
        assert!(bare.extensions().get::<RequestId>().is_none());
    }
}
