//! Bearer credentials (RFC 6750 §2.1) from an `Authorization` value.

use tessera_token::MAX_TOKEN_BYTES;

/// Why a request carried no usable bearer token. Every one of them is a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The request has no `Authorization` header (TOKEN: no `authorizationToken`).
    #[error("no authorization header")]
    Missing,
    /// The request has more than one `Authorization` header, or the event's header maps
    /// disagree about its value.
    #[error("more than one authorization header")]
    Ambiguous,
    /// The header is present but blank, or names the scheme without a token.
    #[error("authorization header carries no token")]
    Empty,
    /// The scheme is not `Bearer`, or the value has no scheme at all.
    #[error("authorization scheme is not bearer")]
    WrongScheme,
    /// More than one token follows the scheme (space-separated, or a comma-separated list).
    #[error("bearer credentials are not exactly one token")]
    NotOneToken,
    /// The token has a character outside RFC 6750's b64token alphabet.
    #[error("bearer token is not a b64token")]
    Malformed,
    /// The token is longer than [`MAX_TOKEN_BYTES`], so it is refused before being parsed.
    #[error("bearer token is larger than the maximum size")]
    TooLarge,
}

/// The token from `Bearer <token>`.
///
/// The scheme is matched case-insensitively (RFC 7235 §2.1); one or more spaces separate it
/// from the token; optional whitespace around the whole value is ignored, as HTTP does.
/// Exactly one b64token must follow: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
/// *"="`. Anything else is refused, never repaired.
pub(crate) fn bearer_token(value: &str) -> Result<&str, CredentialError> {
    let value = value.trim_matches(is_ows);
    if value.is_empty() {
        return Err(CredentialError::Empty);
    }
    let (scheme, rest) = match value.split_once(' ') {
        Some(parts) => parts,
        None if value.eq_ignore_ascii_case("bearer") => return Err(CredentialError::Empty),
        None => return Err(CredentialError::WrongScheme),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(CredentialError::WrongScheme);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(CredentialError::Empty);
    }
    // Size first: nothing longer than a token can be is scanned any further.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(CredentialError::TooLarge);
    }
    check_b64token(token)?;
    Ok(token)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn check_b64token(token: &str) -> Result<(), CredentialError> {
    let bytes = token.as_bytes();
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    if body_len == 0 {
        return Err(CredentialError::Malformed);
    }
    for &b in bytes.iter().take(body_len) {
        if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')) {
            return Err(if matches!(b, b' ' | b'\t' | b',') {
                CredentialError::NotOneToken
            } else {
                CredentialError::Malformed
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_bearer_token_with_any_scheme_case() {
        assert_eq!(bearer_token("Bearer abc.def-_~+/=="), Ok("abc.def-_~+/=="));
        assert_eq!(bearer_token("bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(bearer_token("BEARER a.b.c"), Ok("a.b.c"));
        assert_eq!(bearer_token("  Bearer   a.b.c \t"), Ok("a.b.c"));
    }

    #[test]
    fn refuses_everything_else() {
        use CredentialError::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("Bearer", Empty),
            ("Bearer ", Empty),
            ("Bearer    ", Empty),
            ("a.b.c", WrongScheme),
            ("Basic dXNlcjpwYXNz", WrongScheme),
            ("Token a.b.c", WrongScheme),
            ("Bearer\ta.b.c", WrongScheme),
            ("DPoP a.b.c", WrongScheme),
            ("Bearer a.b.c d.e.f", NotOneToken),
            ("Bearer a.b.c, Bearer d.e.f", NotOneToken),
            ("Bearer a.b.c,d.e.f", NotOneToken),
            ("Bearer a.b.c\td.e.f", NotOneToken),
            ("Bearer a=b", Malformed),
            ("Bearer ===", Malformed),
            ("Bearer a.b.c;", Malformed),
            ("Bearer \"a.b.c\"", Malformed),
            ("Bearer a.b.\u{e9}", Malformed),
            ("Bearer a\u{0}b", Malformed),
        ];
        for (value, expected) in cases {
            assert_eq!(bearer_token(value), Err(expected), "{value:?}");
        }
    }

    #[test]
    fn refuses_oversized_tokens_before_looking_at_them() {
        let at_limit = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(bearer_token(&at_limit).is_ok());
        // Over the limit and full of characters that would be malformed: size wins.
        let over = format!("Bearer {}", "!".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer_token(&over), Err(CredentialError::TooLarge));
    }
}
