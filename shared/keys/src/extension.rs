//! The Secrets Manager secret through the AWS Parameters and Secrets Lambda Extension: a
//! layer that runs beside the function and answers plain HTTP on localhost, with the
//! function's own credentials and a cache. The function needs no AWS SDK and no TLS stack,
//! which keeps the authorizer small and its cold start short.
//!
//! The extension answers only during an invocation, never during init, so a function that
//! uses it loads its keys on the first event (see `KeyedAuthorizer::lazy` in the authorizer
//! crate).

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tessera_token::SecretValue;
use tracing::warn;

use crate::{KeysError, Versions};

/// The extension's default port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` changes it).
pub const DEFAULT_PORT: u16 = 2773;

/// How long one request to the extension may take (it fetches from Secrets Manager on a
/// cache miss).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest answer read: a secret value is a few KiB at most (an RSA key in PEM).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A client of the extension for one secret. Cheap to clone.
#[derive(Clone)]
pub struct SecretsExtension {
    endpoint: String,
    secret_id: String,
    token: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// The session token authenticates the function to the extension: never printed.
impl std::fmt::Debug for SecretsExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsExtension")
            .field("endpoint", &self.endpoint)
            .field("secret_id", &self.secret_id)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

impl SecretsExtension {
    /// A client for `secret_id` at `endpoint` (`http://127.0.0.1:2773`), authenticating
    /// with `token` (the function's `AWS_SESSION_TOKEN`).
    pub fn new(
        endpoint: impl Into<String>,
        secret_id: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            secret_id: secret_id.into(),
            token: token.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The client `KEY_SECRET_ARN` asks for, or `None` when it is unset.
    pub(crate) fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, KeysError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(secret_id) = get("KEY_SECRET_ARN") else {
            return Ok(None);
        };
        let token = get("AWS_SESSION_TOKEN").ok_or_else(|| {
            KeysError::SecretsManager(
                "KEY_SECRET_ARN is set but AWS_SESSION_TOKEN is not: the Parameters and \
                 Secrets extension authenticates with it"
                    .into(),
            )
        })?;
        let port = match get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
            Some(port) => port.trim().parse::<u16>().map_err(|_| {
                KeysError::SecretsManager(
                    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is not a port number".into(),
                )
            })?,
            None => DEFAULT_PORT,
        };
        Ok(Some(Self::new(
            format!("http://127.0.0.1:{port}"),
            secret_id,
            token,
        )))
    }

    /// Reads `AWSCURRENT` (mandatory) and, when the secret was ever rotated, `AWSPREVIOUS`.
    pub async fn fetch(&self) -> Result<Versions, KeysError> {
        let (current, previous) = tokio::join!(self.stage("AWSCURRENT"), self.stage("AWSPREVIOUS"));
        let current = match current? {
            Stage::Value(Some(current)) => current,
            Stage::Value(None) => {
                return Err(KeysError::SecretsManager(
                    "AWSCURRENT: the secret has no current version".into(),
                ));
            }
            Stage::Refused(status) => {
                return Err(KeysError::SecretsManager(format!(
                    "AWSCURRENT: the extension answered http {status}"
                )));
            }
        };
        // A secret never rotated has no AWSPREVIOUS, and the extension relays Secrets
        // Manager's error for it in words no document fixes: any refusal means "no previous
        // version". Only an unreachable or silent extension is an error, as for AWSCURRENT.
        let previous = match previous? {
            Stage::Value(previous) => previous,
            Stage::Refused(status) => {
                if !PREVIOUS_REFUSAL_WARNED.swap(true, Ordering::Relaxed) {
                    warn!(
                        status,
                        "AWSPREVIOUS could not be read: no previous key version (expected \
                         until the secret is first rotated)"
                    );
                }
                None
            }
        };
        Ok(Versions {
            current: SecretValue::new(current),
            previous: previous.into_iter().map(SecretValue::new).collect(),
        })
    }

    /// What the extension answered for one version stage.
    async fn stage(&self, stage: &'static str) -> Result<Stage, KeysError> {
        let fail = |what: String| KeysError::SecretsManager(format!("{stage}: {what}"));
        let uri = format!(
            "{}/secretsmanager/get?secretId={}&versionStage={stage}",
            self.endpoint,
            percent_encode(&self.secret_id)
        );
        let request = http::Request::get(uri)
            .header("X-Aws-Parameters-Secrets-Token", &self.token)
            .body(Empty::new())
            .map_err(|e| fail(format!("request: {e}")))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| fail("the extension did not answer in time".into()))?
            .map_err(|e| fail(format!("the extension is unreachable: {e}")))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| fail(format!("unreadable answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            // The body is Secrets Manager's error message; it is not echoed: the status says
            // enough, and the caller decides what a refusal means for this stage.
            return Ok(Stage::Refused(status.as_u16()));
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|_| fail("the answer is not a GetSecretValue document".into()))?;
        Ok(Stage::Value(answer.secret_string))
    }
}

/// The extension's answer for one version stage.
enum Stage {
    /// 2xx: the stage's secret string (`None` for a binary secret).
    Value(Option<String>),
    /// Any other status.
    Refused(u16),
}

/// Set once the missing AWSPREVIOUS has been reported: a fresh stack would otherwise warn
/// at every key reload until its first rotation.
static PREVIOUS_REFUSAL_WARNED: AtomicBool = AtomicBool::new(false);

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn arns_are_percent_encoded() {
        assert_eq!(
            super::percent_encode("arn:aws:secretsmanager:us-east-1:1:secret:tessera/k-AbC"),
            "arn%3Aaws%3Asecretsmanager%3Aus-east-1%3A1%3Asecret%3Atessera%2Fk-AbC"
        );
    }
}
