//! Keys, tokens and events for the authorizer tests.
//!
//! Tokens come from two places: the real key set (what Tessera issues) and a test ES256 key
//! whose public half is in the verifier's JWKS, so tests can sign tokens Tessera never would
//! (wrong `typ`, oversized) with a signature that does verify.

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_authorizer::{Authorizer, EventKind, ScopeRules};
use tessera_token::{
    AccessClaims, AccessVerifier, Algorithm, Jwk, KeySet, RefreshClaims, SecretValue, VerifyPolicy,
};

pub const REST_TOKEN_EVENT: &str = include_str!("../../../../events/authorizer-rest-token.json");
pub const REST_REQUEST_EVENT: &str =
    include_str!("../../../../events/authorizer-rest-request.json");
pub const HTTP_V2_EVENT: &str = include_str!("../../../../events/authorizer-http-v2.json");

/// The events' own request time (27 Nov 2026 03:20:28 UTC).
pub const NOW: i64 = 1_795_749_628;
pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
/// The value the sample events carry where a request's `Authorization` header goes.
pub const PLACEHOLDER: &str = "Bearer PLACEHOLDER";
/// The sample events' API and stage (REST).
pub const REST_API: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod";

pub const ALL_KINDS: [EventKind; 3] = [
    EventKind::RestToken,
    EventKind::RestRequest,
    EventKind::HttpV2,
];

/// Keys shared by every test: deriving them once keeps the suite fast.
pub struct Fixture {
    pub keys: KeySet,
    /// A test-only ES256 key, published in the verifier's JWKS under [`TEST_KID`].
    pub test_key: EcdsaKeyPair,
    pub verifier: AccessVerifier,
}

pub const TEST_KID: &str = "test-es256";

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let secret = SecretValue::new("tessera authorizer tests: a fixed root secret, 32+ bytes");
    let keys = KeySet::from_secrets(Algorithm::Es256, &secret, &[]).unwrap();
    let test_key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = test_key.public_key().as_ref();
    let mut jwks = keys.jwks();
    jwks.keys.push(Jwk {
        kty: "EC".into(),
        kid: TEST_KID.into(),
        alg: "ES256".into(),
        key_use: "sig".into(),
        crv: Some("P-256".into()),
        x: Some(b64(&point[1..33])),
        y: Some(b64(&point[33..65])),
        n: None,
        e: None,
    });
    let verifier = AccessVerifier::from_jwks(
        &serde_json::to_string(&jwks).unwrap(),
        VerifyPolicy::new(ISSUER, AUDIENCE),
    )
    .unwrap();
    Fixture {
        keys,
        test_key,
        verifier,
    }
});

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn authorizer() -> Authorizer {
    Authorizer::new(FIXTURE.verifier.clone(), ScopeRules::none())
}

pub fn authorizer_with_rules(rules: &str) -> Authorizer {
    Authorizer::new(FIXTURE.verifier.clone(), ScopeRules::parse(rules).unwrap())
}

/// Claims of a token valid at [`NOW`] for 15 minutes.
pub fn claims(scope: &str) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "usr_7Hq2mR9x".into(),
        aud: AUDIENCE.into(),
        exp: NOW + 840,
        iat: NOW - 60,
        nbf: NOW - 60,
        jti: "jti_Zk4pW1sQ".into(),
        client_id: "tessera".into(),
        sid: "sid_3nV8cL0e".into(),
        scope: scope.into(),
    }
}

/// The context every Allow carries for [`claims`].
pub fn expected_context(scope: &str) -> Value {
    json!({
        "sub": "usr_7Hq2mR9x",
        "sid": "sid_3nV8cL0e",
        "scope": scope,
        "jti": "jti_Zk4pW1sQ",
        "client_id": "tessera",
    })
}

/// An access token issued by Tessera's key set.
pub fn issue(claims: &AccessClaims) -> String {
    FIXTURE
        .keys
        .issue_access(claims)
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// A valid access token with scope `profile`.
pub fn valid_token() -> String {
    issue(&claims("profile"))
}

/// A refresh token issued by the same key set.
pub fn refresh_token() -> String {
    let refresh = RefreshClaims {
        iss: ISSUER.into(),
        sub: "usr_7Hq2mR9x".into(),
        sid: "sid_3nV8cL0e".into(),
        jti: "rjti_Qm2vX8yB".into(),
        iat: NOW - 60,
        exp: NOW + 2_592_000,
    };
    FIXTURE
        .keys
        .issue_refresh(&refresh)
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// `header.payload` of a compact JWS.
pub fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(payload).unwrap())
    )
}

/// A token signed with the test ES256 key, with any header and payload.
pub fn sign_with_test_key(header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let sig = FIXTURE
        .test_key
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

/// A token HMAC-SHA256-signed with `key`.
pub fn sign_hs256(key: &[u8], header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        input.as_bytes(),
    );
    format!("{input}.{}", b64(tag.as_ref()))
}

/// The key set's ES256 public key as SEC1 bytes (`04 || x || y`): what an attacker who
/// downloaded the JWKS would try as an HMAC secret.
pub fn public_key_bytes() -> Vec<u8> {
    let jwk = &FIXTURE.keys.jwks().keys[0];
    let decode = |s: &Option<String>| URL_SAFE_NO_PAD.decode(s.as_deref().unwrap()).unwrap();
    let mut point = vec![0x04];
    point.extend(decode(&jwk.x));
    point.extend(decode(&jwk.y));
    point
}

