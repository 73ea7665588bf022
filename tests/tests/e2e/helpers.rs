//! Helpers for the end-to-end tests: a whole deployment of real binaries over one
//! [`Stack`], calls that read answers the way API Gateway does, and a forger that signs
//! hostile tokens by hand from the stack's key file.

use aws_lc_rs::hkdf;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_e2e::emulator::Outcome;
use tessera_e2e::events::{self, AuthorizerEvent, Encoding, GatewayAuthorizer, ProxyResponse};
use tessera_e2e::process::LambdaProcess;
use tessera_e2e::stack::{Env, Stack, TestUser, access_claims, now};
use tessera_token::AccessClaims;

/// What a successful login or refresh handed the client.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl Tokens {
    pub fn from_response(response: &ProxyResponse) -> Tokens {
        assert_eq!(
            response.status, 200,
            "expected a token response: {response:?}"
        );
        let body = response.json().unwrap();
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

/// Every function of the template, started over one stack.
pub struct Deployment {
    pub stack: Stack,
    pub authorizer: LambdaProcess,
    pub login: LambdaProcess,
    pub refresh: LambdaProcess,
    pub logout: LambdaProcess,
    pub sessions: LambdaProcess,
    pub jwks: LambdaProcess,
    pub me: LambdaProcess,
}

impl Deployment {
    /// All functions with the default configuration.
    pub async fn start() -> Deployment {
        Self::over(Stack::start().await.unwrap()).await
    }

    /// All functions over `stack`.
    pub async fn over(stack: Stack) -> Deployment {
        let env = stack.env();
        Self::with_authorizer(stack, "tessera-authorizer", &env).await
    }

    /// All functions over `stack`, the authorizer being `binary` started with `env`.
    pub async fn with_authorizer(stack: Stack, binary: &str, env: &Env) -> Deployment {
        let (authorizer, login, refresh, logout, sessions, jwks, me) = tokio::join!(
            stack.spawn_with(binary, env),
            stack.spawn("tessera-login"),
            stack.spawn("tessera-refresh"),
            stack.spawn("tessera-logout"),
            stack.spawn("tessera-sessions"),
            stack.spawn("tessera-jwks"),
            stack.spawn("tessera-me"),
        );
        Deployment {
            authorizer: authorizer.unwrap(),
            login: login.unwrap(),
            refresh: refresh.unwrap(),
            logout: logout.unwrap(),
            sessions: sessions.unwrap(),
            jwks: jwks.unwrap(),
            me: me.unwrap(),
            stack,
        }
    }

    /// A new user in the table; returns it with its user id.
    pub async fn user(&self) -> (TestUser, String) {
        let user = TestUser::generate();
        let id = self.stack.add_user(&user).await.unwrap();
        (user, id)
    }

    /// `POST /auth/login` with the right password -> the token pair.
    pub async fn log_in(&self, user: &TestUser, encoding: Encoding) -> Tokens {
        let event = events::login(encoding, &user.username, &user.password).unwrap();
        Tokens::from_response(&call(&self.login, &event).await)
    }

    /// `POST /auth/refresh` -> the proxy answer.
    pub async fn try_refresh(&self, refresh_token: &str) -> ProxyResponse {
        call(
            &self.refresh,
            &events::refresh(Encoding::Json, refresh_token).unwrap(),
        )
        .await
    }

    /// `POST /auth/refresh` that must succeed -> the new pair.
    pub async fn refreshed(&self, refresh_token: &str) -> Tokens {
        Tokens::from_response(&self.try_refresh(refresh_token).await)
    }

    /// The REST TOKEN authorizer's Allow for `access`, as API Gateway passes it on.
    pub async fn authorize(&self, access: &str) -> GatewayAuthorizer {
        let event = AuthorizerEvent::RestToken.bearer(access).unwrap();
        let policy = self.authorizer.invoke(&event).await.unwrap().outcome;
        let policy = policy.json().unwrap();
        assert_eq!(
            effects(&policy),
            vec!["Allow"],
            "expected an Allow: {policy}"
        );
        GatewayAuthorizer::from_policy(&policy).unwrap()
    }

    /// Every process's log lines, with the process's name.
    pub fn logs(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("tessera-authorizer", self.authorizer.logs()),
            ("tessera-login", self.login.logs()),
            ("tessera-refresh", self.refresh.logs()),
            ("tessera-logout", self.logout.logs()),
            ("tessera-sessions", self.sessions.logs()),
            ("tessera-jwks", self.jwks.logs()),
            ("tessera-me", self.me.logs()),
        ]
    }
}

