//! `POST /auth/logout` (docs/API.md): revokes the session; idempotent and silent (RFC 7009 §2.2).

use crate::helpers::{Backend, TestUser, assert_oauth_error, assert_token_response, spawn_serve};

both_backends!(logout_answers_204_and_the_refresh_token_then_fails,);

/// Gives a logged-in user with two sessions; logs one out; expects 204 with no body, that
/// session's refresh token refused with `invalid_grant`, the other session untouched.
async fn logout_answers_204_and_the_refresh_token_then_fails(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let leaving = user.login(&server).await;
    let staying = user.login(&server).await;

    let reply = server.logout(&leaving.refresh).await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(reply.body.is_empty());
    assert_oauth_error(
        &server.refresh(&leaving.refresh).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        server.session_list(&user.username).await,
        vec![staying.sid()]
    );
    assert_token_response(&server.refresh(&staying.refresh).await);
}