pub fn current_kid() -> String {
    FIXTURE.keys.current_kid().as_str().to_owned()
}

/// The sample event of this kind.
pub fn sample(kind: EventKind) -> Value {
    let text = match kind {
        EventKind::RestToken => REST_TOKEN_EVENT,
        EventKind::RestRequest => REST_REQUEST_EVENT,
        EventKind::HttpV2 => HTTP_V2_EVENT,
    };
    serde_json::from_str(text).unwrap()
}

/// The sample event with its `Authorization` value replaced, everywhere the event repeats
/// it (TOKEN: `authorizationToken`; REQUEST: `headers`, `multiValueHeaders`; v2: `headers`,
/// `identitySource`); `None` removes the header as if the client never sent it.
pub fn event(kind: EventKind, authorization: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&event_value(kind, authorization)).unwrap()
}

pub fn event_value(kind: EventKind, authorization: Option<&str>) -> Value {
    let mut event = sample(kind);
    match authorization {
        Some(value) => replace_placeholder(&mut event, value),
        None => {
            let object = event.as_object_mut().unwrap();
            object.remove("authorizationToken");
            object.remove("identitySource");
            for map in ["headers", "multiValueHeaders"] {
                if let Some(Value::Object(headers)) = object.get_mut(map) {
                    headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
                }
            }
        }
    }
    event
}

/// [`event`] with `Authorization: Bearer <token>`.
pub fn event_with_token(kind: EventKind, token: &str) -> Vec<u8> {
    event(kind, Some(&format!("Bearer {token}")))
}

fn replace_placeholder(value: &mut Value, with: &str) {
    match value {
        Value::String(s) if s == PLACEHOLDER => *s = with.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_placeholder(v, with)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_placeholder(v, with)),
        _ => {}
    }
}

/// The sample event moved to another route (`/admin/users` rather than `/me`), in every
/// field API Gateway would change.
pub fn event_for_route(kind: EventKind, token: &str, method: &str, path: &str) -> Vec<u8> {
    event_for_route_on_stage(kind, token, method, path, None)
}

/// [`event_for_route`]; for v2, `stage` names a stage other than `$default`, which API
/// Gateway then keeps at the front of the path.
pub fn event_for_route_on_stage(
    kind: EventKind,
    token: &str,
    method: &str,
    path: &str,
    stage: Option<&str>,
) -> Vec<u8> {
    let mut event = event_value(kind, Some(&format!("Bearer {token}")));
    let arn = format!("{REST_API}/{method}{path}");
    match kind {
        EventKind::RestToken => event["methodArn"] = json!(arn),
        EventKind::RestRequest => {
            event["methodArn"] = json!(arn);
            event["httpMethod"] = json!(method);
            event["path"] = json!(path);
            event["resource"] = json!(path);
            event["requestContext"]["httpMethod"] = json!(method);
            event["requestContext"]["path"] = json!(format!("/prod{path}"));
            event["requestContext"]["resourcePath"] = json!(path);
        }
        EventKind::HttpV2 => {
            let api = "arn:aws:execute-api:us-east-1:123456789012:fedcba4321";
            let (stage, raw_path) = match stage {
                Some(stage) => (stage.to_owned(), format!("/{stage}{path}")),
                None => ("$default".to_owned(), path.to_owned()),
            };
            event["routeArn"] = json!(format!("{api}/{stage}/{method}{path}"));
            event["routeKey"] = json!(format!("{method} {path}"));
            event["rawPath"] = json!(raw_path);
            event["requestContext"]["routeKey"] = json!(format!("{method} {path}"));
            event["requestContext"]["stage"] = json!(stage);
            event["requestContext"]["http"]["method"] = json!(method);
            event["requestContext"]["http"]["path"] = json!(raw_path);
        }
    }
    serde_json::to_vec(&event).unwrap()
}

/// A REST Allow policy for [`claims`] with scope `scope`, denying `denied` explicitly.
pub fn rest_policy(scope: &str, denied: &[&str]) -> Value {
    let mut statements = vec![json!({
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": format!("{REST_API}/*/*"),
    })];
    if !denied.is_empty() {
        let resources: Vec<String> = denied.iter().map(|r| format!("{REST_API}/{r}")).collect();
        statements.push(json!({
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": resources,
        }));
    }
    json!({
        "principalId": "usr_7Hq2mR9x",
        "policyDocument": { "Version": "2012-10-17", "Statement": statements },
        "context": expected_context(scope),
    })
}

/// What API Gateway does with a policy for a request to `method_arn`: an explicit Deny
/// wins, then an Allow, else the implicit deny. Resource patterns use IAM's `*` and `?`.
pub fn iam_allows(policy: &Value, method_arn: &str) -> bool {
    let statements = policy["policyDocument"]["Statement"].as_array().unwrap();
    let matching = |effect: &str| {
        statements
            .iter()
            .filter(|s| s["Effect"] == effect)
            .any(|s| {
                assert_eq!(s["Action"], "execute-api:Invoke");
                match &s["Resource"] {
                    Value::String(r) => glob(r.as_bytes(), method_arn.as_bytes()),
                    Value::Array(rs) => rs
                        .iter()
                        .any(|r| glob(r.as_str().unwrap().as_bytes(), method_arn.as_bytes())),
                    other => panic!("resource must be a string or a list, got {other}"),
                }
            })
    };
    !matching("Deny") && matching("Allow")
}

pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}
