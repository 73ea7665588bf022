//! A measurement, not a product: `tessera-empty-read` (the empty function plus the checking
//! authorizer's one read per event) with the read made the other way issue #15 offered: a
//! DynamoDB `BatchGetItem` signed with SigV4 (`aws-sigv4`) and sent over hyper and rustls,
//! without the AWS SDK. The Lambda report puts it beside `tessera-empty-read`, so the two
//! designs' read is compared in init, time and CPU per call, memory and size.
//!
//! It is enough to measure, not to ship: credentials are read once from the environment (a
//! Lambda's role credentials, which the SDK would refresh), there is no retry, and the answer
//! is parsed as JSON without mapping the items to sessions and users. Trust: the Amazon roots
//! only, as the checking authorizer's client.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tessera_lambda::{StartError, init_tracing};

struct Reader {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    host: String,
    region: String,
    identity: Identity,
    table: String,
    keys: [String; 2],
}

impl Reader {
    async fn read(&self) -> Result<Value, Error> {
        let body = Bytes::from(
            json!({ "RequestItems": { &self.table: {
                "Keys": [{ "pk": { "S": &self.keys[0] } }, { "pk": { "S": &self.keys[1] } }],
                "ConsistentRead": true,
            }}})
            .to_string(),
        );
        let mut request = http::Request::post(&self.endpoint)
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.BatchGetItem")
            .body(Full::new(body.clone()))?;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or_default())),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let response = self.client.request(request).await?;
        let status = response.status();
        let answer: Value =
            serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
        if !status.is_success() {
            return Err(format!("DynamoDB answered {status}: {answer}").into());
        }
        let items = answer
            .pointer(&format!("/Responses/{}", self.table))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let found = |key: &str| {
            items
                .iter()
                .any(|i| i.pointer("/pk/S").and_then(Value::as_str) == Some(key))
        };
        Ok(json!({ "session": found(&self.keys[0]), "user": found(&self.keys[1]) }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StartError> {
    init_tracing();
    let var = |name: &str| {
        std::env::var(name).map_err(|_| StartError::from(format!("{name} is required")))
    };
    let region = var("AWS_REGION")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tessera_store::AMAZON_ROOTS_PEM) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let identity: Identity = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "environment",
    )
    .into();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .unwrap_or_else(|_| format!("https://dynamodb.{region}.amazonaws.com"));
    let host = endpoint
        .parse::<http::Uri>()?
        .authority()
        .map(|a| a.to_string())
        .ok_or_else(|| StartError::from("AWS_ENDPOINT_URL_DYNAMODB has no host"))?;
    let reader = Reader {
        client: Client::builder(TokioExecutor::new()).build(connector),
        endpoint,
        host,
        region,
        identity,
        table: var("TABLE_NAME")?,
        keys: [
            format!("SESSION#{}", var("READ_SID")?),
            format!("USER#{}", var("READ_USERNAME")?),
        ],
    };
    let handler = service_fn(|_event: LambdaEvent<Value>| {
        let reader = &reader;
        async move { reader.read().await }
    });
    Ok(lambda_runtime::run(handler).await?)
}