/// Invokes a proxy integration and reads its answer.
pub async fn call(function: &LambdaProcess, event: &Value) -> ProxyResponse {
    let invocation = function.invoke(event).await.unwrap();
    ProxyResponse::from_json(&invocation.outcome.json().unwrap()).unwrap()
}

/// The OAuth `error` code of an error answer.
pub fn oauth_error(response: &ProxyResponse) -> String {
    response.json().unwrap()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The `Effect`s of a policy's statements, in order.
pub fn effects(policy: &Value) -> Vec<&str> {
    policy["policyDocument"]["Statement"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["Effect"].as_str()).collect())
        .unwrap_or_default()
}

/// The resources a policy's `Deny` statements name.
pub fn denied_resources(policy: &Value) -> Vec<String> {
    let mut denied = Vec::new();
    for statement in policy["policyDocument"]["Statement"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if statement["Effect"] == "Deny" {
            match &statement["Resource"] {
                Value::String(s) => denied.push(s.clone()),
                Value::Array(a) => {
                    denied.extend(a.iter().filter_map(|r| r.as_str()).map(str::to_owned))
                }
                _ => {}
            }
        }
    }
    denied
}

/// Asserts the answer API Gateway turns into 401 (REST) or 403 (HTTP API): REST, the error
/// `Unauthorized`; HTTP API 2.0, `{"isAuthorized": false}`.
pub fn assert_unauthenticated(kind: AuthorizerEvent, outcome: &Outcome, case: &str) {
    if kind.is_rest() {
        assert_eq!(
            outcome.error_message().as_deref(),
            Some("Unauthorized"),
            "{case} ({kind:?}): expected the error Unauthorized, got {outcome:?}"
        );
    } else {
        let answer = outcome
            .json()
            .unwrap_or_else(|e| panic!("{case} ({kind:?}): {e}"));
        assert_eq!(
            answer["isAuthorized"],
            json!(false),
            "{case} ({kind:?}): expected isAuthorized false, got {answer}"
        );
        assert!(
            answer.get("context").is_none_or(Value::is_null),
            "{case} ({kind:?}): a denial carries no context: {answer}"
        );
    }
}

/// Asserts that the authorizer let the request through, and returns the context.
pub fn assert_allowed(kind: AuthorizerEvent, outcome: &Outcome, case: &str) -> Value {
    let answer = outcome
        .json()
        .unwrap_or_else(|e| panic!("{case} ({kind:?}): expected an allow: {e}"));
    if kind.is_rest() {
        assert_eq!(
            effects(&answer),
            vec!["Allow"],
            "{case} ({kind:?}): {answer}"
        );
    } else {
        assert_eq!(
            answer["isAuthorized"],
            json!(true),
            "{case} ({kind:?}): {answer}"
        );
    }
    answer["context"].clone()
}

/// Sends `authorization` (the whole header value; `None`: no header) to the authorizer in
/// every event shape, and asserts each is turned away as unauthenticated.
pub async fn assert_rejected_everywhere(
    authorizer: &LambdaProcess,
    authorization: Option<&str>,
    case: &str,
) {
    for kind in AuthorizerEvent::ALL {
        let event = kind.event(authorization).unwrap();
        let outcome = authorizer.invoke(&event).await.unwrap().outcome;
        assert_unauthenticated(kind, &outcome, case);
    }
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// `header.payload` of a compact JWS.
pub fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(payload).unwrap())
    )
}

/// Signs tokens with the stack's own ES256 access key, derived by hand from the key file's
/// root secret (HKDF-SHA256, label `tessera access ES256`, as the token crate documents),
/// so a test can put any header or payload under a genuine signature.
pub struct Forger {
    key: EcdsaKeyPair,
    kid: String,
}

