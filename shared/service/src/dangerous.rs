//! Reading token claims before they are verified. Everything here is used only to decide
//! *how* to verify; no unverified claim is ever trusted or returned.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_token::{MAX_TOKEN_BYTES, RefreshClaims, RefreshVerifier, VerifyError};

/// Verifies a refresh token's signature, `typ`, `iss` and claims but accepts it after its
/// `exp` (logout must still revoke the session of an expired token, RFC 7009).
///
/// The verifier checks expiry against the time it is given, so an expired token is verified
/// a second time "as of" its own `iat`, read from the unverified payload. That is safe: the
/// signature still has to verify, so the `iat` used is one we signed ourselves.
pub(crate) fn verify_refresh_ignoring_expiry(
    verifier: &RefreshVerifier,
    token: &str,
    now: i64,
) -> Option<RefreshClaims> {
    match verifier.verify(token, now) {
        Ok(claims) => Some(claims),
        Err(VerifyError::Expired) => {
            let iat = unverified_iat(token)?;
            verifier.verify(token, iat).ok()
        }
        Err(_) => None,
    }
}

/// The `iat` claim of a compact JWS, decoded without verification.
fn unverified_iat(token: &str) -> Option<i64> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iat")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_iat_reads_the_payload_and_refuses_garbage() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iat":1700000000,"exp":1}"#);
        assert_eq!(
            unverified_iat(&format!("e30.{payload}.sig")),
            Some(1_700_000_000)
        );
        assert_eq!(unverified_iat("not a token"), None);
        assert_eq!(unverified_iat("a.%%%.c"), None);
        let huge = format!("e30.{}.sig", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(unverified_iat(&huge), None);
    }
}
