//! The claims Tessera puts in its tokens.

use serde::{Deserialize, Serialize};

/// Access token claims (RFC 9068 profile). All are required when verifying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: Tessera's configured issuer URL.
    pub iss: String,
    /// Subject: the user's stable id, never the username.
    pub sub: String,
    /// Audience: the configured API audience. A verified token whose `aud` was an array
    /// containing the audience comes back with this set to that audience.
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Not before, unix seconds.
    pub nbf: i64,
    /// Token id.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The refresh session this token belongs to.
    pub sid: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// Refresh token claims. All are required when verifying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// Issuer: Tessera's configured issuer URL.
    pub iss: String,
    /// Subject: the user's stable id.
    pub sub: String,
    /// The session this token belongs to.
    pub sid: String,
    /// Token id; the store keeps base64url(SHA-256(jti)) of the current one.
    pub jti: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expiry, unix seconds.
    pub exp: i64,
}