impl Forger {
    /// The forger for `stack`'s current key. Checks that the derived public key is the one
    /// the key set publishes, so a rejection is never due to a wrong key.
    pub fn new(stack: &Stack) -> Forger {
        let root = stack.root_secret().unwrap();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root.expose_secret().as_bytes());
        let mut scalar = [0u8; 32];
        prk.expand(&[b"tessera access ES256"], hkdf::HKDF_SHA256)
            .unwrap()
            .fill(&mut scalar)
            .unwrap();
        // RFC 5915 ECPrivateKey { version 1, privateKey, [0] prime256v1 }.
        let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
        der.extend_from_slice(&scalar);
        der.extend_from_slice(&[
            0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ]);
        let key = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .expect("the derived scalar is a valid P-256 key (a 2^-32 chance otherwise)");
        let keys = stack.key_set().unwrap();
        let forger = Forger {
            key,
            kid: keys.current_kid().as_str().to_owned(),
        };
        assert_eq!(
            forger.public_key(),
            jwk_point(&serde_json::to_value(keys.jwks()).unwrap()["keys"][0]),
            "the hand-derived key is the stack's signing key"
        );
        forger
    }

    /// The public key as a SEC1 uncompressed point (`04 || x || y`).
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// The header of a genuine access token.
    pub fn header(&self) -> Value {
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": self.kid })
    }

    /// An ES256 signature by the stack's key over `header` and `payload`.
    pub fn sign(&self, header: &Value, payload: &Value) -> String {
        let input = signing_input(header, payload);
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

/// `04 || x || y` of an EC JWK.
pub fn jwk_point(jwk: &Value) -> Vec<u8> {
    let mut point = vec![4u8];
    point.extend(unb64(jwk["x"].as_str().unwrap()));
    point.extend(unb64(jwk["y"].as_str().unwrap()));
    point
}

/// Claims the stack's authorizer accepts, for a made-up user and session.
pub fn valid_claims(scope: &str) -> AccessClaims {
    access_claims("usr-e2e", "sid-e2e", scope, now())
}

/// The claims as a JSON payload.
pub fn payload(claims: &AccessClaims) -> Value {
    serde_json::to_value(claims).unwrap()
}

/// A stand-in for the AWS Parameters and Secrets Lambda Extension on loopback: answers
/// `GET /secretsmanager/get?secretId=..&versionStage=..` as the extension does, and records
/// every request.
pub struct FakeSecretsExtension {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<ExtensionRequest>>>,
    server: tokio::task::JoinHandle<()>,
}

/// One request the fake extension received.
#[derive(Clone, Debug)]
pub struct ExtensionRequest {
    pub secret_id: String,
    pub stage: String,
    pub token: Option<String>,
}

impl FakeSecretsExtension {
    /// Serves `current` as the secret's `AWSCURRENT` string (no `AWSPREVIOUS`); `None`
    /// answers every request with HTTP 500, like an extension that cannot reach AWS.
    pub async fn start(current: Option<String>) -> FakeSecretsExtension {
        use axum::extract::{Query, State};
        use axum::http::{HeaderMap, StatusCode};
        use std::collections::HashMap;

        type Shared = (
            Option<String>,
            std::sync::Arc<std::sync::Mutex<Vec<ExtensionRequest>>>,
        );
        async fn get(
            State((current, requests)): State<Shared>,
            Query(query): Query<HashMap<String, String>>,
            headers: HeaderMap,
        ) -> (StatusCode, String) {
            let request = ExtensionRequest {
                secret_id: query.get("secretId").cloned().unwrap_or_default(),
                stage: query.get("versionStage").cloned().unwrap_or_default(),
                token: headers
                    .get("x-aws-parameters-secrets-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let stage = request.stage.clone();
            requests.lock().unwrap().push(request);
            match (current, stage.as_str()) {
                (None, _) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
                (Some(secret), "AWSCURRENT") => (
                    StatusCode::OK,
                    json!({ "Name": "tessera/keys", "SecretString": secret,
                            "VersionStages": ["AWSCURRENT"] })
                    .to_string(),
                ),
                (Some(_), _) => (
                    StatusCode::BAD_REQUEST,
                    "ResourceNotFoundException: Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS".into(),
                ),
            }
        }

        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/secretsmanager/get", axum::routing::get(get))
            .with_state((current, requests.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSecretsExtension {
            port,
            requests,
            server,
        }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<ExtensionRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeSecretsExtension {
    fn drop(&mut self) {
        self.server.abort();
    }
}
