//! The signing algorithms Tessera issues and verifies.

use std::fmt;
use std::str::FromStr;

/// A JWS signing algorithm for access tokens. Refresh tokens are always HS256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (`ES256`), derived from the root secret. The default:
    /// compact, and accepted by API Gateway and every mainstream JWT library.
    #[default]
    Es256,
    /// Ed25519 (`EdDSA`, RFC 8037), derived from the root secret.
    EdDsa,
    /// RSA PKCS#1 v1.5 with SHA-256 (`RS256`); the key is stored in the secret as PEM.
    /// What API Gateway's built-in HTTP API JWT authorizer needs.
    Rs256,
    /// HMAC-SHA-256 (`HS256`), derived from the root secret. Symmetric: nothing is
    /// published in the JWKS and only holders of the secret can verify.
    Hs256,
}

impl Algorithm {
    /// All algorithms, in a stable order.
    pub const ALL: [Self; 4] = [Self::Es256, Self::EdDsa, Self::Rs256, Self::Hs256];

    /// The JOSE name: `ES256`, `EdDSA`, `RS256` or `HS256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Hs256 => "HS256",
        }
    }

    /// Exact, case-sensitive match on the JOSE name, as a token header must be read.
    pub(crate) fn from_jose(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string named no algorithm Tessera supports.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm {0:?}, expected ES256, EdDSA, RS256 or HS256")]
pub struct ParseAlgorithmError(pub String);

impl FromStr for Algorithm {
    type Err = ParseAlgorithmError;

    /// Parses a configured algorithm name. ASCII case is ignored here (configuration is
    /// typed by people); token headers are matched exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseAlgorithmError(s.to_owned()))
    }
}
