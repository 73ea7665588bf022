//! Fault injection for the DynamoDB client, as an SDK interceptor. DynamoDB Local never
//! throttles and never loses a reply, so these faults are made on the client side:
//!
//! - `Fault::lose_reply`: the request reaches DynamoDB and commits; its reply is then replaced
//!   by a 500, so the SDK retries the very same request.
//! - `Fault::respond`: the request is turned into a harmless `ListTables` before signing, so
//!   nothing commits, and its reply is replaced by the given error (a throttle, a 5xx).
//! - `Fault::refuse`: the request is sent to a closed local port: a connection failure.
//! - `Fault::stall`: the request is sent to a local port that accepts connections (the kernel
//!   completes the handshake) but never answers: a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Clone, Debug)]
enum Kind {
    LoseReply,
    Respond {
        status: u16,
        code: &'static str,
    },
    Refuse {
        port: u16,
    },
    Stall {
        port: u16,
        _listener: Arc<std::net::TcpListener>,
    },
}

/// Marks the current attempt as one whose reply must be replaced.
#[derive(Clone, Debug)]
struct ReplaceReply;

impl Storable for ReplaceReply {
    type Storer = StoreReplace<Self>;
}

/// Injects one kind of fault into the next `times` attempts of one operation.
#[derive(Clone, Debug)]
pub struct Fault {
    kind: Kind,
    operation: &'static str,
    remaining: Arc<AtomicUsize>,
    injected: Arc<AtomicUsize>,
}

impl Fault {
    fn new(kind: Kind, operation: &'static str, times: usize) -> Self {
        Self {
            kind,
            operation,
            remaining: Arc::new(AtomicUsize::new(times)),
            injected: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The next `times` attempts commit, and their replies are lost (a 500 instead).
    pub fn lose_reply(operation: &'static str, times: usize) -> Self {
        Self::new(Kind::LoseReply, operation, times)
    }

    /// Every attempt is answered with this error and never reaches the table.
    pub fn respond(operation: &'static str, status: u16, code: &'static str) -> Self {
        Self::new(Kind::Respond { status, code }, operation, usize::MAX)
    }

    /// Every attempt fails to connect.
    pub fn refuse(operation: &'static str) -> Self {
        Self::new(
            Kind::Refuse {
                port: closed_port(),
            },
            operation,
            usize::MAX,
        )
    }

    /// Every attempt waits for an answer that never comes.
    pub fn stall(operation: &'static str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("local address").port();
        Self::new(
            Kind::Stall {
                port,
                _listener: Arc::new(listener),
            },
            operation,
            usize::MAX,
        )
    }

    /// How many attempts were faulted so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// Whether this attempt belongs to the target operation and a fault is left to inject.
    fn take(&self, cfg: &ConfigBag) -> bool {
        let ours = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation);
        let left = ours
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if left {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        left
    }
}

/// A local port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("local address").port()
}

fn error_reply(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test"}}"#
    );
    let mut reply = HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body),
    );
    reply
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    reply
}

impl Intercept for Fault {
    fn name(&self) -> &'static str {
        "tessera-test-fault"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<ReplaceReply>();
        match &self.kind {
            Kind::LoseReply => {
                if self.take(cfg) {
                    cfg.interceptor_state().store_put(ReplaceReply);
                }
            }
            Kind::Respond { .. } => {
                if self.take(cfg) {
                    // Defuse the request: a read-only call that commits nothing.
                    let request = context.request_mut();
                    request
                        .headers_mut()
                        .insert("x-amz-target", "DynamoDB_20120810.ListTables");
                    request.headers_mut().insert("content-length", "2");
                    *request.body_mut() = SdkBody::from("{}");
                    cfg.interceptor_state().store_put(ReplaceReply);
                }
            }
            Kind::Refuse { port } | Kind::Stall { port, .. } => {
                if self.take(cfg) {
                    context
                        .request_mut()
                        .set_uri(format!("http://127.0.0.1:{port}/"))?;
                }
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<ReplaceReply>().is_none() {
            return Ok(());
        }
        cfg.interceptor_state().unset::<ReplaceReply>();
        *context.response_mut() = match &self.kind {
            Kind::Respond { status, code } => error_reply(*status, code),
            _ => error_reply(500, "InternalServerError"),
        };
        Ok(())
    }
}
