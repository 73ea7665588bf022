//! Reading token claims before they are verified. Everything here is used only to decide
//! *how* to verify; no unverified claim is ever trusted or returned.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_token::MAX_TOKEN_BYTES;

/// The `iat` claim of a compact JWS, decoded without verification.
///
/// Logout uses it to verify an expired refresh token "as of" its issue time: the signature
/// must still hold, so the `iat` that counts is one we signed ourselves.
pub(crate) fn unverified_iat(token: &str) -> Option<i64> {
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
